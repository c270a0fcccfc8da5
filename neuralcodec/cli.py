"""The ``codec`` command line. The only module that prints or exits."""

from __future__ import annotations

import argparse
import ast
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from neuralcodec import __version__
from neuralcodec.bitstream import MAX_PIXELS
from neuralcodec.codecs.registry import DEFAULT_CODEC, DEFAULT_QUALITY
from neuralcodec.errors import InputError, NeuralCodecError

EPILOG = """examples:
  codec encode photo.png -o photo.bin            # default codec and rate point
  codec encode photo.png -o photo.bin --quality 5
  codec decode photo.bin -o photo_decoded.png
  codec encode - -o - < photo.png > photo.bin    # '-': stdin / stdout (status line on stderr)
  codec encode photo.png -o bins/                # into a folder: bins/photo.bin
  codec info photo.bin                           # every header field
  codec encode clip.y4m -o clip.bin --quality 1 --time-budget 600   # a video: fits a NeRV network
  codec decode clip.bin -o clip_decoded.y4m      # or .mp4, .yuv, or frames/ (PNG frames)
  codec list                                     # codecs, rate points, measured Kodak bpp / PSNR
  codec train --config configs/hyperprior/q3.yaml   # train or resume a rate point
"""


def _fail(message: str, code: int = 1) -> int:
    print(f"codec: error: {message}", file=sys.stderr)
    return code


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _check_output(dst: Path) -> None:
    if not dst.parent.is_dir():
        raise InputError(f"output folder does not exist: {dst.parent}")
    if dst.is_dir():
        raise InputError(f"output is a folder: {dst}")


# ``-`` as input or output (None in the per-file functions below) is standard input / output
STDIN_NAME, STDOUT_NAME = "<stdin>", "<stdout>"


def _read_stdin(what: str) -> bytes:
    """All of standard input (binary); refuses a terminal (it would wait for typed bytes) and no data."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError(f"standard input is a terminal: pipe or redirect {what} into 'codec ... -'")
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError(f"input is empty: {STDIN_NAME}")
    return data


def _check_stdout() -> None:
    if sys.stdout.isatty():
        raise InputError("refusing to write binary data to a terminal: redirect or pipe the output of '-o -'")


def _write_stdout(data: bytes) -> None:
    """All of ``data`` to standard output, at the end of the work: a failure before leaves stdout empty."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _check_bitstream_name(dst: Path) -> None:
    """A bitstream written under an image suffix (``-o out.png``) is a mistake: encode writes no images."""
    from PIL import Image

    suffix = dst.suffix.lower()
    if suffix in Image.registered_extensions():
        raise InputError(f"encode writes a bitstream, not a {suffix} image: {dst.name} (use .bin; "
                         "'codec decode' writes images)")


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
    data = _read_stdin("an image") if src is None else None
    if src is not None:
        check_input_file(src)
    if dst is None:
        _check_stdout()
    else:
        _check_output(dst)
        _check_bitstream_name(dst)
        if src is not None and _same_file(src, dst):
            raise InputError("output would overwrite the input")
    name = STDIN_NAME if src is None else str(src)
    _check_pixel_limit(src if data is None else data, name, args.max_pixels)
    from neuralcodec.codecs.registry import family_name_of_id
    from neuralcodec.coding import encode_file
    from neuralcodec.image_io import atomic_write

    t0 = time.perf_counter()
    enc = encode_file(src if data is None else data, args.codec, args.quality, args.model,
                      max_pixels=args.max_pixels)
    seconds = time.perf_counter() - t0
    if dst is None:
        _write_stdout(enc.data)
    else:
        atomic_write(dst, enc.data)
    h = enc.header
    bpp = 8 * len(enc.data) / (h.width * h.height)
    return (f"{name} -> {STDOUT_NAME if dst is None else dst}: {h.width}x{h.height}, {len(enc.data)} bytes, "
            f"{bpp:.4f} bpp, {family_name_of_id(h.family_id)} q{h.rate_point}, {seconds:.2f} s")


def _decode_options(args: argparse.Namespace) -> dict:
    """The family decoder options given on the command line (only those set)."""
    names = ("drop_rate", "seed", "recovery", "decoder", "steps", "strength", "decoder_model")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _decode_one(src: Path | None, dst: Path | None, args: argparse.Namespace) -> str:
    from neuralcodec.bitstream import unpack
    from neuralcodec.image_io import check_input_file, output_format

    data = _read_stdin("a bitstream") if src is None else None
    if src is not None:
        check_input_file(src, "a bitstream")
    if dst is None:
        _check_stdout()
        out_name = f"{STDOUT_NAME}.{args.format}"  # '-o -' writes --format (PNG by default)
    else:
        _check_output(dst)
        if src is not None and _same_file(src, dst):
            raise InputError("output would overwrite the input")
        out_name = str(dst)
    output_format(out_name)  # an unwritable suffix fails before any decoding
    if data is None:
        data = src.read_bytes()
    unpack(data)  # a malformed container fails before torch and the model load
    from neuralcodec.coding import decode_bytes
    from neuralcodec.image_io import encode_image_bytes, to_pil, write_image

    t0 = time.perf_counter()
    image, header = decode_bytes(data, args.model, args.max_pixels, _decode_options(args))
    seconds = time.perf_counter() - t0
    if dst is None:
        _write_stdout(encode_image_bytes(to_pil(image, header.channels, header.icc_profile), out_name))
    else:
        write_image(image, dst, header.channels, header.icc_profile)
    return (f"{STDIN_NAME if src is None else src} -> {STDOUT_NAME if dst is None else dst}: "
            f"{header.width}x{header.height}, {seconds:.2f} s")


