"""The codec-family contract: what every family (image or video) provides, and its registry.

A family is a class derived from :class:`CodecFamily` and decorated with :func:`register_family`, in a
module listed in :data:`neuralcodec.codecs.registry.FAMILY_MODULES`. It declares:

- ``name`` (what users type: ``--codec NAME``), ``family_id`` (the byte stored in every bitstream; never
  reused), ``media`` (``"image"`` or ``"video"``) and ``stream_names`` (the named entropy-coded streams of
  its bitstreams, stored as the container's chunks in this order);
- ``build_net(**arch)``: the training network. Its ``forward(x, autocast_bf16=False)`` returns
  ``{"x_hat": ..., "likelihoods": {name: tensor}}`` and ``aux_loss()`` a scalar (parameters named
  ``*.quantiles`` are trained by the aux loss only, CompressAI's convention);
- ``export(net, quality, meta)``: the compact model-file dict of a trained network; ``file_blob(blob)`` what
  of it is written to disk (all, unless the family stores a difference to a shipped model it extends);
- ``load(blob)``: the runtime codec (an :class:`ImageCodec`) from a model-file dict;
- ``float_state_dict(blob)``: the training network's float32 state from a model file (warm starts);
  ``warm_start_missing`` names the parts a warm start from another family may lack (e.g. a context model
  warm-started from a hyperprior of the same λ).

Two variants are declared, not yet used by a shipped family:

- ``model_in_bitstream = True``: the model is coded inside each bitstream (an INR video codec such as
  NeRV): there is no model file, ``load`` is given the decoded model stream instead;
- ``decodes_families = ("other", …)``: an alternative decoder for other families' bitstreams (the diffusion
  decoder for hyperprior files, chosen with ``--decoder``); it never writes files of its own, so its
  ``family_id`` is only used for the registry and its model files, and its ``load`` returns a decoder that
  refines the base family's decoding instead of an :class:`ImageCodec`.

The classes are light (no torch import at module level): the registry can answer "which family is id 1"
without loading any network code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn

from neuralcodec.errors import DecodeError

MediaKind = Literal["image", "video"]


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
    """Base class of codec families; see the module docstring for the contract."""

    name: ClassVar[str]
    family_id: ClassVar[int]
    media: ClassVar[MediaKind] = "image"
    stream_names: ClassVar[tuple[str, ...]]
    model_in_bitstream: ClassVar[bool] = False
    decodes_families: ClassVar[tuple[str, ...]] = ()
    # key prefixes of the training network that a warm start may lack (networks this family adds to the
    # family it is usually warm-started from); every other key must be present
    warm_start_missing: ClassVar[tuple[str, ...]] = ()

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
    def load(cls, blob: dict[str, Any]) -> ImageCodec:
        raise NotImplementedError

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError

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


FAMILIES: dict[str, type[CodecFamily]] = {}


def register_family(cls: type[CodecFamily]) -> type[CodecFamily]:
    """Class decorator: add a family to the registry (names and bitstream ids must be unique)."""
    for attr in ("name", "family_id", "stream_names"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} does not declare {attr}")
    if not 1 <= cls.family_id <= 255:
        raise ValueError(f"{cls.name}: family id must fit one byte (1…255)")
    for other in FAMILIES.values():
        if other is not cls and (other.name == cls.name or other.family_id == cls.family_id):
            raise ValueError(f"{cls.name} (id {cls.family_id}) clashes with {other.name} (id {other.family_id})")
    FAMILIES[cls.name] = cls
    return cls
