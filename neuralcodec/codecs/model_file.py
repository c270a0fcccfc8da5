"""Shipped model files: compact (fp16 / int8 weights + integer tables), loadable without Lightning.

A model file is a ``torch.save`` dict that ``torch.load(weights_only=True)`` reads: tensors, numbers,
strings, lists and dicts only — loading a model file never runs code from it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from neuralcodec.errors import ModelError

MODEL_FORMAT = "neuralcodec-model/1"
FP16_MIN_ELEMENTS = 4096  # smaller tensors (biases, GDN betas, the factorized prior) stay float32


def compact_state_dict(state: dict[str, Tensor], skip: set[str] = frozenset()) -> dict[str, Tensor]:
    """Floating tensors as fp16 (large) or fp32 (small); ``skip`` keys are left out."""
    out = {}
    for k, v in state.items():
        if k in skip:
            continue
        if v.is_floating_point():
            v = v.half() if v.numel() >= FP16_MIN_ELEMENTS else v.float()
        out[k] = v.detach().cpu().contiguous()
    return out


def weights_hash(blob: dict[str, Any]) -> bytes:
    """First 4 bytes of SHA-256 over every tensor of the file in key order: identifies the weights."""
    h = hashlib.sha256()

    def feed(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k in sorted(obj):
                feed(f"{prefix}/{k}", obj[k])
        elif isinstance(obj, Tensor):
            h.update(prefix.encode())
            h.update(str(obj.dtype).encode() + str(tuple(obj.shape)).encode())
            h.update(obj.contiguous().view(torch.uint8).numpy().tobytes() if obj.numel() else b"")

    feed("", {k: v for k, v in blob.items() if k != "meta"})
    return h.digest()[:4]


# A model file may extend a shipped model of another family (a context model on the transforms of a shipped
# hyperprior): it then stores only what differs, and ``BASE_KEY`` names the base by family, model id, rate
# point and weights hash. Merged with its base it is exactly the full model.
class LoadedModel:
    """What every runtime model loaded from a model file knows of itself: the declaration that loaded it and
    the identity its bitstreams record (rate point, model id, weights hash), plus the file's free-form meta."""

    def __init__(self, blob: dict[str, Any], family: Any) -> None:
        self.family = family
        self.quality = int(blob["quality"])
        self.model_id = int(blob["model_id"])
        self.weights_hash = weights_hash(blob)
        self.meta = dict(blob.get("meta", {}))

    @property
    def exact_pixels(self) -> bool:
        """Whether this model's files decode to the same pixels on every machine (its family's declaration)."""
        return bool(self.family.exact_pixels)


BASE_KEY = "base"
_IDENTITY_KEYS = ("format", "family", "model_id", "quality", "arch", "meta")  # never taken from the base


def same_entry(a: Any, b: Any) -> bool:
    """Equal entries; float64 tensors (computed tables such as Gaussian scale thresholds, not learned weights)
    may differ in the last bits, as ``exp``/``log`` do between CPUs: the merged file then holds the base's."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == torch.float64:
            return bool(torch.allclose(a, b, rtol=1e-12, atol=0.0))
        return torch.equal(a, b)
    return not isinstance(a, Tensor) and not isinstance(b, Tensor) and a == b


def delta_from_base(blob: dict[str, Any], base: dict[str, Any], base_ref: dict[str, Any]) -> dict[str, Any] | None:
    """``blob`` without every entry ``base`` holds identically, plus the reference to ``base``; ``None`` when
    ``base`` is not contained in ``blob`` (a differing or missing entry): then only the full file is right."""
    out: dict[str, Any] = {k: blob[k] for k in _IDENTITY_KEYS if k in blob}
    for key, value in base.items():
        if key in _IDENTITY_KEYS:
            continue
        if key not in blob:
            return None
        if isinstance(value, dict):
            if not isinstance(blob[key], dict) or any(k not in blob[key] or not same_entry(v, blob[key][k])
                                                      for k, v in value.items()):
                return None
        elif not same_entry(value, blob[key]):
            return None
    for key, value in blob.items():
        if key in _IDENTITY_KEYS:
            continue
        if key not in base:
            out[key] = value
        elif isinstance(value, dict):
            extra = {k: v for k, v in value.items() if k not in base[key]}
            if extra:
                out[key] = extra
    out[BASE_KEY] = dict(base_ref)
    return out


def merge_with_base(blob: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The full model of a file stored as a delta on ``base`` (the inverse of :func:`delta_from_base`)."""
    merged = {k: v for k, v in base.items() if k not in _IDENTITY_KEYS}
    for key, value in blob.items():
        if key == BASE_KEY:
            continue
        if key not in _IDENTITY_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def save_model_file(blob: dict[str, Any], path: str | Path) -> None:
    """Write atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(blob, buf)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def read_torch_file(path: str | Path, what: str, weights_only: bool = True) -> Any:
    """``torch.load`` on CPU with one-line ``ModelError``s naming ``what`` the file should be.

    ``weights_only=False`` unpickles arbitrary objects (Lightning checkpoints): only training and
    ``codec export`` pass it, for files the user trusts.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{what} is a folder, not a file: {path}")
    if not path.is_file():
        raise ModelError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many types (with multi-line messages) for damaged zips/pickles
        if weights_only and "weights_only" in str(exc):
            # torch's advice (load it with weights_only=False) is not for a file that should hold only weights
            raise ModelError(f"{what} {path} is damaged or of another kind (not a file of weights)") from None
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{what} {path} is damaged or of another kind: {reason}") from None


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Read and check a shipped model file; raises ``ModelError`` when missing or damaged."""
    blob = read_torch_file(path, "model file")
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path} is not a {MODEL_FORMAT} file")
    return blob
