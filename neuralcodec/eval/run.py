"""``codec eval``: every image coded to a real file, decoded from that file, measured; CompressAI's JSON schema."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralcodec.errors import InputError, NeuralCodecError
from neuralcodec.eval.anchors import anchor_by_name, anchors
from neuralcodec.eval.metrics import PatchSwd, bpp_of, ms_ssim, ms_ssim_db, psnr_rgb, psnr_y
from neuralcodec.image_io import ImageInfo, atomic_write, read_image
from neuralcodec.threads import one_torch_thread

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
    # how a worker process rebuilds this codec (encode/decode are closures, which do not pickle):
    # ("codec", name) or ("model", path, ...); None: evaluated in this process only
    spec: tuple[str, ...] | None = None
    # costly encodes (fitted codecs): files are kept as ``<image>-q<K><suffix>`` with the image's measurements in
    # ``<image>-q<K>.json`` beside them, and an image whose file and JSON exist is decoded and measured again
    # but not encoded again (an evaluation that takes hours resumes where it stopped)
    resumable: bool = False

    def check_qualities(self, qualities: list[int]) -> None:
        """``ValueError`` naming the valid choices when a requested quality is not one."""
        for q in qualities:
            if self.quality_range is None and q not in self.qualities:
                raise ValueError(f"{self.name} has no rate point {q} (shipped: {', '.join(map(str, self.qualities))})")
            if self.quality_range is not None and not self.quality_range[0] <= q <= self.quality_range[1]:
                raise ValueError(f"{self.name} quality {q} is outside {self.quality_range[0]}…{self.quality_range[1]}")


def _learned_eval_codec(name: str, description: str, family: str, model_file_of: Mapping[int, str | None],
                        spec: tuple[str, ...], decode_options: dict[str, Any] | None = None) -> EvalCodec:
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
        return decode_bytes(data, model_file_of[unpack(data)[0].rate_point], options=decode_options)[0]

    if decode_options:  # e.g. the diffusion decoder: a different decoding of the same files
        name += "+" + str(decode_options.get("decoder", "mse"))
        description += ", decoded with " + ", ".join(f"{k}={v}" for k, v in sorted(decode_options.items()))
        spec = (*spec, json.dumps(decode_options, sort_keys=True))
    return EvalCodec(name, description, sorted(model_file_of), ".bin", encode, decode, spec=spec)


def _fitted_eval_codec(name: str, encode_options: dict[str, Any]) -> EvalCodec:
    """A fitted image family: each image fitted at encode time with ``encode_options`` (e.g. a preset)."""
    from neuralcodec.codecs.registry import fitted_family
    from neuralcodec.coding import decode_bytes, encode_fitted_tensor

    family = fitted_family(name)

    def encode(image: Tensor, quality: int) -> bytes:
        return encode_fitted_tensor(image, ImageInfo(3, 8), name, quality, encode_options).data

    def decode(data: bytes) -> Tensor:
        return decode_bytes(data)[0]

    settings = ", ".join(f"{k}={v}" for k, v in sorted(encode_options.items())) or "defaults"
    if hasattr(family, "fit_iterations"):  # a preset's iterations may change between releases: name them
        settings += f" ({family.fit_iterations(encode_options)} iterations)"
    return EvalCodec(name, f"neuralcodec {name} (fitted to each image: {settings}; files incl. container)",
                     list(family.qualities), ".bin", encode, decode,
                     spec=("fitted", name, json.dumps(encode_options, sort_keys=True)), resumable=True)


def eval_codec(name: str, decode_options: dict[str, Any] | None = None,
               encode_options: dict[str, Any] | None = None) -> EvalCodec:
    """A learned family (its shipped rate points; a fitted family: its qualities, fitted with
    ``encode_options``) or a live classical anchor; ``decode_options`` (learned families only) are
    ``decode_bytes`` options, e.g. ``{"decoder": "diffusion", "steps": 2}``."""
    from neuralcodec.codecs.registry import family_names, get_family, shipped_qualities

    if name in family_names() and get_family(name).kind == "fitted":
        if decode_options:
            raise ValueError(f"{name} files have no decoder options")
        if get_family(name).media != "image":
            raise ValueError(f"{name} codes videos: use 'codec eval-video'")
        return _fitted_eval_codec(name, dict(encode_options or {}))
    if encode_options:
        raise ValueError(f"encoder options are for fitted codecs, not {name}")
    if name in family_names():
        return _learned_eval_codec(name, f"neuralcodec {name} (shipped rate points, files incl. container)", name,
                                   dict.fromkeys(shipped_qualities(name)), ("codec", name), decode_options)
    if decode_options:
        raise ValueError(f"decoder options are for learned codecs, not the live anchor '{name}'")
    if name.partition("@")[0] not in anchors():
        raise ValueError(f"unknown codec '{name}' (learned: {', '.join(family_names())}; "
                         f"anchors: {', '.join(anchors())}, each also as NAME@SCALE, e.g. avif@0.5)")
    a = anchor_by_name(name)
    return EvalCodec(a.name, a.description, a.qualities, f".{a.name}", a.encode, a.decode, a.quality_range,
                     ("codec", name))


def model_files_eval_codec(paths: list[str], decode_options: dict[str, Any] | None = None) -> EvalCodec:
    """Model files given by path (e.g. fresh from training, before they are shipped): one rate point each."""
    from neuralcodec.codecs.registry import DEFAULT_CODEC, load_codec

    by_quality: dict[int, str] = {}
    for path in paths:
        quality = load_codec(model_file=path).quality
        if quality in by_quality:
            raise ValueError(f"{path} and {by_quality[quality]} are both rate point {quality}")
        by_quality[quality] = path
    return _learned_eval_codec("model-files", "neuralcodec model files: " + ", ".join(by_quality.values()),
                               DEFAULT_CODEC, by_quality,  # unused: a model file names its own family
                               ("model", *paths), decode_options)


def _mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def codec_from_spec(spec: tuple[str, ...]) -> EvalCodec:
    """The codec an ``EvalCodec.spec`` names (how worker processes rebuild it)."""
    kind, *args = spec
    options = json.loads(args.pop()) if args and args[-1].startswith("{") else None
    if kind == "fitted":
        return eval_codec(args[0], encode_options=options)
    return eval_codec(args[0], options) if kind == "codec" else model_files_eval_codec(list(args), options)


def _kept_by(record: Path, codec: EvalCodec) -> bool:
    """Whether a kept file's record was written by this codec with these settings (else it is coded again)."""
    try:
        return json.loads(record.read_text()).get("codec") == codec.description
    except (OSError, ValueError, AttributeError):
        return False


