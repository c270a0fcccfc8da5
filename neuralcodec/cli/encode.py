"""``codec encode``: images (one, a batch, or stdin) and videos (a fitted network per clip).

Compress an image into a neuralcodec bitstream. Grayscale is coded as R=G=B and decoded as grayscale; alpha is not
coded; 16-bit input is reduced to 8 bits. Batch mode: give a folder or a quoted glob and an output folder; bad files
are skipped and reported, the exit status is 1 if any failed, every output is written atomically. '-' reads the
image from stdin / writes the bitstream to stdout (the status line then goes to stderr).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import warnings
from pathlib import Path

from neuralcodec.bitstream import MAX_PIXELS
from neuralcodec.cli.common import (
    STDIN_NAME,
    STDOUT_NAME,
    Interrupted,
    add_batch_arguments,
    add_options,
    check_bitstream_name,
    check_fit_args,
    check_output,
    check_stdout,
    dispatch,
    family_options,
    is_video_codec,
    parse_size,
    pixel_count,
    read_stdin,
    resume_hint,
    same_file,
    take_inputs,
    write_stdout,
)
from neuralcodec.codecs.registry import DEFAULT_CODEC, DEFAULT_QUALITY, DEFAULT_VIDEO_CODEC
from neuralcodec.errors import InputError


def _check_pixel_limit(source: Path | bytes, name: str, max_pixels: int | None) -> None:
    """``--max-pixels`` from the image header alone, before the pixels are decoded and torch loads; an
    unreadable image is left to the full read, which reports it."""
    if max_pixels is None:
        return
    import io

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's decompression-bomb warning: the full read gives it
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                width, height = img.size
    except Exception:  # noqa: BLE001 - any reader failure is reported by the full read
        return
    if width * height > max_pixels:
        raise InputError(f"{name}: image of {width}×{height} ({width * height} pixels) exceeds "
                         f"--max-pixels {max_pixels}")


def _encode_one(src: Path | None, dst: Path | None, args: argparse.Namespace) -> str:
    from neuralcodec.image_io import check_input_file

    # what is wrong with the arguments shows before torch and the model load (seconds)
    data = read_stdin("an image") if src is None else None
    if src is not None:
        check_input_file(src)
    if dst is None:
        check_stdout()
    else:
        check_output(dst)
        check_bitstream_name(dst)
        if src is not None and same_file(src, dst):
            raise InputError("output would overwrite the input")
    name = STDIN_NAME if src is None else str(src)
    _check_pixel_limit(src if data is None else data, name, args.max_pixels)
    from neuralcodec.codecs.registry import family_name_of_id, get_family
    from neuralcodec.coding import encode_file
    from neuralcodec.image_io import atomic_write

    family = get_family(args.codec)
    fitted = {}
    if family.kind == "fitted":  # minutes of fitting: a progress bar, and a checkpoint to resume from
        options = _fit_options(args, family)
        fitted = {"options": options,
                  "report": _FitProgress(family.fit_iterations(options), args.quiet, "iteration", "iteration"),
                  "checkpoint": _checkpoint_beside(dst),
                  "trainer_args": getattr(args, "trainer_args", None) or None}
    t0 = time.perf_counter()
    try:
        codec = args.codec if args.codec_given or args.model is None else None
        enc = encode_file(src if data is None else data, codec, args.quality, args.model,
                          max_pixels=args.max_pixels, **fitted)
    except KeyboardInterrupt:
        if not fitted:
            raise
        raise Interrupted(resume_hint(fitted["checkpoint"])) from None
    finally:
        if fitted:
            fitted["report"].close()
    seconds = time.perf_counter() - t0
    if dst is None:
        write_stdout(enc.data)
    else:
        atomic_write(dst, enc.data)
        if fitted and fitted["checkpoint"] is not None:  # the fit's checkpoints (one per tile of a large image)
            ckpt = fitted["checkpoint"]
            for path in ckpt.parent.iterdir():
                if path.name == ckpt.name or path.name.startswith(ckpt.name + "."):
                    path.unlink(missing_ok=True)
    h = enc.header
    bpp = 8 * len(enc.data) / (h.width * h.height)
    return (f"{name} -> {STDOUT_NAME if dst is None else dst}: {h.width}x{h.height}, {len(enc.data)} bytes, "
            f"{bpp:.4f} bpp, {family_name_of_id(h.family_id)} q{h.rate_point}, {seconds:.2f} s")


def _checkpoint_beside(dst: Path | None) -> Path | None:
    """A fit's resume checkpoint, ``OUTPUT.fit.ckpt``; none for stdout or a device or FIFO (nothing to resume
    into, and no file may be made beside ``/dev/null``)."""
    from neuralcodec.image_io import is_special_output

    if dst is None or is_special_output(dst):
        return None
    return dst.with_name(dst.name + ".fit.ckpt")


class _FitProgress:
    """A fit's progress bar: epochs or iterations done, PSNR (and bpp) of the last step, time left."""

    def __init__(self, total: int, quiet: bool, unit: str = "epoch", count_key: str = "epoch") -> None:
        self.total, self.quiet, self.unit, self.count_key, self.bar = total, quiet, unit, count_key, None

    def __call__(self, state: dict[str, float]) -> None:
        if self.bar is None:  # created at the first report: a failure before the fit shows no bar
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc="fitting", unit=self.unit, file=sys.stderr, disable=self.quiet,
                            bar_format="{desc}: {n_fmt}/{total_fmt} " + self.unit + "s |{bar}|{postfix}")
        # the step's own progress is where it started; what is done is at least the steps counted so far
        done = state.get(self.count_key)
        progress = max(state.get("progress", 0.0), done / self.total if done else 0.0)
        self.bar.n = min(int(done if done is not None else progress * self.total), self.bar.total)
        left = f"{state['elapsed'] * (1 - progress) / progress:.0f} s left" if progress > 0 else "time left unknown"
        if "bpp" in state:
            self.bar.set_postfix_str(f"{state['bpp']:.3f} bpp, PSNR {state.get('psnr', 0):.2f} dB, {left}")
        else:
            phase = "quantized" if state.get("qat") else "float"
            self.bar.set_postfix_str(f"PSNR {state.get('psnr', 0):.2f} dB ({phase}), {left}")
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_trainer_args(trainer_args: dict[str, object]) -> None:
    if trainer_args:
        import inspect

        import pytorch_lightning as pl

        known = set(inspect.signature(pl.Trainer).parameters)
        unknown = sorted(set(trainer_args) - known)
        if unknown:
            raise InputError(f"--trainer.{unknown[0]} is not a Lightning Trainer argument")


