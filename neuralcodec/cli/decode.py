"""``codec decode``: image bitstreams (one, a batch, or stdin) and video bitstreams.

Decode a neuralcodec bitstream. The output format follows the file suffix (PNG by default); a video bitstream is
written as .y4m, .yuv, .mp4, .mkv, .webm, .avi, .mov, or PNG frames into a folder (an output without a suffix). The
model that encoded the file must be installed. '-' reads the bitstream from stdin / writes the image to stdout (the
status line then goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neuralcodec.bitstream import MAX_PIXELS
from neuralcodec.cli.common import (
    STDIN_NAME,
    STDOUT_NAME,
    add_batch_arguments,
    add_decoder_arguments,
    check_output,
    check_stdout,
    decode_options,
    dispatch,
    pixel_count,
    read_stdin,
    same_file,
    take_inputs,
    write_stdout,
)
from neuralcodec.errors import InputError


def _decode_one(src: Path | None, dst: Path | None, args: argparse.Namespace) -> str:
    from neuralcodec.bitstream import unpack
    from neuralcodec.image_io import check_input_file, output_format

    data = read_stdin("a bitstream") if src is None else None
    if src is not None:
        check_input_file(src, "a bitstream")
    if dst is None:
        check_stdout()
        out_name = f"{STDOUT_NAME}.{args.format}"  # '-o -' writes --format (PNG by default)
    else:
        check_output(dst)
        if src is not None and same_file(src, dst):
            raise InputError("output would overwrite the input")
        out_name = str(dst) if dst.suffix else f"{dst}.{args.format}"  # no suffix (/dev/null): --format's
        if args.format_given and output_format(out_name) != output_format(f"image.{args.format}"):
            raise InputError(f"--format {args.format} conflicts with the output's suffix {dst.suffix}: the suffix "
                             "picks a named file's format (give one of them)")
    output_format(out_name)  # an unwritable suffix fails before any decoding
    if data is None:
        data = src.read_bytes()
    header, _ = unpack(data)  # a malformed container fails before torch and the model load
    from neuralcodec.coding import check_decode_request, decode_bytes

    check_decode_request(header, args.model, args.max_pixels, decode_options(args))  # so do wrong options
    from neuralcodec.image_io import atomic_write, encode_image_bytes, to_pil

    t0 = time.perf_counter()
    image, header = decode_bytes(data, args.model, args.max_pixels, decode_options(args))
    seconds = time.perf_counter() - t0
    encoded = encode_image_bytes(to_pil(image, header.channels, header.icc_profile, header.alpha), out_name)
    if dst is None:
        write_stdout(encoded)
    else:
        atomic_write(dst, encoded)
    return (f"{STDIN_NAME if src is None else src} -> {STDOUT_NAME if dst is None else dst}: "
            f"{header.width}x{header.height}, {seconds:.2f} s")


VIDEO_OUTPUT_HINT = ".y4m, .yuv, .mp4, .mkv, .webm, .avi, .mov, or a folder for PNG frames"


def _decode_video(src: Path, data: bytes, args: argparse.Namespace) -> int:
    """``codec decode CLIP.bin -o out.y4m`` (or .yuv, .mp4, ... or a folder of PNG frames)."""
    from fractions import Fraction

    from neuralcodec.batch import names_folder
    from neuralcodec.video_coding import video_decoder
    from neuralcodec.video_io import VIDEO_SUFFIXES, open_writer

    if args.output == "-":
        raise InputError(f"this bitstream is a video: give an output file ({VIDEO_OUTPUT_HINT})")
    if args.model is not None:
        raise InputError("--model is for image codecs: a video bitstream carries its own network")
    if decode_options(args):
        from neuralcodec.coding import option_flags

        raise InputError(f"{option_flags(list(decode_options(args)))}: not an option of video bitstreams")
    dst = Path(args.output)
    folder = names_folder(args.output)  # 'frames.v1/' is a folder of PNG frames whatever its dots
    suffix = "" if folder else dst.suffix.lower()
    if suffix and suffix not in VIDEO_SUFFIXES:
        raise InputError(f"this bitstream is a video: {dst.name} is not a video output ({VIDEO_OUTPUT_HINT})")
    if not dst.parent.is_dir():
        raise InputError(f"output folder does not exist: {dst.parent}")
    if same_file(src, dst):
        raise InputError("output would overwrite the input")
    t0 = time.perf_counter()
    header, decoder = video_decoder(data, max_pixels=args.max_pixels)
    fps = Fraction(header.fps_num, header.fps_den)
    with open_writer(str(dst) + ("/" if folder else ""), header.width, header.height, fps) as writer:
        for frame in decoder.frames():
            writer.write_rgb(frame.permute(1, 2, 0).numpy())
    seconds = time.perf_counter() - t0
    from neuralcodec.image_io import is_special_output

    print(f"{src} -> {dst}: {header.frames} frames of {header.width}x{header.height}, {seconds:.2f} s "
          f"({header.frames / seconds:.1f} frames/s)",
          file=sys.stderr if is_special_output(dst) else sys.stdout)  # '-o /dev/stdout' carries the frames
    return 0


def run(args: argparse.Namespace) -> int:
    from neuralcodec.batch import BITSTREAM_SUFFIX, STDIO, is_batch_spec
    from neuralcodec.image_io import output_format

    take_inputs(args)
    if not args.inputs and args.input != STDIO and not is_batch_spec(args.input) and Path(args.input).is_file():
        from neuralcodec.bitstream import unpack
        from neuralcodec.image_io import check_input_file

        data = check_input_file(args.input, "a bitstream").read_bytes()
        if unpack(data)[0].is_video:
            return _decode_video(Path(args.input), data, args)
    args.format_given = args.format is not None
    args.format = args.format or "png"
    output_format(f"image.{args.format}")

    return dispatch(args, _decode_one, {BITSTREAM_SUFFIX}, f".{args.format}", "decode")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decompress a .bin to an image (or video) file",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("input", nargs="+", metavar="INPUT",
                   help="bitstream file, '-' for stdin, folder of .bin files, or quoted glob (a path that exists is "
                   "taken literally, even with [ ? * in its name); several inputs are a batch")
    p.add_argument("-o", "--output", required=True,
                   help="image file to write (its suffix picks the format; an unwritable one is an error), '-' for "
                   "stdout, or a folder: an existing one or one ending in '/' (created if missing) gets INPUT's "
                   "name with the --format suffix; the output folder in batch mode (outputs are replaced atomically)")
    p.add_argument("--max-pixels", type=pixel_count, default=None, metavar="N",
                   help="refuse files that claim more than N pixels (after padding) before decoding (for untrusted "
                   f"input; default: the format's limit, {MAX_PIXELS} = 2^26 pixels)")
    p.add_argument("--format", default=None,
                   help="image format (file suffix) of batch outputs, of '-o -', of '-o FOLDER/' and of an output "
                   "without a suffix (such as /dev/null); default png. A named file's suffix picks its own format")
    p.add_argument("--model", default=None, help="model file to decode with (must be the one that encoded it)")
    add_batch_arguments(p)
    add_decoder_arguments(p)
    p.set_defaults(func=run)
