"""The codec-family contract: three kinds of family, each with only what it needs, and a registry per kind.

A family is a package ``neuralcodec/codecs/<name>/`` whose ``__init__`` declares a class of one of the kinds
below, decorated with :func:`register_family`, and is listed in :data:`neuralcodec.codecs.registry.FAMILY_MODULES`.
Every kind has ``name`` (what users type: ``--codec NAME``), ``family_id`` (the byte stored in every bitstream;
never reused) and the :class:`Option` s its encoder and decoder take (``encode_options``, ``decode_options``):
the command line and :mod:`neuralcodec.coding` build their flags, help and checks from those declarations.

- :class:`ImageFamily`: an image codec with trained, shipped model files (hyperprior, checkerboard, acgc, vq).
  ``build_net(**arch)`` is the training network (``forward(x)`` returns ``{"x_hat", "likelihoods"}``,
  ``aux_loss()`` a scalar); ``export`` / ``file_blob`` write a model file, ``load`` reads one into an
  :class:`ImageCodec`, ``float_state_dict`` gives the float weights back (warm starts).
- :class:`FittedFamily`: a codec whose model travels in the bitstream, fitted to each input at encode time
  (nerv; the overfitted image and video codecs): ``qualities`` are settings of the fit, not model files, and
  ``load_streams`` builds the exact decoder from a bitstream's streams.
- :class:`RefiningDecoder`: another decoding of other families' files (diffusion): it writes no files,
  ``decodes_families`` names whose files it refines, ``load`` returns the refiner of a model file.

The classes are light (no torch import at module level): the registry can answer "which family is id 1"
without loading any network code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn

from neuralcodec.errors import DecodeError

MediaKind = Literal["image", "video"]
FamilyKind = Literal["image", "fitted", "refiner"]
OWN_DECODER = "mse"  # ``--decoder`` value of a file's own decoder (the refining decoders are the others)


@dataclass(frozen=True)
class Option:
    """An option a family's encoder or decoder takes, e.g. vq's ``drop_rate`` (``--drop-rate 0.2``).

    ``parse`` turns the command line's text into the value (``ValueError`` with a message when it cannot);
    ``choices`` restricts it. Several families may declare the same name: the CLI shows one flag."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


class ImageCodec(Protocol):
    """A loaded rate point of an image family: uint8 RGB tensors ⇄ named entropy-coded streams."""

    family: type[CodecFamily]
    model_id: int
    quality: int
    weights_hash: bytes  # 4 bytes, stored in every bitstream it writes
    meta: dict[str, Any]

    def compress(self, image: Tensor, reconstruct: bool = False) -> tuple[dict[str, bytes], Tensor | None]:
        """Streams (by name, in ``family.stream_names`` order) of a uint8 (3, H, W) image, and optionally
        the exact reconstruction the decoder will output."""
        ...

    def decode_symbols(self, streams: dict[str, bytes], height: int, width: int) -> dict[str, np.ndarray]:
        """The entropy-decoded int32 symbols of every stream (exact on any machine)."""
        ...

    def decompress(self, streams: dict[str, bytes], height: int, width: int) -> Tensor:
        """uint8 (3, height, width) reconstruction."""
        ...

    def padded_pixels(self, height: int, width: int) -> int:
        """Pixels the transforms process for an image of this size (the work a decode costs)."""
        ...


class CodecFamily:
    """What every kind declares; see the module docstring."""

    kind: ClassVar[FamilyKind]
    name: ClassVar[str]
    family_id: ClassVar[int]
    media: ClassVar[MediaKind] = "image"
    stream_names: ClassVar[tuple[str, ...]] = ()
    encode_options: ClassVar[tuple[Option, ...]] = ()
    decode_options: ClassVar[tuple[Option, ...]] = ()
    # the whole decoder runs in exact integer arithmetic: a file decodes to the same pixels on every machine
    exact_pixels: ClassVar[bool] = False

    # --- streams ⇄ container chunks -------------------------------------------------------------------
    @classmethod
    def streams_from_chunks(cls, chunks: list[bytes]) -> dict[str, bytes]:
        """Name the container's chunks; ``DecodeError`` if their count is not the family's."""
        if len(chunks) != len(cls.stream_names):
            raise DecodeError(f"{cls.name} bitstream needs {len(cls.stream_names)} chunks, found {len(chunks)}")
        return dict(zip(cls.stream_names, chunks, strict=True))

    @classmethod
    def chunks_from_streams(cls, streams: dict[str, bytes]) -> list[bytes]:
        """The container's chunks, in ``stream_names`` order."""
        return [streams[name] for name in cls.stream_names]


@dataclass(frozen=True)
class RatePoint:
    """One row of a family's rate-point table: the λ its model is trained with (loss λ·255²·MSE + bpp), and
    what else sets the point apart (e.g. a codebook size)."""

    lmbda: float | None = None
    note: str = ""