def _fit_options(args: argparse.Namespace, family: type) -> dict[str, object]:
    """The family's encode options given on the command line."""
    return {o.name: getattr(args, o.name) for o in family.encode_options if getattr(args, o.name, None) is not None}


def _encode_video(args: argparse.Namespace) -> int:
    """``codec encode CLIP -o CLIP.bin``: fit a video family, quantize, write; resumable from a checkpoint."""
    from neuralcodec.codecs.registry import family_name_of_id, get_family
    from neuralcodec.image_io import atomic_write
    from neuralcodec.video_coding import DEFAULT_EPOCHS, encode_video
    from neuralcodec.video_io import VIDEO_SUFFIXES, open_video

    if args.input == "-" or args.output == "-":
        raise InputError("video encoding reads and writes files: '-' (stdin/stdout) is for images")
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise InputError(f"input not found: {src}")
    check_output(dst)
    check_bitstream_name(dst)
    if dst.suffix.lower() in VIDEO_SUFFIXES:
        raise InputError(f"encode writes a bitstream, not a {dst.suffix.lower()} video: {dst.name} (use .bin; "
                         "'codec decode' writes videos)")
    if same_file(src, dst):
        raise InputError("output would overwrite the input")
    if args.model is not None:
        raise InputError("--model is for image codecs: a video bitstream carries its own network")
    trainer_args = getattr(args, "trainer_args", None) or {}
    _check_trainer_args(trainer_args)
    family = get_family(args.codec)
    if args.quality is not None and args.quality not in family.qualities:
        raise InputError(f"{family.name} quality must be one of {', '.join(map(str, family.qualities))} "
                         f"(got {args.quality})")
    check_fit_args(args)
    with open_video(src, size=args.size, fps=args.fps, max_frames=args.frames) as reader:
        info = reader.info  # a bad header or size fails here, before torch loads
    checkpoint = _checkpoint_beside(dst)
    epochs = args.epochs or DEFAULT_EPOCHS
    bar = _FitProgress(epochs, args.quiet)
    t0 = time.perf_counter()
    try:
        enc = encode_video(src, quality=args.quality, epochs=epochs, time_budget=args.time_budget, size=args.size,
                           fps=args.fps, max_frames=args.frames, checkpoint=checkpoint, report=bar,
                           trainer_args=trainer_args or None)
    except KeyboardInterrupt:
        raise Interrupted(resume_hint(checkpoint)) from None
    finally:
        bar.close()
    if not enc.is_global_zero:  # another process of a multi-process fit: the first one writes the file
        return 0
    atomic_write(dst, enc.data)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    h = enc.header
    bpp = 8 * len(enc.data) / (h.width * h.height * h.frames)
    print(f"{src} -> {dst}: {h.frames} frames of {h.width}x{h.height} at {h.fps_num / h.fps_den:g} fps "
          f"({info.source_format}), {len(enc.data)} bytes, {bpp:.4f} bpp, "
          f"{family_name_of_id(h.family_id)} q{h.rate_point}, "
          f"fitted in {enc.fit_seconds:.1f} s ({time.perf_counter() - t0:.1f} s in all)")
    return 0


