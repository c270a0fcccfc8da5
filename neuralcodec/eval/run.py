"""``codec eval``: every image coded to a real file, decoded from that file, measured; CompressAI's JSON schema."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from neuralcodec.eval.anchors import anchors
from neuralcodec.eval.metrics import bpp_of, ms_ssim, ms_ssim_db, patch_swd, psnr_rgb, psnr_y
from neuralcodec.image_io import ImageInfo, read_image

METRIC_KEYS = ["bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb", "ms-ssim-db", "lpips", "swd", "encoding_time",
               "decoding_time"]


@dataclass(frozen=True)
class EvalCodec:
    """What evaluation needs of a codec: a sweep, and bytes in / bytes out."""

    name: str
    description: str
    qualities: list[int]
    suffix: str
    encode: Callable[[Tensor, int], bytes]
    decode: Callable[[bytes], Tensor]
    quality_range: tuple[int, int] | None = None  # any quality in it is valid; None: only ``qualities``

    def check_qualities(self, qualities: list[int]) -> None:
        """``ValueError`` naming the valid choices when a requested quality is not one."""
        for q in qualities:
            if self.quality_range is None and q not in self.qualities:
                raise ValueError(f"{self.name} has no rate point {q} (shipped: {', '.join(map(str, self.qualities))})")
            if self.quality_range is not None and not self.quality_range[0] <= q <= self.quality_range[1]:
                raise ValueError(f"{self.name} quality {q} is outside {self.quality_range[0]}…{self.quality_range[1]}")


def _learned_eval_codec(name: str, description: str, family: str,
                        model_file_of: Mapping[int, str | None]) -> EvalCodec:
    """Bytes in / bytes out through our container; ``model_file_of`` maps each rate point to its model file
    (``None``: the shipped one). The decoder finds the rate point in the header, as ``codec decode`` does."""
    from neuralcodec.bitstream.container import unpack
    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor

    def encode(image: Tensor, quality: int) -> bytes:
        model_file = model_file_of[quality]
        codec = load_codec(family, None if model_file else quality, model_file)
        return encode_tensor(image, ImageInfo(3, 8), codec).data

    def decode(data: bytes) -> Tensor:
        return decode_bytes(data, model_file_of[unpack(data)[0].rate_point])[0]

    return EvalCodec(name, description, sorted(model_file_of), ".bin", encode, decode)


def eval_codec(name: str) -> EvalCodec:
    """A learned family (its shipped rate points) or a live classical anchor."""
    from neuralcodec.codecs.registry import family_names, shipped_qualities

    if name in family_names():
        return _learned_eval_codec(name, f"neuralcodec {name} (shipped rate points, files incl. container)", name,
                                   dict.fromkeys(shipped_qualities(name)))
    known = anchors()
    if name not in known:
        raise ValueError(f"unknown codec '{name}' (learned: {', '.join(family_names())}; "
                         f"anchors: {', '.join(known)})")
    a = known[name]
    return EvalCodec(a.name, a.description, a.qualities, f".{a.name}", a.encode, a.decode, a.quality_range)


def model_files_eval_codec(paths: list[str]) -> EvalCodec:
    """Model files given by path (e.g. fresh from training, before they are shipped): one rate point each."""
    from neuralcodec.codecs.registry import DEFAULT_CODEC, load_codec

    by_quality: dict[int, str] = {}
    for path in paths:
        quality = load_codec(model_file=path).quality
        if quality in by_quality:
            raise ValueError(f"{path} and {by_quality[quality]} are both rate point {quality}")
        by_quality[quality] = path
    return _learned_eval_codec("model-files", "neuralcodec model files: " + ", ".join(by_quality.values()),
                               DEFAULT_CODEC, by_quality)  # a model file names its own family; this is unused


def _mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def evaluate(codec: EvalCodec, images: list[Path], work_dir: Path, qualities: list[int] | None = None,
             lpips_model: Any = None, lpips_note: str = "", progress: Callable[[], None] | None = None
             ) -> dict[str, Any]:
    """Run the sweep over ``images``; bitstreams are written under ``work_dir`` and decoded from disk."""
    from neuralcodec.eval.lpips_metric import lpips_distance

    qualities = list(qualities or codec.qualities)
    loaded = [(p, read_image(p)[0]) for p in images]
    results: dict[str, list[Any]] = {k: [] for k in ["quality", *METRIC_KEYS]}
    per_image: dict[str, list[dict[str, Any]]] = {}
    for q in qualities:
        folder = work_dir / codec.name / f"q{q}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for path, image in loaded:
            t0 = time.perf_counter()
            data = codec.encode(image, q)
            t1 = time.perf_counter()
            file = folder / (path.stem + codec.suffix)
            file.write_bytes(data)
            stored = file.read_bytes()
            t2 = time.perf_counter()
            decoded = codec.decode(stored)
            t3 = time.perf_counter()
            ssim = ms_ssim(decoded, image)
            rows.append({
                "image": path.name, "bytes": len(stored), "bpp": bpp_of(len(stored), image),
                "psnr-rgb": psnr_rgb(decoded, image), "psnr-y": psnr_y(decoded, image),
                "ms-ssim-rgb": ssim, "ms-ssim-db": ms_ssim_db(ssim),
                "lpips": lpips_distance(lpips_model, decoded, image) if lpips_model is not None else None,
                "swd": patch_swd(image, decoded),
                "encoding_time": t1 - t0, "decoding_time": t3 - t2,
            })
            if progress:
                progress()
        per_image[str(q)] = rows
        results["quality"].append(q)
        for key in METRIC_KEYS:
            results[key].append(_mean([r[key] for r in rows]))
    return {
        "name": codec.name, "description": codec.description, "results": results,
        "dataset": str(images[0].parent) if images else "", "images": [p.name for p in images],
        "lpips_note": lpips_note, "per_image": per_image,
        "notes": "bpp from the bytes of each file (container included for neuralcodec); metrics averaged "
                 "over images per quality; definitions in docs/metrics.md",
    }
