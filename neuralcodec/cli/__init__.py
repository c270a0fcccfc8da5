"""The ``codec`` command line: one module per command. The only package that prints or exits.

Each command module has ``add_parser(sub)`` (its flags and help) and ``run(args) -> int``; this module
builds the parser from them, runs the chosen command and turns every error into one line and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import NoReturn

from neuralcodec import __version__
from neuralcodec.cli import compare, decode, encode, eval_video, evaluate, export, info, listing, plot
from neuralcodec.errors import InputError, NeuralCodecError

COMMANDS = (encode, decode, info, listing, export, evaluate, eval_video, compare, plot)

EPILOG = """examples:
  codec encode photo.png -o photo.bin            # default codec and rate point
  codec encode photo.png -o photo.bin --quality 5
  codec decode photo.bin -o photo_decoded.png
  codec encode - -o - < photo.png > photo.bin    # '-': stdin / stdout (status line on stderr)
  codec encode photo.png -o bins/                # into a folder: bins/photo.bin
  codec info photo.bin                           # every header field
  codec encode clip.y4m -o clip.bin --quality 1 --time-budget 600   # a video: fits a network to the clip
  codec decode clip.bin -o clip_decoded.y4m      # or .mp4, .yuv, or frames/ (PNG frames)
  codec list                                     # codecs, rate points, measured Kodak bpp / PSNR
  codec train --config configs/hyperprior/q3.yaml   # train or resume a rate point
"""


class _OneLineErrors(argparse.ArgumentParser):
    """Argument errors in one line (argparse prints the whole usage first); ``--help`` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="codec", description="neuralcodec: learned image compression with real bitstreams.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"neuralcodec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    sub.add_parser("train", help="train or resume a rate point from a LightningCLI YAML "
                   "(codec train --config configs/hyperprior/q3.yaml; 'codec train --help' for all options)",
                   add_help=False)
    return parser


def _fail(message: str, code: int = 1) -> int:
    print(f"codec: error: {message}", file=sys.stderr)
    return code


_signals_received: list[int] = []


def _terminate(signum: int, frame: object) -> None:
    _signals_received.append(signum)
    raise KeyboardInterrupt


def _config_root(config: Path) -> Path:
    """The folder a config's relative paths (data, model files, ``runs/``) resolve against: the nearest folder
    above it that holds a ``configs/`` folder (the project), else the config's own folder."""
    for folder in config.parents:
        if (folder / "configs").is_dir():
            return folder
    return config.parent


def _train(argv: list[str]) -> int:
    """``codec train``: check the configs, run from their project folder (so their relative paths mean the same
    from any working directory), and turn every failure into one line."""
    import yaml

    verbose = "--verbose" in argv  # the libraries' notices too
    argv = [a for a in argv if a != "--verbose"]
    if any(a in ("-h", "--help") for a in argv):
        from neuralcodec.training.cli import train_main

        train_main(argv)
        return 0
    configs = [i + 1 for i, arg in enumerate(argv[:-1]) if arg == "--config"]
    if not configs:
        return _fail("codec train needs --config FILE (e.g. configs/hyperprior/q3.yaml)")
    for i in configs:
        path = Path(argv[i])
        if not path.is_file():
            return _fail(f"config file not found: {argv[i]}")
        try:
            config = yaml.safe_load(path.read_text())
        except OSError as exc:
            return _fail(f"cannot read {argv[i]}: {exc.strerror or exc}")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            return _fail(f"{argv[i]} is not a YAML file: {' '.join(str(exc).split())[:200]}")
        if not isinstance(config, dict):
            return _fail(f"{argv[i]} is not a training config (a YAML mapping of trainer, model, data)")
    # paths given on the command line stay where the user meant them (options known to take one path)
    argv = list(argv)
    for i, arg in enumerate(argv[:-1]):
        value = argv[i + 1]
        if arg.startswith("--") and arg.rsplit(".", 1)[-1].lstrip("-") in TRAIN_PATH_OPTIONS \
                and not value.startswith("-") and not Path(value).is_absolute():
            argv[i + 1] = str(Path(value).resolve())
    root = _config_root(Path(argv[configs[0]]))
    from neuralcodec.training.cli import TrainingStartError, train_main
    from neuralcodec.training.fit_control import quiet_lightning

    def resuming(checkpoint: Path, step: int) -> None:
        print(f"codec train: resuming from {checkpoint} (step {step})", file=sys.stderr)

    if verbose:
        logging.getLogger("neuralcodec").setLevel(logging.DEBUG)
    bar = _TrainingBar()
    signal.signal(signal.SIGTERM, _terminate)
    working_folder = os.getcwd()
    os.chdir(root)
    try:
        with quiet_lightning():
            train_main(argv, on_resume=resuming, progress=bar)
    except TrainingStartError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        bar.close()
        print("codec: interrupted: run the same command again to resume from the run's last checkpoint",
              file=sys.stderr)
        return 128 + (_signals_received[0] if _signals_received else signal.SIGINT)
    finally:
        bar.close()
        os.chdir(working_folder)
    return 0


# ``codec train`` options whose value is one path, resolved where the command runs (not in the config's project)
TRAIN_PATH_OPTIONS = frozenset({"config", "default_root_dir", "init_from", "source_model", "restorer_from",
                                "init_transforms_from", "val_dir", "cache_dir", "decoder_model", "dirpath"})


class _TrainingBar:
    """``codec train``'s progress bar: steps, the logged loss, bpp and PSNR, and the time left at this run's pace."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, state: dict) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=state["total"], initial=state["step"] - state["steps_this_run"], desc="training",
                            unit="step", file=sys.stderr,
                            bar_format="{desc}: {n_fmt}/{total_fmt} steps |{bar}|{postfix}")
        self.bar.n = state["step"]
        shown = [f"{key} {state[key]:.4g}" for key in ("loss", "bpp") if key in state]
        if "psnr" in state:
            shown.append(f"PSNR {state['psnr']:.2f} dB")
        if state["total"] and state["steps_this_run"]:
            left = state["elapsed"] / state["steps_this_run"] * (state["total"] - state["step"])
            shown.append(f"{left:.0f} s left")
        self.bar.set_postfix_str(", ".join(shown))
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def main(argv: list[str] | None = None) -> int:
    # Dependencies' deprecation chatter (e.g. torch.jit.script inside compressai) is not for our users.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return _train(argv[1:])
    try:
        trainer_args, argv = encode.split_trainer_args(argv) if argv[:1] == ["encode"] else ({}, argv)
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
    if getattr(args, "verbose", False):  # the libraries' notices too (see training.fit_control.quiet_lightning)
        logging.getLogger("neuralcodec").setLevel(logging.DEBUG)
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
    except KeyboardInterrupt as exc:  # Ctrl-C: 130; SIGTERM: 143 (128 + the signal, as shells report it)
        print(f"codec: {exc}" if str(exc) else "codec: interrupted", file=sys.stderr)
        return 128 + (_signals_received[0] if _signals_received else signal.SIGINT)

