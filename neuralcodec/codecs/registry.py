"""Codec families and the model files shipped inside the package.

Families register themselves (:func:`neuralcodec.codecs.family.register_family`) in the modules listed in
:data:`FAMILY_MODULES`; names and bitstream ids come from those declarations only.

Shipped model files live in ``neuralcodec/weights/``: ``<family>-q<N>.pt`` for model id 0 and
``<family>-m<ID>-q<N>.pt`` for later model ids. A shipped file is never replaced in place: a better model
ships under a new model id, so every bitstream ever written still finds the exact weights it was made
with. ``weights/index.json`` carries the measured figures of the default files.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from neuralcodec.codecs.family import (
    REGISTRIES,
    CodecFamily,
    FamilyKind,
    FittedFamily,
    ImageCodec,
    ImageFamily,
    RefiningDecoder,
)
from neuralcodec.errors import ModelError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_CODEC = "hyperprior"  # for images
DEFAULT_QUALITY = 3
DEFAULT_VIDEO_CODEC = "nerv"  # for videos
# Modules declaring families (light: declarations import their networks only when used).
FAMILY_MODULES = (
    "neuralcodec.codecs.hyperprior", "neuralcodec.codecs.checkerboard", "neuralcodec.codecs.acgc",
    "neuralcodec.codecs.nerv", "neuralcodec.codecs.vq", "neuralcodec.codecs.diffusion", "neuralcodec.codecs.coolchic",
)


def _registries() -> dict[FamilyKind, dict[str, type[CodecFamily]]]:
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    return REGISTRIES


def _families() -> dict[str, type[CodecFamily]]:
    """Every family of every kind, by name."""
    return {name: family for registry in _registries().values() for name, family in registry.items()}


def family_names(kind: FamilyKind | None = None) -> list[str]:
    """Names of the families this build knows (of one kind, if given)."""
    return sorted(_families() if kind is None else _registries()[kind])


def file_family_names() -> list[str]:
    """Names of the families that write bitstreams (image and fitted families; not the refining decoders)."""
    return sorted([*_registries()["image"], *_registries()["fitted"]])


def get_family(name: str) -> type[CodecFamily]:
    """A family of any kind by name; ``ModelError`` if unknown."""
    families = _families()
    if name not in families:
        raise ModelError(f"unknown codec '{name}' (known: {', '.join(sorted(families))})")
    return families[name]


def image_family(name: str) -> type[ImageFamily]:
    """An image family with model files; ``ModelError`` naming what ``name`` is otherwise."""
    family = get_family(name)
    if not issubclass(family, ImageFamily):
        if issubclass(family, RefiningDecoder):
            raise ModelError(f"{name} is a decoder for {', '.join(family.decodes_families)} files, not a codec: "
                             f"use 'codec decode FILE --decoder {name}'")
        raise ModelError(f"{name} fits a model to each input and has no model files")
    return family


def fitted_family(name: str) -> type[FittedFamily]:
    """A family fitted at encode time; ``ModelError`` if ``name`` is another kind."""
    family = get_family(name)
    if not issubclass(family, FittedFamily):
        raise ModelError(f"{name} is not fitted at encode time")
    return family


def refining_decoder(name: str) -> type[RefiningDecoder]:
    """A decoder of other families' files; ``ModelError`` if ``name`` is another kind."""
    family = get_family(name)
    if not issubclass(family, RefiningDecoder):
        raise ModelError(f"{name} is not a decoder of other families' files")
    return family


def family_of_id(family_id: int) -> type[CodecFamily]:
    """The family whose bitstreams carry this id."""
    for family in _families().values():
        if family.family_id == family_id:
            return family
    raise ModelError(f"bitstream was made by codec family id {family_id}, which this build does not know")


def family_name_of_id(family_id: int) -> str:
    """Family name for the id stored in a bitstream header."""
    return family_of_id(family_id).name


def model_file_name(family: str, quality: int, model_id: int = 0) -> str:
    """File name of a shipped model: ``hyperprior-q3.pt``, ``hyperprior-m1-q3.pt``."""
    return f"{family}-q{quality}.pt" if model_id == 0 else f"{family}-m{model_id}-q{quality}.pt"


def model_path(family: str, quality: int, weights_dir: Path | None = None, model_id: int = 0) -> Path:
    """Where the shipped model file of a rate point lives."""
    return (weights_dir or WEIGHTS_DIR) / model_file_name(family, quality, model_id)


def shipped_qualities(family: str, weights_dir: Path | None = None, model_id: int = 0) -> list[int]:
    """Rate points of a family's model present in the weights folder, ascending."""
    get_family(family)
    prefix = f"{family}-q" if model_id == 0 else f"{family}-m{model_id}-q"
    found = []
    for p in (weights_dir or WEIGHTS_DIR).glob(f"{prefix}*.pt"):
        suffix = p.stem[len(prefix) :]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