def _run_batch(pairs: list[tuple[Path, Path]], one, args: argparse.Namespace, verb: str) -> int:
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


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents (like ``mkdir -p``); returns those created, deepest first."""
    created, p = [], folder
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create output folder {folder}: {p} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _dispatch(args: argparse.Namespace, one, suffixes: set[str], out_suffix: str, verb: str) -> int:
    from neuralcodec.batch import STDIO, expand_inputs, is_batch_spec, names_folder, plan_outputs

    if is_batch_spec(args.input):
        if args.output == STDIO:
            raise InputError(f"'-o -' takes one input, but {args.input} names a batch: give an output folder")
        pairs = plan_outputs(expand_inputs(args.input, suffixes), Path(args.output), out_suffix)
        return _run_batch(pairs, one, args, verb)
    src = None if args.input == STDIO else Path(args.input)
    dst = None if args.output == STDIO else Path(args.output)
    created: list[Path] = []
    if names_folder(args.output):  # 'out/' or an existing folder: the input's name with the output suffix
        if src is None:
            raise InputError(f"reading standard input, the output needs a file name, not a folder: {args.output}")
        created = [] if dst.is_dir() else _make_folder(dst)
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
    print(status, file=sys.stderr if dst is None else sys.stdout)  # stdout may carry the output's bytes
    return 0


def _check_fit_args(args: argparse.Namespace) -> None:
    """--epochs, --frames and --time-budget of a video encode or evaluation, before anything loads."""
    for name in ("epochs", "frames"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1")
    if args.time_budget is not None and args.time_budget <= 0:
        raise InputError("--time-budget must be positive")


def _is_video_codec(name: str | None) -> bool:
    from neuralcodec.codecs.registry import get_family

    return name is not None and get_family(name).media == "video"


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080 (got {text!r})") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive (got {text!r})")
    return width, height


class _FitProgress:
    """The fit's progress bar: epoch, PSNR of the last batch and an estimate of the time left."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        self.epochs, self.quiet, self.bar = epochs, quiet, None

    def __call__(self, state: dict[str, float]) -> None:
        if self.bar is None:  # created at the first report: a failure before the fit shows no bar
            from tqdm import tqdm

            self.bar = tqdm(total=self.epochs, desc="fitting", unit="epoch", file=sys.stderr, disable=self.quiet,
                            bar_format="{desc}: {n_fmt}/{total_fmt} epochs |{bar}|{postfix}")
        self.bar.n = min(int(state["epoch"]), self.bar.total)
        progress = max(state.get("progress", 0.0), 1e-9)
        left = state["elapsed"] * (1 - progress) / progress
        phase = "quantized" if state.get("qat") else "float"
        self.bar.set_postfix_str(f"PSNR {state.get('psnr', 0):.2f} dB ({phase}), {left:.0f} s left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _encode_video(args: argparse.Namespace) -> int:
    """``codec encode CLIP -o CLIP.bin --codec nerv``: fit, quantize, write; resumable from a checkpoint."""
    from neuralcodec.codecs.registry import get_family
    from neuralcodec.image_io import atomic_write
    from neuralcodec.video_coding import DEFAULT_EPOCHS, encode_video
    from neuralcodec.video_io import VIDEO_SUFFIXES, open_video

    if args.input == "-" or args.output == "-":
        raise InputError("video encoding reads and writes files: '-' (stdin/stdout) is for images")
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise InputError(f"input not found: {src}")
    _check_output(dst)
    _check_bitstream_name(dst)
    if dst.suffix.lower() in VIDEO_SUFFIXES:
        raise InputError(f"encode writes a bitstream, not a {dst.suffix.lower()} video: {dst.name} (use .bin; "
                         "'codec decode' writes videos)")
    if _same_file(src, dst):
        raise InputError("output would overwrite the input")
    if args.model is not None:
        raise InputError("--model is for image codecs: a video bitstream carries its own network")
    trainer_args = getattr(args, "trainer_args", None) or {}
    if trainer_args:
        import inspect

        import pytorch_lightning as pl

        known = set(inspect.signature(pl.Trainer).parameters)
        unknown = sorted(set(trainer_args) - known)
        if unknown:
            raise InputError(f"--trainer.{unknown[0]} is not a Lightning Trainer argument")
    family = get_family(args.codec)
    if args.quality is not None and args.quality not in family.qualities:
        raise InputError(f"{family.name} quality must be one of {', '.join(map(str, family.qualities))} "
                         f"(got {args.quality})")
    _check_fit_args(args)
    with open_video(src, size=args.size, fps=args.fps, max_frames=args.frames) as reader:
        info = reader.info  # a bad header or size fails here, before torch loads
    checkpoint = dst.with_name(dst.name + ".fit.ckpt")
    epochs = args.epochs or DEFAULT_EPOCHS
    bar = _FitProgress(epochs, args.quiet)
    t0 = time.perf_counter()
    try:
        enc = encode_video(src, quality=args.quality, epochs=epochs, time_budget=args.time_budget, size=args.size,
                           fps=args.fps, max_frames=args.frames, checkpoint=checkpoint, report=bar,
                           trainer_args=trainer_args or None)
    finally:
        bar.close()
    if not enc.is_global_zero:  # another process of a multi-process fit: the first one writes the file
        return 0
    atomic_write(dst, enc.data)
    checkpoint.unlink(missing_ok=True)
    h = enc.header
    bpp = 8 * len(enc.data) / (h.width * h.height * h.frames)
    print(f"{src} -> {dst}: {h.frames} frames of {h.width}x{h.height} at {h.fps_num / h.fps_den:g} fps "
          f"({info.source_format}), {len(enc.data)} bytes, {bpp:.4f} bpp, nerv q{h.rate_point}, "
          f"fitted in {enc.fit_seconds:.1f} s ({time.perf_counter() - t0:.1f} s in all)")
    return 0


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
    if _decode_options(args):
        from neuralcodec.coding import option_flags

        raise InputError(f"{option_flags(list(_decode_options(args)))}: not an option of video bitstreams")
    dst = Path(args.output)
    folder = names_folder(args.output)  # 'frames.v1/' is a folder of PNG frames whatever its dots
    suffix = "" if folder else dst.suffix.lower()
    if suffix and suffix not in VIDEO_SUFFIXES:
        raise InputError(f"this bitstream is a video: {dst.name} is not a video output ({VIDEO_OUTPUT_HINT})")
    if not dst.parent.is_dir():
        raise InputError(f"output folder does not exist: {dst.parent}")
    if _same_file(src, dst):
        raise InputError("output would overwrite the input")
    t0 = time.perf_counter()
    header, decoder = video_decoder(data, max_pixels=args.max_pixels)
    fps = Fraction(header.fps_num, header.fps_den)
    with open_writer(str(dst) + ("/" if folder else ""), header.width, header.height, fps) as writer:
        for frame in decoder.frames():
            writer.write_rgb(frame.permute(1, 2, 0).numpy())
    seconds = time.perf_counter() - t0
    print(f"{src} -> {dst}: {header.frames} frames of {header.width}x{header.height}, {seconds:.2f} s "
          f"({header.frames / seconds:.1f} frames/s)")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from neuralcodec.batch import BITSTREAM_SUFFIX, image_suffixes
    from neuralcodec.video_io import is_video_path

    video_input = args.input != "-" and Path(args.input).suffix.lower() != "" and is_video_path(args.input)
    if args.codec is None:
        args.codec = "nerv" if video_input else DEFAULT_CODEC
    if _is_video_codec(args.codec):
        return _encode_video(args)
    if video_input:
        raise InputError(f"{args.input} is a video, but {args.codec} codes images (use --codec nerv)")
    for name in ("epochs", "time_budget", "size", "fps", "frames"):
        if getattr(args, name) is not None:
            raise InputError(f"--{name.replace('_', '-')} is for video codecs (--codec nerv)")
    if args.model is not None and args.quality is not None:
        raise InputError("--quality and --model exclude each other: a model file is one rate point")

    return _dispatch(args, _encode_one, image_suffixes(), BITSTREAM_SUFFIX, "encode")


def cmd_decode(args: argparse.Namespace) -> int:
    from neuralcodec.batch import BITSTREAM_SUFFIX, STDIO, is_batch_spec
    from neuralcodec.image_io import output_format

    if args.input != STDIO and not is_batch_spec(args.input) and Path(args.input).is_file():
        from neuralcodec.bitstream import unpack

        data = Path(args.input).read_bytes()
        if unpack(data)[0].is_video:
            return _decode_video(Path(args.input), data, args)
    output_format(f"image.{args.format}")

    return _dispatch(args, _decode_one, {BITSTREAM_SUFFIX}, f".{args.format}", "decode")


def cmd_info(args: argparse.Namespace) -> int:
    from neuralcodec.batch import STDIO
    from neuralcodec.bitstream import unpack
    from neuralcodec.bitstream.container import COLOUR_FORMATS
    from neuralcodec.codecs.registry import family_name_of_id
    from neuralcodec.errors import InputError, ModelError

    if args.input == STDIO:
        src, data = STDIN_NAME, _read_stdin("a bitstream")
    else:
        src = Path(args.input)
        if not src.is_file():
            raise InputError(f"input file not found: {src}")
        data = src.read_bytes()
    header, chunks = unpack(data)
    try:
        family = family_name_of_id(header.family_id)
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
        *([("frames", header.frames), ("frame rate", f"{header.fps_num}/{header.fps_den} "
            f"({header.fps_num / header.fps_den:g} fps)"), ("colour format", COLOUR_FORMATS[header.colour_format])]
          if header.is_video else []),
        ("chunks", ", ".join(f"{len(c)} bytes" for c in chunks)),
        ("container overhead", f"{len(data) - payload} bytes (header, lengths, ICC profile, CRC32)"),
        ("bpp", f"{8 * len(data) / (header.width * header.height * max(header.frames, 1)):.4f}"),
        ("crc32", "ok"),
    ]
    for name, value in rows:
        print(f"{name:>20}: {value}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from neuralcodec.codecs.registry import (
        DEFAULT_CODEC,
        DEFAULT_QUALITY,
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


def cmd_export(args: argparse.Namespace) -> int:
    from neuralcodec.training.export import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.output, args.quality)
    print(f"{args.checkpoint} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def _cores() -> int:
    """Cores this process may run on (a container or taskset can allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cmd_eval(args: argparse.Namespace) -> int:
    jobs = args.jobs if args.jobs is not None else _cores()
    if jobs < 1:  # before torch is imported (seconds)
        raise InputError(f"--jobs must be at least 1, not {jobs}")
    import json
    import tempfile

    from tqdm import tqdm

    from neuralcodec.batch import expand_inputs, image_suffixes
    from neuralcodec.eval.lpips_metric import load_lpips
    from neuralcodec.eval.run import eval_codec, evaluate, model_files_eval_codec
    from neuralcodec.image_io import atomic_write

    try:
        options = _decode_options(args)
        codec = model_files_eval_codec(args.model, options) if args.model else eval_codec(args.codec, options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    images = expand_inputs(args.dataset, image_suffixes())[: args.limit or None]
    qualities = args.quality or codec.qualities
    if not qualities:
        raise InputError(f"no rate points for {args.codec}")
    try:
        codec.check_qualities(qualities)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    lpips_model, note = (None, "LPIPS disabled (--no-lpips)") if args.no_lpips else load_lpips()
    if lpips_model is None:
        print(f"codec: notice: {note}", file=sys.stderr)
    out = Path(args.out)
    if not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(images) * len(qualities), unit="image",
                                                    desc=f"eval {codec.name}", file=sys.stderr) as bar:
        work = Path(args.keep_files) if args.keep_files else Path(tmp)
        result = evaluate(codec, images, work, qualities, lpips_model, note, progress=lambda: bar.update(1),
                          jobs=jobs)
    atomic_write(out, (json.dumps(result, indent=2) + "\n").encode())
    r = result["results"]
    print(f"{'quality':>7} {'bpp':>8} {'PSNR':>7} {'Y-PSNR':>7} {'MS-SSIM':>8} {'SWD':>7}")
    for i, q in enumerate(r["quality"]):
        ssim = "-" if r["ms-ssim-rgb"][i] is None else f"{r['ms-ssim-rgb'][i]:.4f}"
        print(f"{q:>7} {r['bpp'][i]:>8.4f} {r['psnr-rgb'][i]:>7.2f} {r['psnr-y'][i]:>7.2f} {ssim:>8} "
              f"{r['swd'][i]:>7.2f}")
    print(f"wrote {out}")
    return 0


def cmd_eval_video(args: argparse.Namespace) -> int:
    """``codec eval-video INPUT -o OUT_DIR``: nerv and the live anchors on the same clips, a JSON file per codec."""
    import json

    from neuralcodec.eval.video import VIDEO_CODECS, clip_names, find_clips, parse_int_list
    from neuralcodec.video_io import open_video

    # what is wrong with the arguments or the input shows before torch loads and any clip is read
    names = list(dict.fromkeys(n.strip() for n in args.codecs.split(",") if n.strip()))  # each once, in order
    unknown = [n for n in names if n not in VIDEO_CODECS]
    if not names or unknown:
        raise InputError(f"unknown video codec '{unknown[0] if unknown else args.codecs}' (known: "
                         f"{', '.join(VIDEO_CODECS)})")
    _check_fit_args(args)
    points = {"nerv": args.qualities and parse_int_list(args.qualities, "--qualities"),
              "hyperprior-intra": args.hyperprior_qualities and parse_int_list(args.hyperprior_qualities,
                                                                               "--hyperprior-qualities")}
    crfs = args.crfs and parse_int_list(args.crfs, "--crfs")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"output is not a folder: {out}")
    paths = find_clips(args.input)
    for path in paths:  # every clip's header and size, before hours of coding start on the first one
        with open_video(path, size=args.size, fps=args.fps, max_frames=args.frames):
            pass

    from tqdm import tqdm

    from neuralcodec.eval.video import average_results, evaluate_clip, load_clip, video_codec
    from neuralcodec.image_io import atomic_write

    bar = tqdm(total=0, unit="point", desc="eval-video", file=sys.stderr, disable=args.quiet,
               bar_format="{desc}: {n_fmt}/{total_fmt} rate points |{bar}| {elapsed}{postfix}")

    def fit_report(state: dict[str, float]) -> None:  # nerv fits take minutes: show where they are
        bar.set_postfix_str(f"fit epoch {int(state['epoch'])}, PSNR {state.get('psnr', 0):.2f} dB")

    def point_started(label: str) -> None:
        bar.set_postfix_str("", refresh=False)  # the last fit's epoch is no news for the next point
        bar.set_description_str(label)

    keep = Path(args.keep_files) if args.keep_files else None
    codecs = [video_codec(n, points.get(n, crfs) or None, args.epochs, args.time_budget, fit_report, keep)
              for n in names]
    bar.total = len(paths) * sum(len(c.points) for c in codecs)
    _make_folder(out)
    blobs: dict[str, list[dict]] = {c.name: [] for c in codecs}
    written: list[Path] = []

    def write(path: Path, blob: dict) -> None:
        atomic_write(path, (json.dumps(blob, indent=1) + "\n").encode())
        written.append(path)

    try:
        for path, clip_name in zip(paths, clip_names(paths), strict=True):
            bar.set_description_str(f"{clip_name}: reading")
            clip = load_clip(path, args.size, args.fps, args.frames, clip_name)
            (out / clip_name).mkdir(exist_ok=True)
            for codec in codecs:
                blob = evaluate_clip(codec, clip, on_start=point_started, on_done=lambda: bar.update(1))
                write(out / clip_name / f"{codec.name}.json", blob)  # each as soon as it is done
                blobs[codec.name].append(blob)
            del clip  # one clip's frames in memory at a time
    finally:
        bar.close()
    if len(paths) > 1:
        dataset = Path(args.input).resolve().name
        for codec in codecs:
            write(out / f"{codec.name}.json", average_results(blobs[codec.name], dataset))

    summary = {c.name: (average_results(blobs[c.name], "") if len(paths) > 1 else blobs[c.name][0]) for c in codecs}
    print(f"{'mean of ' + str(len(paths)) + ' clips' if len(paths) > 1 else paths[0].name}:")
    print(f"{'codec':<17} {'point':>9} {'bpp':>8} {'PSNR-YUV':>8} {'PSNR-RGB':>8} {'MS-SSIM':>8} {'enc s':>8} "
          f"{'dec fps':>8}")
    for name, blob in summary.items():
        r = blob["results"]
        key = "crf" if "crf" in r else "quality"
        for i, point in enumerate(r[key]):
            ssim = "-" if r["ms-ssim-rgb"][i] is None else f"{r['ms-ssim-rgb'][i]:.4f}"
            label = f"{'crf' if key == 'crf' else 'q'}{point}"
            print(f"{name:<17} {label:>9} {r['bpp'][i]:>8.4f} {r['psnr-yuv'][i]:>8.2f} "
                  f"{r['psnr-rgb'][i]:>8.2f} {ssim:>8} {r['encode_seconds'][i]:>8.2f} {r['decode_fps'][i]:>8.1f}")
    print(f"wrote {len(written)} JSON files to {out}")
    return 0


def _load_curves(specs: list[str]) -> list:
    from neuralcodec.eval.curves import load_curve

    try:
        return [load_curve(spec) for spec in specs]
    except (KeyError, ValueError) as exc:  # JSON without the schema's keys, or not JSON at all
        raise InputError(f"not an RD curve file: {exc}") from None


def _two_point_curves(curves: list, specs: list[str]) -> None:
    for curve, spec in zip(curves, specs, strict=True):
        if len(curve.bpp) < 2:
            raise InputError(f"{spec} has {len(curve.bpp)} RD point(s): a curve needs at least 2")


def cmd_compare(args: argparse.Namespace) -> int:
    from neuralcodec.eval.curves import BD_METHOD, bd_metrics

    if len(args.curves) < 2:
        raise InputError("compare needs an anchor curve and at least one curve to compare with it")
    curves = _load_curves(args.curves)
    _two_point_curves(curves, args.curves)
    anchor = curves[0]
    print(f"BD metrics against {anchor.name} ({args.curves[0]}); interpolation: {args.method}"
          + (" (JCT-VC/JVET CTC)" if args.method == BD_METHOD else ""))
    print(f"{'curve':<34} {'metric':<11} {'BD-rate %':>10} {'BD-quality':>11}  bpp range")
    for curve in curves[1:]:
        metrics = [("psnr-rgb", "dB"), ("ms-ssim-db", "dB")]
        if anchor.metric("psnr-yuv") is not None and curve.metric("psnr-yuv") is not None:  # video curves
            metrics.append(("psnr-yuv", "dB"))
        for metric, unit in metrics:
            r = bd_metrics(anchor, curve, metric, args.method)
            rate = "-" if r["bd_rate"] is None else f"{r['bd_rate']:+.2f}"
            qual = "-" if r["bd_quality"] is None else f"{r['bd_quality']:+.3f} {unit}"
            rng = "none" if r["bpp_range"] is None else f"{r['bpp_range'][0]:.3f}–{r['bpp_range'][1]:.3f}"
            print(f"{curve.name[:34]:<34} {metric:<11} {rate:>10} {qual:>11}  {rng}")
            if r["note"]:
                print(f"codec: warning: {curve.name} {metric}: {r['note']}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from neuralcodec.eval.curves import plot_curves, plot_formats

    curves = _load_curves(args.curves)
    out = Path(args.output)
    if not out.suffix:
        out = out.with_name(out.name + ".png")
        print(f"codec: note: no file suffix given: writing PNG to {out}", file=sys.stderr)
    formats = plot_formats()
    if out.suffix.lower().lstrip(".") not in formats:
        raise InputError(f"cannot write a plot as '{out.suffix}' (use one of: .{', .'.join(sorted(formats))})")
    if not out.parent.is_dir():
        raise InputError(f"output folder does not exist: {out.parent}")
    plot_curves(curves, out, args.title or curves[0].dataset or "RD curves")
    print(f"wrote {out}")
    return 0


def _shipped_range() -> str:
    """The shipped rate points of the default family, e.g. ``0–7`` (a folder listing: no torch)."""
    from neuralcodec.codecs.registry import shipped_qualities

    qualities = shipped_qualities(DEFAULT_CODEC)
    return f"{DEFAULT_CODEC} {qualities[0]}–{qualities[-1]}" if qualities else "none"


def _add_decoder_arguments(p: argparse.ArgumentParser) -> None:
    """Options of how a file is decoded (``codec decode`` and ``codec eval``)."""
    p.add_argument("--drop-rate", type=_drop_rate, default=None, metavar="R",
                   help="vq files: simulate losing this share of the codebook indices (e.g. 0.2) and restore them "
                   "before decoding")
    p.add_argument("--decoder", choices=("mse", "diffusion"), default=None,
                   help="mse: the file's own decoder (default); diffusion: a few-step generative decoder that starts "
                   "from that decoding (hyperprior, checkerboard, acgc and vq files): more realistic texture, "
                   "lower PSNR")
    p.add_argument("--steps", type=int, default=None, help="diffusion decoder: denoising steps, 1…4 (default 2)")
    p.add_argument("--strength", type=float, default=None,
                   help="diffusion decoder: 0 keeps the MSE decoding, 1 (default) starts from the noise level matched "
                   "to the file's rate point; in between trades fidelity for realism")
    p.add_argument("--decoder-model", default=None, metavar="FILE",
                   help="diffusion decoder model file (default: the installed one)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="seed of the decoder's randomness: the diffusion decoder's noise, and which indices "
                   "--drop-rate loses (default 0); the same seed gives the same image")
    p.add_argument("--recovery", choices=("transformer", "nearest"), default=None,
                   help="vq files: how lost indices are restored: the masked-token transformer (default) or a copy "
                   "of the nearest kept index")


def _seed(text: str) -> int:
    """argparse type of --seed: a non-negative whole number."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative whole number, not {text!r}")
    return int(text)