def _measure_image(codec: EvalCodec, path: Path, image: Tensor, qualities: list[int], work_dir: Path,
                   lpips_model: Any, progress: Callable[[], None] | None,
                   stop: Callable[[], bool] = lambda: False) -> list[dict[str, Any]]:
    """One row per quality: the image coded to a file under ``work_dir``, decoded from it and measured."""
    from neuralcodec.eval.lpips_metric import lpips_distance

    with one_torch_thread():  # metrics must not depend on jobs (workers run one thread each)
        swd = PatchSwd(image)  # the original's side once, for every quality
    rows = []
    for q in qualities:
        if stop():
            break
        record = work_dir / f"{path.stem}-q{q}.json"
        try:
            if codec.resumable and record.with_suffix(codec.suffix).is_file() and _kept_by(record, codec):
                file = record.with_suffix(codec.suffix)
                encoding_time = json.loads(record.read_text())["encoding_time"]  # measured when it was encoded
            else:
                t0 = time.perf_counter()
                data = codec.encode(image, q)
                encoding_time = time.perf_counter() - t0
                file = (record.with_suffix(codec.suffix) if codec.resumable
                        else work_dir / codec.name / f"q{q}" / (path.stem + codec.suffix))
                atomic_write(file, data)
            stored = file.read_bytes()
            t2 = time.perf_counter()
            decoded = codec.decode(stored)
            t3 = time.perf_counter()
        except NeuralCodecError:
            raise
        except ValueError as exc:  # what the anchors' libraries raise for an image they cannot code (e.g. too big)
            raise InputError(f"{codec.name} cannot code {path.name} at quality {q}: {exc}") from None
        with one_torch_thread():
            ssim = ms_ssim(decoded, image)
            rows.append({
                "image": path.name, "bytes": len(stored), "bpp": bpp_of(len(stored), image),
                "psnr-rgb": psnr_rgb(decoded, image), "psnr-y": psnr_y(decoded, image),
                "ms-ssim-rgb": ssim, "ms-ssim-db": ms_ssim_db(ssim),
                "lpips": lpips_distance(lpips_model, decoded, image) if lpips_model is not None else None,
                "swd": swd(decoded),
                "encoding_time": encoding_time, "decoding_time": t3 - t2,
            })
        if codec.resumable:
            atomic_write(record, (json.dumps({**rows[-1], "quality": q, "codec": codec.description}, indent=1)
                                  + "\n").encode())
        if progress:
            progress()
    return rows


