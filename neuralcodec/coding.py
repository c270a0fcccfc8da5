"""Image ⇄ container bytes for any codec family: the one path the CLI, evaluation and tests share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuralcodec.bitstream import Header, pack, unpack
from neuralcodec.codecs.family import OWN_DECODER, ImageCodec, ImageFamily
from neuralcodec.codecs.registry import DEFAULT_CODEC, family_of_id, load_codec, model_file_name
from neuralcodec.errors import DecodeError, InputError, ModelError
from neuralcodec.image_io import ImageInfo, alpha_plane, read_image, read_image_bytes

if TYPE_CHECKING:
    from torch import Tensor


@dataclass
class Encoded:
    """A finished bitstream and what the decoder will reconstruct from it."""

    data: bytes
    header: Header
    reconstruction: Tensor | None  # uint8 (3, H, W) that decoding ``data`` gives, when asked for


def encode_tensor(image: Tensor, info: ImageInfo, codec: ImageCodec, reconstruct: bool = False) -> Encoded:
    """Code a uint8 RGB tensor with a loaded codec into container bytes (and its reconstruction if asked)."""
    streams, recon = codec.compress(image, reconstruct=reconstruct)
    header = Header(
        family_id=codec.family.family_id, model_id=codec.model_id, rate_point=codec.quality,
        weights_hash=codec.weights_hash, height=image.shape[1], width=image.shape[2],
        channels=info.channels, bit_depth=info.bit_depth, icc_profile=info.icc_profile, alpha=info.alpha,
    )
    return Encoded(pack(header, codec.family.chunks_from_streams(streams)), header, recon)


def encode_file(path: str | Path | bytes, codec_name: str | None = None, quality: int | None = None,
                model_file: str | Path | None = None, reconstruct: bool = False,
                max_pixels: int | None = None, options: dict[str, Any] | None = None,
                checkpoint: Path | None = None, report: Callable[[dict[str, float]], None] | None = None,
                trainer_args: dict[str, Any] | None = None) -> Encoded:
    """Read an image file (or an image file's bytes, e.g. from stdin) and code it.

    ``max_pixels`` refuses (``InputError``) an image of more pixels (width × height as read) before the
    model loads: encoding time and memory grow with the pixel count. ``options``, ``checkpoint``, ``report``
    and ``trainer_args`` are for fitted families (:func:`encode_fitted_tensor`). ``codec_name`` defaults to
    the model file's family with ``model_file``, else to the default codec; given with a model file of another
    family, it is a ``ModelError``.
    """
    from neuralcodec.codecs.registry import get_family

    named = codec_name
    codec_name = codec_name or DEFAULT_CODEC
    image, info = read_image_bytes(path) if isinstance(path, bytes) else read_image(path)
    height, width = image.shape[1], image.shape[2]
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(f"image of {width}×{height} ({width * height} pixels) exceeds the limit of "
                         f"{max_pixels} pixels")
    if get_family(codec_name).kind == "fitted":
        if model_file is not None:
            raise InputError(f"{codec_name} fits its model to each image: it takes no model file")
        return encode_fitted_tensor(image, info, codec_name, quality, options, checkpoint, report, trainer_args)
    if options:
        raise InputError(f"{option_flags(sorted(options))}: not an option of {codec_name}")
    codec = load_codec(codec_name, quality, model_file)
    if model_file is not None and named is not None and codec.family.name != named:
        raise ModelError(f"model file {Path(model_file).name} holds a {codec.family.name} model, not {named}")
    return encode_tensor(image, info, codec, reconstruct)


def encode_fitted_tensor(image: Tensor, info: ImageInfo, codec_name: str, quality: int | None = None,
                         options: dict[str, Any] | None = None, checkpoint: Path | None = None,
                         report: Callable[[dict[str, float]], None] | None = None,
                         trainer_args: dict[str, Any] | None = None) -> Encoded:
    """Code a uint8 RGB tensor with a fitted family (a model fitted to this image: minutes, not seconds).

    ``options`` are the family's encode options (e.g. ``preset``, ``iterations``, ``time_budget``);
    ``checkpoint`` is resumed from and written during the fit (the caller removes it once the file is
    written); ``report`` receives the fit's progress."""
    from neuralcodec.codecs.registry import fitted_family
    from neuralcodec.training.fitting import image_fitter

    family = fitted_family(codec_name)
    if family.media != "image":
        raise InputError(f"{family.name} codes videos, not images")
    quality = family.default_quality if quality is None else quality
    if quality not in family.qualities:
        raise InputError(f"{family.name} quality must be one of {', '.join(map(str, family.qualities))} "
                         f"(got {quality})")
    options = dict(options or {})
    unknown = sorted(set(options) - {option.name for option in family.encode_options})
    if unknown:
        raise InputError(f"{option_flags(unknown)}: not an option of {family.name}")
    header = Header(family_id=family.family_id, model_id=0, rate_point=quality, weights_hash=b"\0" * 4,
                    height=image.shape[1], width=image.shape[2], channels=info.channels, bit_depth=info.bit_depth,
                    icc_profile=info.icc_profile, alpha=info.alpha)
    try:
        header.check()
    except DecodeError as exc:
        raise InputError(str(exc)) from None
    fitted = image_fitter(family.name)(image, quality=quality, checkpoint=checkpoint, report=report,
                                       trainer_args=trainer_args, **options)
    header = Header(**{**header.__dict__, "weights_hash": family.streams_hash(fitted.streams)})
    return Encoded(pack(header, family.chunks_from_streams(fitted.streams)), header, fitted.reconstruction)


def load_codec_for(header: Header, model_file: str | Path | None = None) -> ImageCodec:
    """The codec that made a bitstream: its shipped model file (or ``model_file``), checked against the
    header's model id and weights hash. The error for a missing or different model names the file needed."""
    family = family_of_id(header.family_id)
    needed = model_file_name(family.name, header.rate_point, header.model_id)
    what = (f"{family.name} model {header.model_id} rate point q{header.rate_point}, "
            f"weights {header.weights_hash.hex()}")
    try:
        codec = load_codec(family.name, None if model_file else header.rate_point, model_file,
                           model_id=header.model_id)
    except ModelError as exc:
        if model_file is not None:
            raise
        raise ModelError(f"this bitstream needs model file {needed} ({what}), which is not installed: "
                         f"{exc}; pass it with --model") from None
    if codec.model_id != header.model_id or codec.weights_hash != header.weights_hash:
        raise DecodeError(
            f"bitstream was encoded with {what} (model file {needed}), but the "
            f"{'given' if model_file else 'installed'} model has weights {codec.weights_hash.hex()}: decoding "
            "with different weights is refused")
    return codec


def decode_bytes(data: bytes, model_file: str | Path | None = None, max_pixels: int | None = None,
                 options: dict[str, Any] | None = None) -> tuple[Tensor, Header]:
    """Reconstruction (uint8 RGB) and header of a container; only ``DecodeError``/``ModelError`` escape.

    ``max_pixels`` lowers the format's size limit for untrusted input: decoding time and memory grow with
    the pixel count the header claims, so a service can refuse large claims before any work is done.
    ``options`` are decoder options of the file's family (its codec's ``decode_options``, e.g. the ``vq``
    family's ``drop_rate``, ``seed`` and ``recovery``); one the family does not have is a ``DecodeError``.
    """
    header, chunks = unpack(data)
    if header.is_video:
        raise DecodeError("this bitstream holds a video: decode it with 'codec decode FILE -o out.y4m' "
                          "(neuralcodec.video_coding.decode_video)")
    family = family_of_id(header.family_id)
    if family.media != "image":
        raise DecodeError(f"{family.name} bitstreams are videos, but the header claims an image")
    if header.alpha:  # a damaged alpha plane fails before any network runs
        alpha_plane(header.alpha, header.width, header.height)
    streams = family.streams_from_chunks(chunks)
    if family.kind == "fitted":
        return _decode_fitted(family, header, streams, model_file, max_pixels, options), header
    codec = load_codec_for(header, model_file)
    # the limit applies to what the decoder will process: the size after the codec's padding
    work = codec.padded_pixels(header.height, header.width)
    if max_pixels is not None and work > max_pixels:
        raise DecodeError(f"image of {header.width}×{header.height} ({work} pixels after padding) exceeds "
                          f"the limit of {max_pixels} pixels")
    options, refiner, refine_options = _split_options(dict(options or {}), family, header.rate_point)
    image = codec.decompress(streams, header.height, header.width, **options)
    if refiner is not None:
        image = refiner.refine(image, family.name, header.rate_point, **refine_options)
    return image, header


def check_decode_request(header: Header, model_file: str | Path | None = None, max_pixels: int | None = None,
                         options: dict[str, Any] | None = None) -> None:
    """Refuse, from an image file's header alone, what :func:`decode_bytes` would refuse after loading torch and
    a model: options that neither the file's family nor the chosen decoder has, a decoder that does not serve
    the family, a model file for a file that carries its own, and more than ``max_pixels`` pixels."""
    family = family_of_id(header.family_id)
    if header.is_video or family.media != "image":
        return
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise DecodeError(f"image of {header.width}×{header.height} exceeds the limit of {max_pixels} pixels")
    if header.alpha:  # a damaged alpha plane fails before any network runs
        alpha_plane(header.alpha, header.width, header.height)
    if family.kind == "fitted":
        _check_fitted_options(family, model_file, options)
    else:
        _route_options(dict(options or {}), family)


def _check_fitted_options(family: Any, model_file: str | Path | None, options: dict[str, Any] | None) -> None:
    if model_file is not None:
        raise ModelError(f"{family.name} files carry their own model: no model file is needed")
    stray = sorted(name for name, value in (options or {}).items()
                   if not (name == "decoder" and value in (None, OWN_DECODER)) and value is not None)
    if stray:
        raise DecodeError(f"{option_flags(stray)}: not an option of {family.name} files")


def _decode_fitted(family: Any, header: Header, streams: dict[str, bytes], model_file: str | Path | None,
                   max_pixels: int | None, options: dict[str, Any] | None) -> Tensor:
    """The exact decoding of a fitted family's image file (its model is in the file)."""
    _check_fitted_options(family, model_file, options)
    if header.model_id != 0:
        raise DecodeError(f"{family.name} model id {header.model_id} is unknown to this build (it reads 0)")
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise DecodeError(f"image of {header.width}×{header.height} exceeds the limit of {max_pixels} pixels")
    if family.streams_hash(streams) != header.weights_hash:
        raise DecodeError(f"{family.name} bitstream's weights hash does not match its streams")
    return family.load_streams(streams, header.height, header.width, 0).decompress()


def option_flags(names: list[str]) -> str:
    """Option names as the command line spells them: ``drop_rate`` → ``--drop-rate``."""
    return ", ".join("--" + name.replace("_", "-") for name in names)


def _route_options(options: dict[str, Any], family: type[ImageFamily]
                   ) -> tuple[dict[str, Any], str | None, dict[str, Any], str | None]:
    """(the file family's own options, the refining decoder's name or None, its options, its model file), checked
    without loading anything.

    ``decoder`` is :data:`OWN_DECODER` (the default) or a refining decoder's name, ``decoder_model`` its model
    file (default: the installed one). An option both declare (e.g. ``seed``) goes to both; one that neither the
    file's family nor the chosen decoder declares is a ``DecodeError``; a decoder that does not serve the family
    is a ``ModelError``."""
    from neuralcodec.codecs.registry import family_names, refining_decoder

    decoder = options.pop("decoder", OWN_DECODER)
    model = options.pop("decoder_model", None)
    own = {option.name for option in family.decode_options}
    refiners = family_names("refiner")
    if decoder == OWN_DECODER:
        stray = sorted(set(options) - own) + (["decoder_model"] if model else [])
        if stray:
            theirs = {option.name for name in refiners for option in refining_decoder(name).decode_options}
            if set(stray) <= theirs | {"decoder_model"}:
                raise DecodeError(f"{option_flags(stray)} need --decoder {' or '.join(refiners)}")
            raise DecodeError(f"{option_flags(stray)}: not an option of {family.name} files")
        return options, None, {}, None
    if decoder not in refiners:
        raise DecodeError(f"unknown decoder {decoder!r} (known: {', '.join([OWN_DECODER, *refiners])})")
    served = refining_decoder(decoder).decodes_families
    if family.name not in served:
        raise ModelError(f"there is no {decoder} decoder for {family.name} files (it decodes {', '.join(served)})")
    theirs = {option.name for option in refining_decoder(decoder).decode_options}
    refine = {name: options[name] for name in options if name in theirs}
    options = {name: value for name, value in options.items() if name in own or name not in theirs}
    unknown = sorted(set(options) - own)
    if unknown:
        raise DecodeError(f"{option_flags(unknown)}: not an option of {family.name} files")
    return options, decoder, refine, model


def _split_options(options: dict[str, Any], family: type[ImageFamily], quality: int
                   ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(the file family's own options, the loaded refining decoder or None, its options): :func:`_route_options`,
    then the decoder's model, which must have a noise level for this rate point."""
    from neuralcodec.codecs.registry import load_decoder

    options, decoder, refine, model = _route_options(options, family)
    if decoder is None:
        return options, None, {}
    refiner = load_decoder(decoder, family.name, model)
    if not refiner.supports(family.name, quality):
        raise DecodeError(f"the {decoder} decoder has no timestep for {family.name} rate point {quality}")
    return options, refiner, refine
