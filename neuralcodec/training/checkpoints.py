"""Reading training sources: Lightning checkpoints (full unpickling: trusted files only) and model files.

Lightning checkpoints hold pickled Python objects, so loading one can run code: only ``codec train`` and
``codec export`` read them, and only from files the user produced or trusts. Shipped model files are read
with ``weights_only=True`` everywhere (:func:`neuralcodec.codecs.model_file.load_model_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from neuralcodec.codecs.model_file import load_model_file, read_torch_file
from neuralcodec.codecs.registry import get_family, read_model_file
from neuralcodec.errors import ModelError

# What a stage's data looked like, as recorded in checkpoints and exported models (``meta`` and ``lineage``).
DATA_FACT_KEYS = ("crop", "latent_crop", "batch_size", "train_scale")


def resumable_fit(checkpoint: Path | None, key: str, fingerprint: str) -> str | None:
    """``checkpoint`` as a path to resume a fit from, when it exists and its ``key`` record holds this
    ``fingerprint`` (the same input and settings); ``None`` otherwise. Read with ``weights_only=True``: a fit's
    own checkpoint next to its output, which an unreadable or foreign file must not break."""
    if checkpoint is None or not checkpoint.is_file():
        return None
    import torch

    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is simply not resumed from
        return None
    return str(checkpoint) if saved.get(key, {}).get("fingerprint") == fingerprint else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint dict (trusted source); ``ModelError`` when it is not one."""
    blob = read_torch_file(path, "Lightning checkpoint", weights_only=False)
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ModelError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return blob


def _is_model_file(path: Path) -> bool:
    try:
        load_model_file(path)
    except ModelError:
        return False
    return True


def load_state_dict_any(path: str | Path) -> dict[str, Tensor]:
    """The float32 network state dict from a shipped model file or a Lightning ``.ckpt``."""
    path = Path(path)
    if _is_model_file(path):
        blob = read_model_file(path)
        return get_family(blob["family"]).float_state_dict(blob)
    blob = load_checkpoint(path)  # Lightning checkpoint: strip the LightningModule's "net." prefix
    return {k[4:]: v.float() if isinstance(v, Tensor) and v.is_floating_point() else v
            for k, v in blob["state_dict"].items() if k.startswith("net.")}  # (extra states are not tensors)


def checkpoint_stage(blob: dict[str, Any]) -> dict[str, Any]:
    """λ, steps, step time and data facts of the run that wrote a loaded Lightning checkpoint."""
    hp = blob.get("hyper_parameters", {})
    return {"lmbda": float(hp.get("lmbda", 0.0)), "steps": int(blob.get("global_step", 0)),
            "train_seconds": float(blob.get("train_seconds", 0.0)), **blob.get("data_facts", {})}


def lineage_of(path: str | Path) -> list[dict[str, Any]]:
    """Training history of a warm-start source: its own earlier stages, then itself as the last stage."""
    path = Path(path)
    if _is_model_file(path):
        meta = load_model_file(path).get("meta", {})
        stage = {k: meta[k] for k in ("lmbda", "steps", "train_seconds", *DATA_FACT_KEYS) if k in meta}
        return [*meta.get("lineage", []), {"source": str(path), **stage}]
    blob = load_checkpoint(path)
    return [*blob.get("lineage", []), {"source": str(path), **checkpoint_stage(blob)}]

