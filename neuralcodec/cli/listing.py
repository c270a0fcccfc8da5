"""``codec list``: codec families and their shipped rate points with measured Kodak figures."""

from __future__ import annotations

import argparse

from neuralcodec.codecs.registry import DEFAULT_CODEC, DEFAULT_QUALITY


def _row(family: str, quality: str, notes: str, lmbda: str = "-", bpp: str = "-", psnr: str = "-",
         ms_ssim: str = "-") -> None:
    print(f"{family:<12} {quality:>7} {lmbda:>7} {bpp:>10} {psnr:>8} {ms_ssim:>8}  {notes}")


def run(args: argparse.Namespace) -> int:
    from neuralcodec.codecs.registry import (
        family_names,
        fitted_family,
        image_family,
        refining_decoder,
        shipped_index,
        shipped_qualities,
    )

    index = shipped_index()
    print(f"{'codec':<12} {'quality':>7} {'λ':>7} {'Kodak bpp':>10} {'PSNR dB':>8} {'MS-SSIM':>8}  notes")
    for family in family_names("image"):
        points = image_family(family).rate_points
        if not shipped_qualities(family):
            _row(family, "-", f"no shipped rate points: use --model FILE (train one with configs/{family}/)")
        for q in shipped_qualities(family):
            rec = index.get(f"{family}-q{q}", {})

            def fmt(key: str, spec: str, rec: dict = rec) -> str:
                return format(rec[key], spec) if key in rec else "-"

            note = "default" if (family, q) == (DEFAULT_CODEC, DEFAULT_QUALITY) else ""
            point = points.get(q)
            lmbda = f"{point.lmbda:g}" if point is not None and point.lmbda is not None else "-"
            note = "; ".join(n for n in (note, point.note if point else "") if n)
            _row(family, str(q), note, lmbda, fmt("bpp", ".4f"), fmt("psnr", ".2f"), fmt("ms_ssim", ".4f"))
    for family in family_names("fitted"):
        declared = fitted_family(family)
        what = "a network fitted to each clip" if declared.media == "video" else "a model fitted to each image"
        _row(family, ", ".join(map(str, declared.qualities)),
             f"{declared.media}: {what}, stored in the file (no model files)")
    for family in family_names("refiner"):
        decoder = refining_decoder(family)
        shipped = "installed" if shipped_qualities(family) else "not installed: --decoder-model FILE"
        _row(family, "-", f"decoder for {', '.join(decoder.decodes_families)} files "
             f"(codec decode --decoder {family}; {shipped})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="codecs and shipped rate points with measured Kodak figures")
    p.set_defaults(func=run)
