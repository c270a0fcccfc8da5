"""Batch mode: which files a folder or glob names, and where each one's output goes."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from neuralcodec.errors import InputError

BITSTREAM_SUFFIX = ".bin"


STDIO = "-"  # as input: standard input; as output: standard output


def is_batch_spec(spec: str) -> bool:
    """A folder or a glob pattern (as opposed to one file, or ``-`` for stdin).

    A path that exists is taken literally even if it contains ``*``, ``?`` or ``[`` (a file named
    ``a[1].png``); only a pattern that names no existing path is expanded.
    """
    if spec == STDIO:
        return False
    path = Path(spec)
    return path.is_dir() or (not path.exists() and any(ch in spec for ch in "*?["))


def names_folder(output: str) -> bool:
    """Whether an output argument names a folder: it ends with a slash (``out/``) or is an existing folder."""
    return output not in ("", STDIO) and (output.endswith(("/", os.sep)) or Path(output).is_dir())


def expand_inputs(spec: str, suffixes: set[str]) -> list[Path]:
    """Files of a folder (by suffix) or of a glob pattern, sorted; ``InputError`` when there are none."""
    if Path(spec).is_dir():
        files = sorted(p for p in Path(spec).iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    else:
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not files and Path(spec).is_dir():
        raise InputError(f"folder {spec} holds no input files ({', '.join(sorted(suffixes))})")
    if not files:
        raise InputError(f"no input files match {spec}")
    return files


def plan_outputs(inputs: list[Path], out_dir: Path, suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: ``out_dir / (stem + suffix)``; refuses name clashes and overwriting an input."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"batch output must be a folder: {out_dir}")
    resolved_inputs = {p.resolve() for p in inputs}
    pairs, seen = [], {}
    for src in inputs:
        dst = out_dir / (src.stem + suffix)
        if dst.resolve() in resolved_inputs:
            raise InputError(f"output {dst} would overwrite an input; choose another output folder")
        if dst in seen:
            raise InputError(f"{src} and {seen[dst]} would both be written to {dst}")
        seen[dst] = src
        pairs.append((src, dst))
    return pairs


def image_suffixes() -> set[str]:
    """Suffixes batch encoding picks up from a folder."""
    from neuralcodec.image_io import IMAGE_SUFFIXES  # here: `codec info` imports this module and needs no numpy

    return set(IMAGE_SUFFIXES)