def _drop_rate(text: str) -> float:
    """argparse type of --drop-rate: a share in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), not {text!r}")
    return value


def _pixel_count(text: str) -> int:
    """argparse type of --max-pixels: a positive whole number."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codec", description="neuralcodec: learned image compression with real bitstreams.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"neuralcodec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("encode", help="compress image files (PNG, JPEG, PPM, BMP, TIFF, WebP) to .bin",
                       description="Compress an image into a neuralcodec bitstream. Grayscale is coded as "
                       "R=G=B and decoded as grayscale; alpha is not coded; 16-bit input is reduced to 8 bits. "
                       "Batch mode: give a folder or a quoted glob and an output folder; bad files are skipped "
                       "and reported, the exit status is 1 if any failed, every output is written atomically. "
                       "'-' reads the image from stdin / writes the bitstream to stdout (the status line then "
                       "goes to stderr).")
    p.add_argument("input", help="image file, '-' for stdin, folder, or quoted glob such as 'photos/*.jpg' (a path "
                   "that exists is taken literally, even with [ ? * in its name)")
    p.add_argument("-o", "--output", required=True,
                   help="bitstream file to write (not with an image suffix such as .png), '-' for stdout, or a "
                   "folder: an existing one or one ending in '/' (created if missing) gets INPUT's name with .bin; "
                   "the output folder in batch mode (outputs are replaced atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bar in batch mode")
    p.add_argument("--codec", default=None, help="codec family (see 'codec list'; default: "
                   f"{DEFAULT_CODEC} for images, nerv for videos)")
    p.add_argument("--quality", type=int, default=None, help="rate point; higher = more bits, better quality "
                   f"(shipped: {_shipped_range()}; default {DEFAULT_QUALITY})")
    p.add_argument("--model", default=None,
                   help="use this model file instead of a shipped rate point (not with --quality)")
    p.add_argument("--max-pixels", type=_pixel_count, default=None, metavar="N",
                   help="refuse images of more than N pixels (width × height), before the model loads (for "
                   f"untrusted input; default: the format's limit, {MAX_PIXELS} = 2^26 pixels)")
    p.add_argument("--skip-existing", action="store_true",
                   help="batch mode: leave outputs that already exist alone (resume a large batch)")
    v = p.add_argument_group("video (--codec nerv; INPUT: .y4m, raw .yuv, .mp4/.mkv/.webm/..., or a folder of PNG "
                             "frames). Encoding fits a network to the clip: minutes, with a progress bar; if "
                             "interrupted, running the same command again resumes from OUTPUT.fit.ckpt")
    v.add_argument("--epochs", type=int, default=None, help="passes over the clip (default 300)")
    v.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="end the fit (on schedule: learning rate and quantization phase) after this many seconds")
    v.add_argument("--size", type=_parse_size, default=None, metavar="WxH",
                   help="frame size of a raw .yuv whose name does not say it (UVG names such as "
                   "Beauty_1920x1080_120fps_420_8bit_YUV.yuv do)")
    v.add_argument("--fps", type=float, default=None, help="frame rate of a raw .yuv or PNG folder (default 30)")
    v.add_argument("--frames", type=int, default=None, metavar="N", help="code only the first N frames")
    v.add_argument("--trainer.KEY", metavar="VALUE", dest="_trainer_doc", default=None,
                   help="a Lightning Trainer argument of the fit, e.g. --trainer.accelerator gpu --trainer.devices 2 "
                   "(several GPUs or processes: --trainer.strategy ddp)")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decompress a .bin to an image (or video) file",
                       description="Decode a neuralcodec bitstream. The output format follows the file "
                       "suffix (PNG by default); a video bitstream is written as .y4m, .yuv, .mp4, .mkv, .webm, "
                       ".avi, .mov, or PNG frames into a folder (an output without a suffix). The model that "
                       "encoded the file must be installed. '-' reads "
                       "the bitstream from stdin / writes the image to stdout (the status line then goes to "
                       "stderr).")
    p.add_argument("input", help="bitstream file, '-' for stdin, folder of .bin files, or quoted glob (a path that "
                   "exists is taken literally, even with [ ? * in its name)")
    p.add_argument("-o", "--output", required=True,
                   help="image file to write (its suffix picks the format; an unwritable one is an error), '-' for "
                   "stdout, or a folder: an existing one or one ending in '/' (created if missing) gets INPUT's "
                   "name with the --format suffix; the output folder in batch mode (outputs are replaced atomically)")
    p.add_argument("--max-pixels", type=_pixel_count, default=None, metavar="N",
                   help="refuse files that claim more than N pixels (after padding) before decoding (for untrusted "
                   f"input; default: the format's limit, {MAX_PIXELS} = 2^26 pixels)")
    p.add_argument("--format", default="png",
                   help="image format (file suffix) of batch outputs, of '-o -' and of '-o FOLDER/'; default png")
    p.add_argument("--quiet", action="store_true", help="no progress bar in batch mode")
    p.add_argument("--model", default=None, help="model file to decode with (must be the one that encoded it)")
    p.add_argument("--skip-existing", action="store_true",
                   help="batch mode: leave outputs that already exist alone (resume a large batch)")
    _add_decoder_arguments(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="print every header field of a .bin", description="Parse a bitstream, "
                       "verify its CRC32 and print every container field.")
    p.add_argument("input", help="bitstream file, or '-' for stdin")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("list", help="codecs and shipped rate points with measured Kodak figures")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("export", help="turn a training checkpoint (.ckpt) into a compact model file (.pt)",
                       description="Export a Lightning checkpoint to its family's compact model file. A checkpoint "
                       "is a pickle: loading it can run code, so export only checkpoints you made or trust "
                       "(model files, read everywhere else, never run code).")
    p.add_argument("checkpoint",
                   help="Lightning checkpoint from a trusted source, e.g. runs/hyperprior-q3/.../last.ckpt")
    p.add_argument("-o", "--output", required=True,
                   help="model file to write, e.g. runs/hyperprior-q3/hyperprior-q3.pt (never over a shipped file)")
    p.add_argument("--quality", type=int, default=None,
                   help="rate point recorded in the file and its bitstreams (default: the checkpoint's)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="RD evaluation of a codec on an image folder, written as JSON",
                       description="Encode every image to a real file at every rate point, decode it from that "
                       "file and measure bpp (file bytes, header included), RGB PSNR, Y-PSNR (BT.601), MS-SSIM "
                       "(also in dB), LPIPS (when AlexNet weights are on disk; else null), patch-SWD and times. "
                       "Codecs: learned families (see 'codec list') and live anchors jpeg, webp, avif, x265. "
                       "Output uses CompressAI's results JSON schema.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--codec", default=None, help="a learned family (see 'codec list') or a live anchor: "
                      "jpeg | webp | avif | x265; NAME@SCALE codes the image downscaled by SCALE and upscales the "
                      "decoding back (e.g. avif@0.5, for extreme rates)")
    what.add_argument("--model", nargs="+", default=None, metavar="FILE",
                   help="instead of --codec: model files (e.g. fresh from 'codec train'), one rate point each")
    p.add_argument("--quality", type=int, nargs="*", default=None, help="rate points (default: the full sweep)")
    p.add_argument("--dataset", required=True, help="folder (or quoted glob) of images, e.g. ../shared/datasets/kodak")
    p.add_argument("--out", required=True, help="JSON file to write, e.g. results/hyperprior-kodak.json")
    p.add_argument("--keep-files", default=None, help="keep the coded files in this folder")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS even if its weights are present")
    _add_decoder_arguments(p)
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="images measured in N worker processes at once (default: all cores); results as with 1")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("eval-video", help="RD evaluation of nerv and live video anchors on clips, written as JSON",
                       description="Code every clip at every rate point with each codec, decode it from the "
                       "counted bytes and measure bpp (bytes × 8 / (W·H·frames)) and bitrate, PSNR of Y, U, V and "
                       "(6Y+U+V)/8, RGB PSNR and MS-SSIM per frame and on average, encode seconds and decode frames "
                       "per second. Anchors run live on the same frames: x264 and x265 through PyAV (presets "
                       "medium and veryslow, CRF sweep, 4:2:0; raw stream bytes) and hyperprior-intra (every frame "
                       "coded as an image). One JSON file per codec and clip, OUT/CLIP/CODEC.json, in CompressAI's "
                       "video results schema (plus OUT/CODEC.json averaged over clips when there are several); "
                       "'codec plot' draws them, 'codec compare' gives BD-rates. Settings and definitions: "
                       "neuralcodec/eval/video.py. nerv fits a network per clip and rate point: minutes each "
                       "(bound it with --epochs or --time-budget).")
    p.add_argument("input", help="a clip (.y4m, raw .yuv, .mp4/.mkv/...), a folder of PNG frames, a folder of clips, "
                   "or a UVG folder (one 8-bit file per UVG sequence)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder for the JSON files (created)")
    p.add_argument("--codecs", default="nerv,x264-medium,x264-veryslow,x265-medium,x265-veryslow,hyperprior-intra",
                   help="comma-separated codecs (default: all of nerv, x264-medium, x264-veryslow, x265-medium, "
                   "x265-veryslow, hyperprior-intra)")
    p.add_argument("--qualities", default=None, metavar="LIST", help="nerv qualities, e.g. 0,1,2 (default: 0,1,2,3)")
    p.add_argument("--hyperprior-qualities", default=None, metavar="LIST",
                   help="hyperprior-intra rate points (default: the shipped ones, 0…7)")
    p.add_argument("--crfs", default=None, metavar="LIST",
                   help="x264 / x265 CRF values (default: 22,27,32,37,42,47)")
    p.add_argument("--epochs", type=int, default=None, help="nerv: passes over the clip (default 300)")
    p.add_argument("--keep-files", default=None, metavar="DIR",
                   help="nerv: keep each fitted .bin in DIR (CLIP-nerv-qN.bin), to decode or time it later")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="nerv: end each fit after this many seconds")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="only the first N frames of each clip")
    p.add_argument("--size", type=_parse_size, default=None, metavar="WxH",
                   help="frame size of a raw .yuv whose name does not say it")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a raw .yuv or PNG folder (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval_video)

    p = sub.add_parser("compare", help="BD-rate / BD-PSNR of RD curves against the first one",
                       description="Bjøntegaard deltas (bjontegaard package) of each curve against the first, for "
                       "RGB PSNR and MS-SSIM (dB), over their overlapping bpp range. A curve is a JSON file in "
                       "CompressAI's schema or a published curve such as compressai:bmshj2018-hyperprior.")
    p.add_argument("curves", nargs="+", help="anchor first, then the curves to compare")
    p.add_argument("--method", default="pchip", choices=["pchip", "akima", "cubic"],
                   help="interpolation (pchip: JCT-VC/JVET CTC; cubic: original VCEG-M33)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", help="draw bpp–PSNR, bpp–MS-SSIM and bpp–realism panels of RD curves")
    p.add_argument("curves", nargs="+", help="JSON files or compressai:NAME")
    p.add_argument("-o", "--output", required=True,
                   help="image to write; its suffix picks the format (.png when none is given; also .pdf, .svg, …)")
    p.add_argument("--title", default=None, help="figure title (default: the dataset recorded in the first curve)")
    p.set_defaults(func=cmd_plot)

    sub.add_parser("train", help="train or resume a rate point from a LightningCLI YAML "
                   "(codec train --config configs/hyperprior/q3.yaml; 'codec train --help' for all options)",
                   add_help=False)
    return parser


def _split_trainer_args(argv: list[str]) -> tuple[dict[str, object], list[str]]:
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


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # Dependencies' deprecation chatter (e.g. torch.jit.script inside compressai) is not for our users.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        for i, arg in enumerate(argv[:-1]):
            if arg == "--config" and not Path(argv[i + 1]).is_file():
                return _fail(f"config file not found: {argv[i + 1]}")
        from neuralcodec.training.cli import train_main

        train_main(argv[1:])
        return 0
    try:
        trainer_args, argv = _split_trainer_args(argv) if argv[:1] == ["encode"] else ({}, argv)
    except InputError as exc:
        return _fail(str(exc))
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv[:1] == ["encode"]:
        args.trainer_args = trainer_args
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    def show_warning(message, category, *_args, **_kwargs) -> None:  # noqa: ANN001 - warnings' signature
        print(f"codec: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    warnings.simplefilter("always", UserWarning)
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed and no partial output is left.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except NeuralCodecError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # the reader left (e.g. '| head'): end quietly like other Unix tools
        try:  # and keep Python from complaining again when it flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 128 + signal.SIGPIPE
    except PermissionError as exc:
        return _fail(f"permission denied: {exc.filename or exc}")
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