# A worker process's codec, LPIPS model, progress queue and stop flag, set once by ``_init_worker``.
_worker: dict[str, Any] = {}


def _init_worker(spec: tuple[str, ...], lpips_model: Any, progress_queue: Any, stop_event: Any) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it sets ``stop_event``
    torch.set_num_threads(1)  # one process per core already
    _worker.update(codec=codec_from_spec(spec), lpips=lpips_model, queue=progress_queue, stop=stop_event)


def _worker_measure(path: Path, pixels: np.ndarray, qualities: list[int], work_dir: Path) -> list[dict[str, Any]]:
    w = _worker
    return _measure_image(w["codec"], path, torch.from_numpy(pixels), qualities, work_dir, w["lpips"],
                          lambda: w["queue"].put(1), w["stop"].is_set)


@contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started in here begin with SIGINT ignored (that survives exec, and Python then installs no
    KeyboardInterrupt handler): Ctrl-C reaches the whole process group, but only the parent should act on it,
    and a worker interrupted while importing torch would print a traceback."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def _measure_in_workers(codec: EvalCodec, loaded: list[tuple[Path, Tensor]], qualities: list[int],
                        work_dir: Path, lpips_model: Any, progress: Callable[[], None] | None,
                        jobs: int) -> list[list[dict[str, Any]]]:
    """``_measure_image`` of every image in ``jobs`` spawned processes; results in image order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    assert codec.spec is not None
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started its threads
    with _children_ignore_sigint():
        queue, stop = ctx.SimpleQueue(), ctx.Event()
        pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                   initargs=(codec.spec, lpips_model, queue, stop))

    def drain() -> None:
        while not queue.empty():
            queue.get()
            if progress:
                progress()

    try:
        with _children_ignore_sigint():  # submitting starts the workers
            # images travel as NumPy arrays: plain pickles, not torch's shared-memory handles
            futures = [pool.submit(_worker_measure, path, image.numpy(), qualities, work_dir)
                       for path, image in loaded]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                future.result()  # a worker's error (e.g. a codec failing on an image) ends the run now
        drain()
        return [future.result() for future in futures]
    except BaseException:
        stop.set()  # running images end after their current quality; queued ones are cancelled
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def evaluate(codec: EvalCodec, images: list[Path], work_dir: Path, qualities: list[int] | None = None,
             lpips_model: Any = None, lpips_note: str = "", progress: Callable[[], None] | None = None,
             jobs: int = 1) -> dict[str, Any]:
    """Run the sweep over ``images``; bitstreams are written under ``work_dir`` and decoded from disk.

    ``jobs`` > 1 measures images in that many spawned worker processes (one torch thread each; a calling
    script needs the usual ``if __name__ == "__main__":`` guard); the result is the same as with ``jobs=1``
    except for the times. A codec without a ``spec`` is always measured in this process.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    qualities = list(qualities or codec.qualities)
    loaded = [(p, read_image(p)[0]) for p in images]  # an unreadable image fails before any work starts
    for q in qualities:
        (work_dir if codec.resumable else work_dir / codec.name / f"q{q}").mkdir(parents=True, exist_ok=True)
    jobs = min(jobs, len(loaded))
    if jobs > 1 and codec.spec is not None:
        rows_of_image = _measure_in_workers(codec, loaded, qualities, work_dir, lpips_model, progress, jobs)
    else:
        rows_of_image = [_measure_image(codec, p, image, qualities, work_dir, lpips_model, progress)
                         for p, image in loaded]
    results: dict[str, list[Any]] = {k: [] for k in ["quality", *METRIC_KEYS]}
    per_image: dict[str, list[dict[str, Any]]] = {}
    for i, q in enumerate(qualities):
        rows = [image_rows[i] for image_rows in rows_of_image]
        per_image[str(q)] = rows
        results["quality"].append(q)
        for key in METRIC_KEYS:
            results[key].append(_mean([r[key] for r in rows]))
    return {
        "name": codec.name, "description": codec.description, "results": results,
        "dataset": str(images[0].parent) if images else "", "media": "image", "image_count": len(images),
        "images": [p.name for p in images],
        "lpips_note": lpips_note, "per_image": per_image,
        "notes": "bpp from the bytes of each file (container included for neuralcodec); metrics averaged "
                 "over images per quality; definitions in docs/metrics.md",
    }
