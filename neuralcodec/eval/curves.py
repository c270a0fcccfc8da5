"""RD curves in CompressAI's JSON schema: loading (files or shipped published curves), BD metrics, plots."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR_DIR = Path(__file__).resolve().parent.parent / "anchors"
_ALIASES = {
    "bmshj2018-factorized": "compressai-bmshj2018-factorized_mse_cuda",
    "bmshj2018-hyperprior": "compressai-bmshj2018-hyperprior_mse_cuda",
    "bmshj2018-hyperprior_mse_cpu": "compressai-bmshj2018-hyperprior_mse_cpu",
    "bmshj2018-hyperprior_ms-ssim": "compressai-bmshj2018-hyperprior_ms-ssim_cuda",
    "mbt2018-mean": "compressai-mbt2018-mean_mse_cuda",
    "mbt2018": "compressai-mbt2018_mse_cuda",
    "cheng2020-anchor": "compressai-cheng2020-anchor_mse_cuda",
    "bpg": "bpg_444_x265_ycbcr",
}
BD_METHOD = "pchip"  # JCT-VC / JVET common-test-conditions interpolation (bjontegaard package)


@dataclass
class Curve:
    """One codec's RD points (sorted by rate)."""

    name: str
    bpp: np.ndarray  # the rate axis: bits per pixel, or kbit/s when ``rate_unit`` is "kbps"
    metrics: dict[str, np.ndarray]
    dataset: str | None = None  # as recorded by ``codec eval`` (e.g. "Kodak"), when known
    # "kbps" for a file with CompressAI's video "bitrate" (kbit/s) but no "bpp", such as its published UVG curves
    rate_unit: str = "bpp"
    media: str | None = None  # "image" or "video", when the file says or shows it
    count: int | None = None  # images (or clips) the points are averaged over, when known

    def rate(self, unit: str) -> np.ndarray | None:
        """The rate axis in ``unit`` ("bpp" or "kbps") in the order of the points, or ``None`` if the file lacks it
        (``codec eval-video`` files carry both: "bpp" and "bitrate")."""
        if unit == self.rate_unit:
            return self.bpp
        return self.metrics.get("bitrate") if unit == "kbps" else None

    def metric(self, key: str) -> np.ndarray | None:
        if key == "ms-ssim-db" and key not in self.metrics and "ms-ssim-rgb" in self.metrics:
            v = np.clip(self.metrics["ms-ssim-rgb"], None, 1 - 1e-12)
            return -10 * np.log10(1 - v)
        return self.metrics.get(key)


def shipped_anchor_names() -> list[str]:
    """Names accepted after ``compressai:``."""
    files = sorted(p.stem for p in ANCHOR_DIR.glob("*.json"))
    return sorted(set(_ALIASES) | set(files))


PUBLISHED_DATASET = ("Kodak", 24)  # every shipped published curve is CompressAI's Kodak result (anchors/README.md)
MIN_OVERLAP = 0.75  # below this share of the joint log-rate range, a BD figure rests on too little of the curves


def _media_and_count(blob: dict[str, Any], rate_key: str) -> tuple[str | None, int | None]:
    """What a result file says (``media``, ``image_count``/``clip_count``) or, in older files, shows."""
    media = blob.get("media")
    if media is None:
        if "frames" in blob or "clips" in blob or rate_key == "bitrate":
            media = "video"
        elif "images" in blob:
            media = "image"
    count = blob.get("image_count", blob.get("clip_count"))
    if count is None:
        listed = blob.get("images", blob.get("clips"))
        count = len(listed) if isinstance(listed, list) else (1 if "frames" in blob else None)
    return media, count


