"""Helpers every command shares: paths and standard streams, argument types, batches of files."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from neuralcodec.codecs.family import OWN_DECODER, Option
from neuralcodec.codecs.registry import family_names
from neuralcodec.errors import InputError, NeuralCodecError


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_output(dst: Path) -> None:
    if not dst.parent.is_dir():
        raise InputError(f"output folder does not exist: {dst.parent}")
    if dst.is_dir():
        raise InputError(f"output is a folder: {dst}")


class Interrupted(KeyboardInterrupt):
    """An interrupt (Ctrl-C, SIGTERM) with what the user needs to know: e.g. how to resume a fit."""


def resume_hint(checkpoint: Path | None) -> str:
    """The message of an interrupted fit: where its checkpoint is, if one was written."""
    if checkpoint is not None and checkpoint.is_file():
        return f"interrupted: the fit so far is in {checkpoint}; run the same command again to resume"
    return "interrupted before the fit's first checkpoint: nothing to resume from"


# ``-`` as input or output (None in the per-file functions below) is standard input / output
STDIN_NAME, STDOUT_NAME = "<stdin>", "<stdout>"


def read_stdin(what: str) -> bytes:
    """All of standard input (binary); refuses a terminal (it would wait for typed bytes) and no data."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError(f"standard input is a terminal: pipe or redirect {what} into 'codec ... -'")
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError(f"input is empty: {STDIN_NAME}")
    return data


def check_stdout() -> None:
    if sys.stdout.isatty():
        raise InputError("refusing to write binary data to a terminal: redirect or pipe the output of '-o -'")


def write_stdout(data: bytes) -> None:
    """All of ``data`` to standard output, at the end of the work: a failure before leaves stdout empty."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def check_bitstream_name(dst: Path) -> None:
    """A bitstream written under an image suffix (``-o out.png``) is a mistake: encode writes no images."""
    from PIL import Image

    suffix = dst.suffix.lower()
    if suffix in Image.registered_extensions():
        raise InputError(f"encode writes a bitstream, not a {suffix} image: {dst.name} (use .bin; "
                         "'codec decode' writes images)")


def run_batch(pairs: list[tuple[Path, Path]], one, args: argparse.Namespace, verb: str) -> int:
    """Process every pair; a failure is reported and skipped; non-zero exit if any failed."""
    from tqdm import tqdm

    from neuralcodec.image_io import remove_stale_temporaries

    out_dir = pairs[0][1].parent
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    failures, written, skipped = [], 0, 0
    try:
        for src, dst in tqdm(pairs, desc=verb, unit="file", file=sys.stderr, disable=args.quiet):
            if args.skip_existing and dst.exists():
                skipped += 1
                continue
            try:
                one(src, dst, args)
                written += 1
            except (NeuralCodecError, OSError) as exc:
                failures.append(f"{src}: {exc}")
                tqdm.write(f"codec: skipped {src}: {exc}", file=sys.stderr)
    finally:  # also when interrupted (Ctrl-C, SIGTERM): say how far the batch got
        print(f"{verb}: {written} of {len(pairs)} files written to {out_dir}"
              + (f", {skipped} already there" if skipped else "")
              + (f", {len(failures)} failed" if failures else ""))
    return 1 if failures else 0


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents (like ``mkdir -p``); returns those created, deepest first."""
    created, p = [], folder
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create output folder {folder}: {p} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return created


def take_inputs(args: argparse.Namespace) -> None:
    """``args.input`` (one or more positional arguments) → the one input as a string, or several in
    ``args.inputs`` (what an unquoted shell glob gives): those are a batch, as a folder or a quoted glob is."""
    inputs = list(args.input)
    args.inputs = inputs if len(inputs) > 1 else None
    args.input = inputs[0] if len(inputs) == 1 else f"{len(inputs)} inputs"
    if args.inputs and "-" in inputs:
        raise InputError("'-' (standard input) takes no other inputs beside it")


def _expand_many(specs: list[str], suffixes: set[str]) -> list[Path]:
    """The files of several inputs, each a file, folder or pattern, in order and without repeats."""
    from neuralcodec.batch import expand_inputs, is_batch_spec

    files: list[Path] = []
    seen: set[Path] = set()
    for spec in specs:
        if is_batch_spec(spec):
            found = expand_inputs(spec, suffixes)
        elif Path(spec).is_file():
            found = [Path(spec)]
        else:
            raise InputError(f"input not found: {spec}" if not Path(spec).exists() else f"not a file: {spec}")
        for p in found:
            resolved = p.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(p)
    return files