def read_model_file(path: str | Path, weights_dir: Path | None = None) -> dict[str, Any]:
    """A model file as one full model: a file that extends a shipped model (``base``) is merged with it.

    ``ModelError`` names the exact base file when it is missing or holds other weights."""
    from neuralcodec.codecs.model_file import BASE_KEY, load_model_file, merge_with_base, weights_hash

    blob = load_model_file(path)
    ref = blob.get(BASE_KEY)
    if ref is None:
        return blob
    try:
        base_path = model_path(str(ref["family"]), int(ref["quality"]), weights_dir, int(ref["model_id"]))
        wanted = str(ref["weights_hash"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"model file {path} is damaged: malformed base reference") from None
    if not base_path.is_file():
        raise ModelError(f"model file {path} extends {base_path.name} (weights {wanted}), which is not installed")
    base = load_model_file(base_path)
    if weights_hash(base).hex() != wanted:
        raise ModelError(f"model file {path} extends {base_path.name} with weights {wanted}, but the installed "
                         f"file has weights {weights_hash(base).hex()}")
    return merge_with_base(blob, base)


# Entries a model file derives from its weights at export (integer tables, medians): computed in floating point,
# so two exports of the same weights on different machines may differ in a count or two.
DERIVED_KEYS = ("z_medians", "z_tables", "scale_table", "scale_thresholds", "y_tables")


def with_base_tables(blob: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``blob`` with ``base``'s derived tables when every network weight of ``base`` is in ``blob`` unchanged (a
    model trained with the base frozen): the base's stored tables are the ones its weights stand for."""
    from neuralcodec.codecs.model_file import same_entry

    weights, base_weights = blob.get("weights", {}), base.get("weights", {})
    frozen = all(k in weights and same_entry(v, weights[k]) for k, v in base_weights.items())
    for key in ("hyper_q", "hyper_exp"):
        frozen = frozen and key in blob and all(k in blob[key] and same_entry(v, blob[key][k])
                                                for k, v in base.get(key, {}).items())
    if not frozen:
        return blob
    return {**blob, **{k: base[k] for k in DERIVED_KEYS if k in base and k in blob}}


def delta_on_shipped(blob: dict[str, Any], base_family: str, weights_dir: Path | None = None) -> dict[str, Any]:
    """``blob`` stored as a delta on the shipped ``base_family`` model of its rate point when it contains
    that model exactly (e.g. a context model trained with the hyperprior's transforms frozen); else ``blob``."""
    from neuralcodec.codecs.model_file import delta_from_base, load_model_file, weights_hash

    path = model_path(base_family, int(blob["quality"]), weights_dir)
    if not path.is_file():
        return blob
    base = load_model_file(path)
    blob = with_base_tables(blob, base)
    ref = {"family": base_family, "model_id": int(base["model_id"]), "quality": int(base["quality"]),
           "weights_hash": weights_hash(base).hex()}
    delta = delta_from_base(blob, base, ref)
    return blob if delta is None else delta


@lru_cache(maxsize=8)
def _load_codec(path: str) -> ImageCodec:
    blob = read_model_file(path)
    family = blob.get("family")
    if family not in _families():
        raise ModelError(f"{path}: unknown codec family {family!r}")
    try:
        return get_family(family).load(blob)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(f"model file {path} is damaged: {exc}") from None


def load_codec(family: str = DEFAULT_CODEC, quality: int | None = None, model_file: str | Path | None = None,
               weights_dir: Path | None = None, model_id: int = 0) -> ImageCodec:
    """A ready codec: a shipped rate point, or any model file given by path (then ``quality`` must be None)."""
    if model_file is not None:
        if quality is not None:
            raise ModelError("a model file has its own rate point: give either a quality or a model file")
        codec = _load_codec(str(Path(model_file).resolve()))
        image_family(codec.family.name)
        return codec
    image_family(family)
    qualities = shipped_qualities(family, weights_dir, model_id)
    if quality is None and not qualities:
        raise ModelError(f"no shipped '{family}' rate points: give a model file")
    if quality is None:
        middle = qualities[len(qualities) // 2] if qualities else 0
        quality = DEFAULT_QUALITY if DEFAULT_QUALITY in qualities else middle
    path = model_path(family, quality, weights_dir, model_id)
    if not path.is_file():
        have = ", ".join(map(str, qualities)) or "none"
        raise ModelError(f"no shipped '{family}' model {path.name} for quality {quality} "
                         f"(shipped qualities: {have})")
    return _load_codec(str(path))


def load_decoder(name: str, for_family: str, model_file: str | Path | None = None) -> Any:
    """A generative decoder (a family with ``decodes_families``, e.g. ``diffusion``) for files of ``for_family``:
    its shipped model file, or ``model_file``. ``ModelError`` when it does not decode that family or is not
    installed."""
    decoder = refining_decoder(name)
    if for_family not in decoder.decodes_families:
        raise ModelError(f"there is no {name} decoder for {for_family} files"
                         + (f" (it decodes {', '.join(decoder.decodes_families)})" if decoder.decodes_families else ""))
    if model_file is not None:
        loaded = _load_codec(str(Path(model_file).resolve()))
        if loaded.family is not decoder:
            raise ModelError(f"{model_file} is a {loaded.family.name} model, not a {name} decoder")
        return loaded
    qualities = shipped_qualities(name)
    if not qualities:
        raise ModelError(f"no {name} decoder model is installed: give one with --decoder-model FILE")
    return _load_codec(str(model_path(name, qualities[0])))


def shipped_index(weights_dir: Path | None = None) -> dict[str, Any]:
    """Measured Kodak figures of the shipped rate points (``weights/index.json``), if recorded."""
    index = (weights_dir or WEIGHTS_DIR) / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}