def load_curve(spec: str) -> Curve:
    """A curve from a JSON file path or ``compressai:NAME`` (shipped published curves)."""
    published = spec.startswith("compressai:")
    if published:
        key = spec.split(":", 1)[1]
        path = ANCHOR_DIR / f"{_ALIASES.get(key, key)}.json"
        if not path.is_file():
            raise FileNotFoundError(f"unknown published curve {spec} (known: {', '.join(shipped_anchor_names())})")
    else:
        path = Path(spec)
    blob = json.loads(path.read_text())
    results = blob["results"]
    # video results of CompressAI may give only "bitrate" (kbit/s); without either, the KeyError names "bpp"
    rate_key = "bitrate" if "bpp" not in results and "bitrate" in results else "bpp"
    bpp = np.asarray(results[rate_key], dtype=np.float64)
    order = np.argsort(bpp)
    metrics = {}
    for key, values in results.items():
        if key == rate_key or not isinstance(values, list) or len(values) != len(bpp):
            continue
        if all(isinstance(v, (int, float)) for v in values):
            metrics[key] = np.asarray(values, dtype=np.float64)[order]
    dataset = blob.get("dataset")
    if isinstance(dataset, str) and dataset:
        dataset = Path(dataset.rstrip("/")).name  # a recorded folder, e.g. ../shared/datasets/kodak
        dataset = "Kodak" if dataset.lower() == "kodak" else dataset
    else:
        dataset = None
    media, count = ("image", PUBLISHED_DATASET[1]) if published else _media_and_count(blob, rate_key)
    if published:
        dataset = PUBLISHED_DATASET[0]
    return Curve(blob.get("name", path.stem), bpp[order], metrics, dataset, "bpp" if rate_key == "bpp" else "kbps",
                 media, count)


def comparability(curves: list[Curve]) -> tuple[str | None, list[str]]:
    """(why these curves cannot be compared at all — images against videos — or None, notes on what differs:
    the dataset or the number of images)."""
    media = {c.media for c in curves if c.media}
    if len(media) > 1:
        kinds = ", ".join(f"{c.name} ({c.media})" for c in curves if c.media)
        return f"image and video results cannot be compared: {kinds}", []
    notes = []
    datasets = {c.dataset for c in curves if c.dataset}
    if len(datasets) > 1:
        notes.append("the curves come from different datasets: "
                     + ", ".join(f"{c.name}: {c.dataset}" for c in curves if c.dataset))
    counts = {c.count for c in curves if c.count}
    if len(counts) > 1:
        what = "clips" if media == {"video"} else "images"
        notes.append(f"the curves average different numbers of {what}: "
                     + ", ".join(f"{c.name}: {c.count}" for c in curves if c.count))
    return None, notes


def dataset_title(curves: list[Curve]) -> str:
    """A plot's title: the dataset and the number of images (or clips) of the first curve."""
    first = curves[0] if curves else None
    if first is None or not first.dataset:
        return "RD curves"
    what = ("clip" if first.media == "video" else "image") + ("" if first.count == 1 else "s")
    return f"{first.dataset} ({first.count} {what})" if first.count else first.dataset