class ModelFileFamily(CodecFamily):
    """A family whose models are files (trained, exported, loaded): the image families and refining decoders."""

    @classmethod
    def build_net(cls, **arch: Any) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def file_blob(cls, blob: dict[str, Any]) -> dict[str, Any]:
        """What is written to disk for an exported model (default: all of it). A family that extends a shipped
        model of another family may store only the difference (``model_file.delta_from_base``); loading
        merges it back (``registry.read_model_file``)."""
        return blob

    @classmethod
    def load(cls, blob: dict[str, Any]) -> Any:
        raise NotImplementedError

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError


class ImageFamily(ModelFileFamily):
    """An image codec with trained model files (one per rate point); ``load`` gives an :class:`ImageCodec`."""

    kind: ClassVar[FamilyKind] = "image"
    # quality → rate point: read by the trainer (a config names only its quality), ``codec list`` and the docs;
    # the model file of quality q is ``<name>-q<q>.pt`` (:func:`neuralcodec.codecs.registry.model_file_name`)
    rate_points: ClassVar[dict[int, RatePoint]] = {}
    # key prefixes of the training network that a warm start may lack (networks this family adds to the
    # family it is usually warm-started from); every other key must be present
    warm_start_missing: ClassVar[tuple[str, ...]] = ()


class FittedFamily(CodecFamily):
    """A codec whose model is fitted to each input at encode time and stored in its bitstream."""

    kind: ClassVar[FamilyKind] = "fitted"
    qualities: ClassVar[tuple[int, ...]]
    default_quality: ClassVar[int]

    @classmethod
    def build_net(cls, **arch: Any) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def load_streams(cls, streams: dict[str, bytes], height: int, width: int, frames: int) -> Any:
        """The exact decoder of a bitstream's streams (size and length come from its header)."""
        raise NotImplementedError

    @classmethod
    def streams_hash(cls, streams: dict[str, bytes]) -> bytes:
        """The 4-byte weights hash its containers carry: SHA-256 of the streams in declared order."""
        import hashlib

        return hashlib.sha256(b"".join(streams[name] for name in cls.stream_names)).digest()[:4]


class RefiningDecoder(ModelFileFamily):
    """Another decoding of other families' files; writes no files of its own (``family_id`` names its models)."""

    kind: ClassVar[FamilyKind] = "refiner"
    decodes_families: ClassVar[tuple[str, ...]]
    summary: ClassVar[str]  # what it does, for --decoder's help


def whole_number(text: str) -> int:
    """Option parser: a non-negative whole number."""
    if not text.strip().isdigit():
        raise ValueError(f"must be a non-negative whole number, not {text!r}")
    return int(text)


def number_in(low: float, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False) -> Callable[[str], float]:
    """Option parser factory: a number in the given range (``high=None``: no upper bound)."""
    left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
    span = f"{left}{low:g}, {'∞' if high is None else f'{high:g}'}{right}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
        if not inside:  # NaN fails every comparison, so it lands here too
            raise ValueError(f"must be a number in {span}, not {text!r}")
        return value

    return parse


# The ranges the families' options use.
share = number_in(0.0, 1.0, high_open=True)
fraction = number_in(0.0, 1.0)
positive_number = number_in(0.0, None, low_open=True)


def positive_whole_number(text: str) -> int:
    """Option parser: a whole number of at least 1."""
    value = whole_number(text)
    if value < 1:
        raise ValueError(f"must be at least 1, not {text!r}")
    return value


def whole_number_in(low: int, high: int) -> Callable[[str], int]:
    """Option parser factory: a whole number from ``low`` to ``high``."""
    def parse(text: str) -> int:
        value = int(text) if text.strip().isdigit() else None
        if value is None or not low <= value <= high:
            raise ValueError(f"must be a whole number {low}…{high}, not {text!r}")
        return value

    return parse


# One registry per kind; bitstream ids are unique across all of them.
REGISTRIES: dict[FamilyKind, dict[str, type[CodecFamily]]] = {"image": {}, "fitted": {}, "refiner": {}}


def register_family(cls: type[CodecFamily]) -> type[CodecFamily]:
    """Class decorator: add a family to its kind's registry (names and bitstream ids must be unique)."""
    for attr in ("kind", "name", "family_id"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} does not declare {attr}")
    if not 1 <= cls.family_id <= 255:
        raise ValueError(f"{cls.name}: family id must fit one byte (1…255)")
    for registry in REGISTRIES.values():
        for other in registry.values():
            if other is not cls and (other.name == cls.name or other.family_id == cls.family_id):
                raise ValueError(f"{cls.name} (id {cls.family_id}) clashes with {other.name} (id {other.family_id})")
    REGISTRIES[cls.kind][cls.name] = cls
    return cls
