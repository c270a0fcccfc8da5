"""A labelled side-by-side picture of one image crop decoded by several codecs, each from a real file.

    .venv/bin/python scripts/side_by_side.py --image ../shared/datasets/kodak/kodim13.png --box 256 128 256 256 \\
        --panel vq=model:runs/vq-restorer/vq-q3.pt --panel "AVIF ×0.5=avif@0.5:10" --panel hyperprior=hyperprior:0 \\
        --panel "hyperprior + diffusion=hyperprior:0:decoder=diffusion,steps=2" -o docs/results/vq-side-by-side.png

A panel is ``LABEL=CODEC:QUALITY[:OPTIONS]``: CODEC is a learned family (its shipped point QUALITY), ``model`` (then
QUALITY is a model file path) or a live anchor (``avif``, ``avif@0.5``, …; QUALITY is its setting). OPTIONS are
decode options as ``key=value`` pairs (``decoder=diffusion,steps=2,seed=0``). The whole image is coded; the
panel shows the crop ``--box LEFT TOP WIDTH HEIGHT`` with the label and the file's bpp under it. The original
comes first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from neuralcodec.eval.metrics import bpp_of
from neuralcodec.image_io import ImageInfo, read_image


def _option(value: str) -> object:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def decode_panel(spec: str, image):  # noqa: ANN001, ANN201 - uint8 tensors
    """(decoded image, bpp) of ``image`` coded by a panel spec."""
    from neuralcodec.codecs.registry import file_family_names, load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.eval.anchors import anchor_by_name

    codec_name, quality, *rest = spec.split(":", 2)
    options = {k: _option(v) for k, v in (kv.split("=", 1) for kv in rest[0].split(","))} if rest else {}
    if codec_name == "model" or codec_name in file_family_names():
        codec = load_codec(model_file=quality) if codec_name == "model" else load_codec(codec_name, int(quality))
        data = encode_tensor(image, ImageInfo(3, 8), codec).data
        model = quality if codec_name == "model" else None
        return decode_bytes(data, model, options=options)[0], bpp_of(len(data), image)
    anchor = anchor_by_name(codec_name)
    data = anchor.encode(image, int(quality))
    return anchor.decode(data), bpp_of(len(data), image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--box", nargs=4, type=int, required=True, metavar=("LEFT", "TOP", "WIDTH", "HEIGHT"))
    parser.add_argument("--panel", action="append", required=True, metavar="LABEL=CODEC:QUALITY[:OPTIONS]")
    parser.add_argument("--scale", type=int, default=2, help="enlarge the crops by this (nearest neighbour)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    image, _ = read_image(args.image)
    left, top, width, height = args.box
    panels = [("original", image, None)]
    for panel in args.panel:
        label, spec = panel.split("=", 1)
        decoded, bpp = decode_panel(spec, image)
        panels.append((label, decoded, bpp))
        print(f"{label}: {bpp:.4f} bpp")
    caption = 24
    w, h = width * args.scale, height * args.scale
    sheet = Image.new("RGB", (len(panels) * (w + 8) - 8, h + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, pixels, bpp) in enumerate(panels):
        crop = pixels[:, top : top + height, left : left + width].permute(1, 2, 0).numpy()
        tile = Image.fromarray(np.ascontiguousarray(crop)).resize((w, h), Image.Resampling.NEAREST)
        sheet.paste(tile, (i * (w + 8), 0))
        text = label if bpp is None else f"{label}, {bpp:.3f} bpp"
        draw.text((i * (w + 8) + 4, h + 6), text, fill="black")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
