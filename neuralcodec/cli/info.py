"""``codec info``: every container field of a bitstream.

Parse a bitstream, verify its CRC32 and print every container field.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralcodec.cli.common import (
    STDIN_NAME,
    read_stdin,
)
from neuralcodec.errors import InputError


def run(args: argparse.Namespace) -> int:
    from neuralcodec.batch import STDIO
    from neuralcodec.bitstream import unpack
    from neuralcodec.bitstream.container import COLOUR_FORMATS
    from neuralcodec.codecs.registry import family_name_of_id, get_family
    from neuralcodec.errors import ModelError

    if args.input == STDIO:
        src, data = STDIN_NAME, read_stdin("a bitstream")
    else:
        src = Path(args.input)
        if not src.is_file():
            raise InputError(f"input file not found: {src}")
        data = src.read_bytes()
    header, chunks = unpack(data)
    described: list[tuple[str, object]] = []
    decoding = "unknown family"
    try:
        family = family_name_of_id(header.family_id)
        declared = get_family(family)
        decoding = ("exact: the same pixels on every machine" if declared.exact_pixels
                    else "float32 synthesis: pixels may differ in the last bit between CPU kernel sets")
        if hasattr(declared, "describe"):  # a fitted family: what its model stream says
            described = declared.describe(declared.streams_from_chunks(chunks), header.height, header.width)
    except ModelError:
        family = "unknown"
    payload = sum(len(c) for c in chunks)
    rows = [
        ("file", str(src)), ("size", f"{len(data)} bytes"),
        ("format version", header.version), ("codec family", f"{header.family_id} ({family})"),
        ("model id", header.model_id), ("weights hash", header.weights_hash.hex()),
        ("rate point", f"q{header.rate_point}"), ("height", header.height), ("width", header.width),
        ("channels", header.channels), ("bit depth", header.bit_depth), ("flags", f"0x{header.flags:02x}"),
        ("ICC profile", f"{len(header.icc_profile)} bytes" if header.icc_profile else "none"),
        ("alpha plane", f"{len(header.alpha)} bytes (lossless)" if header.alpha else "none"),
        *([("frames", header.frames), ("frame rate", f"{header.fps_num}/{header.fps_den} "
            f"({header.fps_num / header.fps_den:g} fps)"), ("colour format", COLOUR_FORMATS[header.colour_format])]
          if header.is_video else []),
        ("chunks", ", ".join(f"{len(c)} bytes" for c in chunks)),
        ("container overhead", f"{len(data) - payload} bytes (header, lengths, ICC profile, alpha plane, CRC32)"),
        ("bpp", f"{8 * len(data) / (header.width * header.height * max(header.frames, 1)):.4f}"),
        ("crc32", "ok"),
        ("decoding", decoding),
        *described,
    ]
    for name, value in rows:
        print(f"{name:>20}: {value}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print every header field of a .bin", description=__doc__.split("\n\n", 1)[1])
    p.add_argument("input", help="bitstream file, or '-' for stdin")
    p.set_defaults(func=run)