def plot_formats() -> set[str]:
    """File suffixes (without the dot) the plot writer supports."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def overlap(a: Curve, b: Curve) -> tuple[float, float] | None:
    """Common bpp range of two curves, or ``None``."""
    lo, hi = max(a.bpp.min(), b.bpp.min()), min(a.bpp.max(), b.bpp.max())
    return (float(lo), float(hi)) if lo < hi else None


def _overlap(ra: np.ndarray, rt: np.ndarray) -> tuple[float, float] | None:
    lo, hi = max(ra.min(), rt.min()), min(ra.max(), rt.max())
    return (float(lo), float(hi)) if lo < hi else None


def _common_rates(a: Curve, b: Curve) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """A rate unit both curves give (the anchor's if possible) and their rates in it; ``None`` where missing."""
    for unit in (a.rate_unit, b.rate_unit):
        ra, rb = a.rate(unit), b.rate(unit)
        if ra is not None and rb is not None:
            return unit, ra, rb
    return a.rate_unit, a.bpp, None


def _overlap_share(a: np.ndarray, b: np.ndarray) -> float:
    """The share of two curves' joint range along one axis that both cover."""
    joint = max(a.max(), b.max()) - min(a.min(), b.min())
    common = min(a.max(), b.max()) - max(a.min(), b.min())
    return float(max(common, 0.0) / joint) if joint > 0 else 1.0


def bd_metrics(anchor: Curve, test: Curve, metric: str, method: str = BD_METHOD) -> dict[str, Any]:
    """BD-rate (%) and BD-quality of ``test`` against ``anchor`` for one metric (bjontegaard package).

    Negative BD-rate = fewer bits for the same quality. Returns ``None`` values with a ``note`` when the
    curves do not overlap or lack the metric.
    """
    import bjontegaard as bd

    qa, qt = anchor.metric(metric), test.metric(metric)
    unit, ra, rt = _common_rates(anchor, test)
    common = None if ra is None or rt is None else _overlap(ra, rt)
    out: dict[str, Any] = {"metric": metric, "bd_rate": None, "bd_quality": None, "bpp_range": common, "note": ""}
    if unit != "bpp":
        out["rate_unit"] = unit  # "bpp_range" is then in these units
    if qa is None or qt is None:
        out["note"] = f"{metric} missing"
        return out
    if ra is None or rt is None:
        out["note"] = f"rates in different units ({anchor.rate_unit} and {test.rate_unit})"
        return out
    if common is None:
        out["note"] = f"curves do not overlap in {unit}"
        return out
    if unit != anchor.rate_unit or unit != test.rate_unit:  # a rate taken from the metrics: sort by it
        ia, it = np.argsort(ra), np.argsort(rt)
        ra, qa, rt, qt = ra[ia], qa[ia], rt[it], qt[it]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["bd_rate"] = float(bd.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False,
                                              min_overlap=0))
            out["bd_quality"] = float(bd.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False,
                                                 min_overlap=0))
        except (ValueError, ZeroDivisionError) as exc:
            out["note"] = f"BD not computable: {exc}"
    if caught:
        out["note"] = "; ".join(str(w.message) for w in caught)
    # BD-rate integrates over the quality axis, BD-quality over log-rate: both ranges must overlap well
    shares = {"quality": _overlap_share(qa, qt), "log-rate": _overlap_share(np.log10(ra), np.log10(rt))}
    axis = min(shares, key=shares.get)
    if out["bd_rate"] is not None and shares[axis] < MIN_OVERLAP:
        out["note"] = (f"the curves share only {shares[axis]:.0%} of their joint {axis} range (under "
                       f"{MIN_OVERLAP:.0%}): this BD figure rests on a small part of them")
    if out["bd_rate"] is not None and not math.isfinite(out["bd_rate"]):
        out["bd_rate"] = None
    return out


def plot_curves(curves: list[Curve], path: str | Path, title: str = "Kodak") -> None:
    """bpp–PSNR, bpp–MS-SSIM (dB) and bpp–realism (patch-SWD, or LPIPS) panels, one labelled line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def have(key: str) -> bool:
        return any(c.metric(key) is not None for c in curves)

    realism = "lpips" if have("lpips") else "swd"
    third = (realism, "patch-SWD ×10³ (lower is better)" if realism == "swd" else "LPIPS (lower is better)")
    if not have("lpips") and not have("swd") and have("psnr-yuv"):  # video results (codec eval-video)
        third = ("psnr-yuv", "YUV PSNR (dB)")
    panels = [("psnr-rgb", "RGB PSNR (dB)"), ("ms-ssim-db", "MS-SSIM (dB)"), third]
    unit = curves[0].rate_unit if curves else "bpp"
    for c in curves:
        if c.rate(unit) is None:
            warnings.warn(f"{c.name} has no rate in {unit} (as {curves[0].name}): not drawn", stacklevel=2)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for c in curves:
            x, y = c.rate(unit), c.metric(key)
            if x is not None and y is not None:
                order = np.argsort(x, kind="stable")  # already sorted unless the rate came from metrics
                ax.plot(x[order], y[order], marker="o", markersize=3, label=c.name)
        ax.set_xlabel("bits per pixel" if unit == "bpp" else "bitrate (kbit/s)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