def run(args: argparse.Namespace) -> int:
    from neuralcodec.batch import BITSTREAM_SUFFIX, image_suffixes
    from neuralcodec.video_io import is_video_path

    take_inputs(args)
    if args.inputs and any(Path(p).suffix and is_video_path(p) for p in args.inputs):
        raise InputError("videos are encoded one at a time: give one video input")
    video_input = (not args.inputs and args.input != "-" and Path(args.input).suffix.lower() != ""
                   and is_video_path(args.input))
    args.codec_given = args.codec is not None  # with --model, the model file names the family
    if args.codec is None:
        args.codec = DEFAULT_VIDEO_CODEC if video_input else DEFAULT_CODEC
    _check_encode_options(args)
    if is_video_codec(args.codec):
        if args.inputs:
            raise InputError(f"{args.codec} codes one video at a time: give one video file or folder of PNG frames")
        if Path(args.input).suffix.lower() in image_suffixes():
            raise InputError(f"{args.codec} codes videos (a video file or a folder of PNG frames), not images like "
                             f"{args.input}")
        return _encode_video(args)
    if video_input:
        raise InputError(f"{args.input} is a video, but {args.codec} codes images (use --codec {DEFAULT_VIDEO_CODEC})")
    for name in ("size", "fps", "frames"):
        if getattr(args, name) is not None:
            raise InputError(f"--{name} is for video input (--codec {DEFAULT_VIDEO_CODEC})")
    if args.model is not None and args.quality is not None:
        raise InputError("--quality and --model exclude each other: a model file is one rate point")
    _check_fitted_image_args(args)

    return dispatch(args, _encode_one, image_suffixes(), BITSTREAM_SUFFIX, "encode")


def _check_fitted_image_args(args: argparse.Namespace) -> None:
    """The quality, model and trainer flags of the family chosen, before anything loads."""
    from neuralcodec.codecs.registry import get_family

    family = get_family(args.codec)
    if family.kind != "fitted":
        if getattr(args, "trainer_args", None):
            raise InputError(f"--trainer.* flags are for fitted codecs; {family.name} does not fit at encode time")
        if args.model is None and args.quality is not None:  # a folder listing: no torch, no model load
            from neuralcodec.codecs.registry import model_file_name, shipped_qualities

            shipped = shipped_qualities(family.name)
            if args.quality not in shipped:
                raise InputError(f"no shipped {family.name!r} model {model_file_name(family.name, args.quality)} for "
                                 f"quality {args.quality} (shipped qualities: {', '.join(map(str, shipped))})")
        return
    if args.model is not None:
        raise InputError(f"{family.name} fits its model to each image: it takes no --model")
    if args.quality is not None and args.quality not in family.qualities:
        raise InputError(f"{family.name} quality must be one of {', '.join(map(str, family.qualities))} "
                         f"(got {args.quality})")
    _check_trainer_args(getattr(args, "trainer_args", None) or {})


