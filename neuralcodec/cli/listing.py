"""``codec list``: codec families and their shipped rate points with measured Kodak figures."""

from __future__ import annotations

import argparse

from neuralcodec.codecs.registry import DEFAULT_CODEC, DEFAULT_QUALITY


def run(args: argparse.Namespace) -> int:
    from neuralcodec.codecs.registry import (
        family_names,
        get_family,
        shipped_index,
        shipped_qualities,
    )

    index = shipped_index()
    print(f"{'codec':<12} {'quality':>7} {'Kodak bpp':>10} {'PSNR dB':>8} {'MS-SSIM':>8}  notes")
    for family in family_names():
        if get_family(family).media == "video":
            qualities = ", ".join(map(str, get_family(family).qualities))
            print(f"{family:<12} {qualities:>7} {'-':>10} {'-':>8} {'-':>8}  video: fits a network per clip "
                  "(no model files); see 'codec eval-video'")
            continue
        decodes = get_family(family).decodes_families
        if decodes:
            shipped = "installed" if shipped_qualities(family) else "not installed: --decoder-model FILE"
            print(f"{family:<12} {'-':>7} {'-':>10} {'-':>8} {'-':>8}  decoder for {', '.join(decodes)} files "
                  f"(codec decode --decoder {family}; {shipped})")
            continue
        if not shipped_qualities(family):
            print(f"{family:<12} {'-':>7} {'-':>10} {'-':>8} {'-':>8}  no shipped rate points: use --model FILE "
                  f"(train one with configs/{family}/)")
        for q in shipped_qualities(family):
            rec = index.get(f"{family}-q{q}", {})

            def fmt(key: str, spec: str, rec: dict = rec) -> str:
                return format(rec[key], spec) if key in rec else "-"

            note = "default" if (family, q) == (DEFAULT_CODEC, DEFAULT_QUALITY) else ""
            print(f"{family:<12} {q:>7} {fmt('bpp', '.4f'):>10} {fmt('psnr', '.2f'):>8} "
                  f"{fmt('ms_ssim', '.4f'):>8}  {note}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="codecs and shipped rate points with measured Kodak figures")
    p.set_defaults(func=run)