def dispatch(args: argparse.Namespace, one, suffixes: set[str], out_suffix: str, verb: str) -> int:
    from neuralcodec.batch import STDIO, expand_inputs, is_batch_spec, names_folder, plan_outputs

    if getattr(args, "inputs", None):
        if args.output == STDIO:
            raise InputError(f"'-o -' takes one input, but {len(args.inputs)} were given: give an output folder")
        if Path(args.output).exists() and not Path(args.output).is_dir():
            raise InputError(f"{len(args.inputs)} inputs need an output folder, but {args.output} is a file")
        pairs = plan_outputs(_expand_many(args.inputs, suffixes), Path(args.output), out_suffix)
        return run_batch(pairs, one, args, verb)
    if is_batch_spec(args.input):
        if args.output == STDIO:
            raise InputError(f"'-o -' takes one input, but {args.input} names a batch: give an output folder")
        pairs = plan_outputs(expand_inputs(args.input, suffixes), Path(args.output), out_suffix)
        return run_batch(pairs, one, args, verb)
    src = None if args.input == STDIO else Path(args.input)
    dst = None if args.output == STDIO else Path(args.output)
    created: list[Path] = []
    if names_folder(args.output):  # 'out/' or an existing folder: the input's name with the output suffix
        if src is None:
            raise InputError(f"reading standard input, the output needs a file name, not a folder: {args.output}")
        created = [] if dst.is_dir() else make_folder(dst)
        dst = dst / (src.stem + out_suffix)
    try:
        status = one(src, dst, args)
    except BaseException:
        for folder in created:  # a failed run leaves no empty folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    from neuralcodec.image_io import is_special_output

    # stdout may carry the output's bytes ('-o -', '-o /dev/stdout'): then the status goes to stderr
    print(status, file=sys.stderr if dst is None or is_special_output(dst) else sys.stdout)
    return 0


def check_fit_args(args: argparse.Namespace) -> None:
    """--epochs, --frames and --time-budget of a video encode or evaluation, before anything loads."""
    for name in ("epochs", "frames"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1")
    if args.time_budget is not None and args.time_budget <= 0:
        raise InputError("--time-budget must be positive")


def is_video_codec(name: str | None) -> bool:
    from neuralcodec.codecs.registry import get_family

    return name is not None and get_family(name).media == "video"


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080 (got {text!r})") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive (got {text!r})")
    return width, height


def cores() -> int:
    """Cores this process may run on (a container or taskset can allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pixel_count(text: str) -> int:
    """argparse type of --max-pixels: a positive whole number."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels, got {text!r}")
    return value


def _argparse_type(parse: Callable[[str], object]) -> Callable[[str], object]:
    """An option parser as an argparse type: its ``ValueError`` message becomes argparse's one-line error."""
    def parse_argument(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse_argument.__name__ = getattr(parse, "__name__", "value")
    return parse_argument


def family_options(direction: str, kinds: tuple[str, ...],
                   media: str | None = None) -> dict[str, list[tuple[str, Option]]]:
    """Options declared by the families of these kinds (and ``media``, if given; ``direction``: ``"encode"`` or
    ``"decode"``), by name: every (family name, option) that declares it, so a shared name (``seed``) becomes one
    flag."""
    from neuralcodec.codecs.registry import get_family

    found: dict[str, list[tuple[str, Option]]] = {}
    for kind in kinds:
        for name in family_names(kind):
            if media is not None and get_family(name).media != media:
                continue
            for option in getattr(get_family(name), f"{direction}_options"):
                found.setdefault(option.name, []).append((name, option))
    return found


def add_options(group: argparse._ArgumentGroup | argparse.ArgumentParser, options: dict[str, list]) -> None:
    """One flag per declared option; its help names each family that takes it."""
    for declared in options.values():
        first = declared[0][1]
        text = "; ".join(f"{family}: {option.help}" for family, option in declared)
        group.add_argument(first.flag, dest=first.name, type=_argparse_type(first.parse), choices=first.choices,
                           metavar=first.metavar, default=None, help=text)


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The flags every command that codes a batch of files shares."""
    p.add_argument("--quiet", action="store_true", help="no progress bar in batch mode")
    p.add_argument("--verbose", action="store_true",
                   help="also show the notices of the libraries underneath (Lightning, torch) while fitting")
    p.add_argument("--skip-existing", action="store_true",
                   help="batch mode: leave outputs that already exist alone (resume a large batch)")


def add_decoder_arguments(p: argparse.ArgumentParser) -> None:
    """How a file is decoded (``codec decode`` and ``codec eval``): the refining decoders and every decoder
    option the families declare."""
    from neuralcodec.codecs.registry import refining_decoder

    refiners = {name: refining_decoder(name) for name in family_names("refiner")}
    g = p.add_argument_group("decoding options (each for the families named)")
    g.add_argument("--decoder", choices=(OWN_DECODER, *refiners), default=None,
                   help=f"{OWN_DECODER}: the file's own decoder (default); " + "; ".join(
                       f"{name}: {r.summary} ({', '.join(r.decodes_families)} files)" for name, r in refiners.items()))
    g.add_argument("--decoder-model", default=None, metavar="FILE",
                   help="model file of the --decoder (default: the installed one)")
    add_options(g, family_options("decode", ("image", "fitted", "refiner")))


def decode_options(args: argparse.Namespace) -> dict:
    """The decoder options given on the command line (only those set)."""
    names = ["decoder", "decoder_model", *family_options("decode", ("image", "fitted", "refiner"))]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def load_curves(specs: list[str]) -> list:
    from neuralcodec.eval.curves import load_curve

    try:
        return [load_curve(spec) for spec in specs]
    except (KeyError, ValueError) as exc:  # JSON without the schema's keys, or not JSON at all
        raise InputError(f"not an RD curve file: {exc}") from None


def two_point_curves(curves: list, specs: list[str]) -> None:
    for curve, spec in zip(curves, specs, strict=True):
        if len(curve.bpp) < 2:
            raise InputError(f"{spec} has {len(curve.bpp)} RD point(s): a curve needs at least 2")