def _check_encode_options(args: argparse.Namespace) -> None:
    """Every family encoder option given must be one the chosen family declares."""
    from neuralcodec.codecs.registry import get_family

    family = get_family(args.codec)
    own = {option.name for option in family.encode_options}
    for name, declared in family_options("encode", ("image", "fitted")).items():
        if getattr(args, name, None) is not None and name not in own:
            raise InputError(f"{declared[0][1].flag} is an option of {', '.join(f for f, _ in declared)}, "
                             f"not of {family.name}")


def _shipped_range() -> str:
    """The shipped rate points of the default family, e.g. ``0–7`` (a folder listing: no torch)."""
    from neuralcodec.codecs.registry import shipped_qualities

    qualities = shipped_qualities(DEFAULT_CODEC)
    return f"{DEFAULT_CODEC} {qualities[0]}–{qualities[-1]}" if qualities else "none"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="compress image files (PNG, JPEG, PPM, BMP, TIFF, WebP) to .bin",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("input", nargs="+", metavar="INPUT",
                   help="image file, '-' for stdin, folder, or quoted glob such as 'photos/*.jpg' (a path that "
                   "exists is taken literally, even with [ ? * in its name); several inputs are a batch")
    p.add_argument("-o", "--output", required=True,
                   help="bitstream file to write (not with an image suffix such as .png), '-' for stdout, or a "
                   "folder: an existing one or one ending in '/' (created if missing) gets INPUT's name with .bin; "
                   "the output folder in batch mode (outputs are replaced atomically)")
    p.add_argument("--codec", default=None, help="codec family (see 'codec list'; default: "
                   f"{DEFAULT_CODEC} for images, {DEFAULT_VIDEO_CODEC} for videos)")
    p.add_argument("--quality", type=int, default=None, help="rate point; higher = more bits, better quality "
                   f"(shipped: {_shipped_range()}; default {DEFAULT_QUALITY})")
    p.add_argument("--model", default=None,
                   help="use this model file instead of a shipped rate point (not with --quality)")
    p.add_argument("--max-pixels", type=pixel_count, default=None, metavar="N",
                   help="refuse images of more than N pixels (width × height), before the model loads (for "
                   f"untrusted input; default: the format's limit, {MAX_PIXELS} = 2^26 pixels)")
    add_batch_arguments(p)
    f = p.add_argument_group("fitted codecs (a model fitted to each input at encode time: minutes, with a progress "
                             "bar; if interrupted, running the same command again resumes from OUTPUT.fit.ckpt)")
    add_options(f, family_options("encode", ("image", "fitted")))
    v = p.add_argument_group(f"video input (--codec {DEFAULT_VIDEO_CODEC} by default; INPUT: .y4m, raw .yuv, "
                             ".mp4/.mkv/.webm/..., or a folder of PNG frames)")
    v.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help="frame size of a raw .yuv whose name does not say it (UVG names such as "
                   "Beauty_1920x1080_120fps_420_8bit_YUV.yuv do)")
    v.add_argument("--fps", type=float, default=None, help="frame rate of a raw .yuv or PNG folder (default 30)")
    v.add_argument("--frames", type=int, default=None, metavar="N", help="code only the first N frames")
    f.add_argument("--trainer.KEY", metavar="VALUE", dest="_trainer_doc", default=None,
                   help="a Lightning Trainer argument of the fit, e.g. --trainer.accelerator gpu --trainer.devices 2 "
                   "(several GPUs or processes: --trainer.strategy ddp)")
    p.set_defaults(func=run)


def split_trainer_args(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """``--trainer.KEY VALUE`` pairs of a video encode (Lightning Trainer arguments of the fit, e.g.
    ``--trainer.accelerator gpu --trainer.devices 2``), and the remaining arguments."""
    trainer: dict[str, object] = {}
    rest, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--trainer."):
            key, eq, value = arg[len("--trainer."):].partition("=")
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                    raise InputError(f"{arg} needs a value")
                value, i = argv[i + 1], i + 1
            if not key or not value:
                raise InputError(f"{arg} needs a key and a value, e.g. --trainer.devices 2")
            try:  # numbers, true/false, None; anything else stays a string (e.g. 'gpu', 'ddp')
                trainer[key] = ast.literal_eval({"true": "True", "false": "False"}.get(value.lower(), value))
            except (ValueError, SyntaxError):
                trainer[key] = value
        else:
            rest.append(arg)
        i += 1
    return trainer, rest
