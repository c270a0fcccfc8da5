"""Codec families and the rate points shipped inside the package.

A family is a module under ``neuralcodec/codecs/`` exposing ``FAMILY``, ``FAMILY_ID``, a codec class
built from a model-file dict, ``export_model`` and ``float_state_dict``. Shipped rate points are model
files ``neuralcodec/weights/<family>-q<N>.pt``; ``weights/index.json`` carries their measured figures.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from neuralcodec.codecs.model_file import load_model_file
from neuralcodec.errors import ModelError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_CODEC = "hyperprior"
DEFAULT_QUALITY = 3

# name → (bitstream family id, module, codec class). Modules are imported on first use, so commands that
# never run a network (info, list, failing early on a bad file) do not pay for importing torch layers.
_FAMILIES: dict[str, tuple[int, str, str]] = {
    "hyperprior": (1, "neuralcodec.codecs.hyperprior", "HyperpriorCodec"),
}


def family_names() -> list[str]:
    """Names of the learned codec families this build knows."""
    return sorted(_FAMILIES)


def family_of(name: str) -> ModuleType:
    """The module implementing a family; ``ModelError`` if unknown."""
    if name not in _FAMILIES:
        raise ModelError(f"unknown codec '{name}' (known: {', '.join(family_names())})")
    module = importlib.import_module(_FAMILIES[name][1])
    if module.FAMILY_ID != _FAMILIES[name][0]:
        raise RuntimeError(f"family id of {name} disagrees with the registry")
    return module


def family_name_of_id(family_id: int) -> str:
    """Family name for the id stored in a bitstream header."""
    for name, (fid, _module, _cls) in _FAMILIES.items():
        if fid == family_id:
            return name
    raise ModelError(f"bitstream was made by codec family id {family_id}, which this build does not know")


def model_path(family: str, quality: int, weights_dir: Path | None = None) -> Path:
    """Where the shipped model file of a rate point lives."""
    return (weights_dir or WEIGHTS_DIR) / f"{family}-q{quality}.pt"


def shipped_qualities(family: str, weights_dir: Path | None = None) -> list[int]:
    """Rate points of a family present in the weights folder, ascending."""
    family_of(family)
    found = []
    for p in (weights_dir or WEIGHTS_DIR).glob(f"{family}-q*.pt"):
        suffix = p.stem[len(family) + 2 :]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


@lru_cache(maxsize=8)
def _load_codec(path: str) -> Any:
    blob = load_model_file(path)
    family = blob.get("family")
    if family not in _FAMILIES:
        raise ModelError(f"{path}: unknown codec family {family!r}")
    codec_class = getattr(family_of(family), _FAMILIES[family][2])
    try:
        return codec_class(blob)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(f"model file {path} is damaged: {exc}") from None


def load_codec(family: str = DEFAULT_CODEC, quality: int | None = None, model_file: str | Path | None = None,
               weights_dir: Path | None = None) -> Any:
    """A ready codec: a shipped rate point, or any model file given by path."""
    if model_file is not None:
        return _load_codec(str(Path(model_file).resolve()))
    family_of(family)
    qualities = shipped_qualities(family, weights_dir)
    if quality is None:
        middle = qualities[len(qualities) // 2] if qualities else 0
        quality = DEFAULT_QUALITY if DEFAULT_QUALITY in qualities else middle
    path = model_path(family, quality, weights_dir)
    if not path.is_file():
        have = ", ".join(map(str, qualities)) or "none"
        raise ModelError(f"no shipped '{family}' model for quality {quality} (shipped qualities: {have})")
    return _load_codec(str(path))


def shipped_index(weights_dir: Path | None = None) -> dict[str, Any]:
    """Measured Kodak figures of the shipped rate points (``weights/index.json``), if recorded."""
    index = (weights_dir or WEIGHTS_DIR) / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}
