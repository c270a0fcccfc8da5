"""What every encode-time fit (the fitted families' encoders) shares: a resume checkpoint kept up to date, and
interrupts (Ctrl-C, SIGTERM) that stay interrupts.

Lightning answers a ``KeyboardInterrupt`` with its own shutdown and ``sys.exit(1)``, and ignores Ctrl-C from then
on; :func:`fit_interruptibly` turns that back into a ``KeyboardInterrupt`` (so the CLI can say how to resume and
exit 130 or 143) and restores the Ctrl-C handler. :class:`ResumeCheckpoint` writes the checkpoint after the first
iteration, then every ``seconds``, and once more when the fit is interrupted.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class ResumeCheckpoint(pl.Callback):
    """Keeps ``checkpoint`` (when given) a complete, resumable picture of the fit."""

    def __init__(self, checkpoint: Path | None, seconds: float) -> None:
        self.checkpoint, self.seconds = checkpoint, seconds
        self._last_save: float | None = None  # none yet: the first epoch's end writes one

    def save(self, trainer: pl.Trainer) -> None:
        assert self.checkpoint is not None
        partial = self.checkpoint.with_name(self.checkpoint.name + ".part")
        trainer.save_checkpoint(partial)  # every process takes part; the first one writes
        if trainer.is_global_zero:
            partial.replace(self.checkpoint)  # never leaves a half-written checkpoint
        self._last_save = time.monotonic()

    def save_if_due(self, trainer: pl.Trainer) -> None:
        """At an epoch's end: write the checkpoint if none was written yet or ``seconds`` have passed."""
        if self.checkpoint is None:
            return
        due = self._last_save is None or time.monotonic() - self._last_save >= self.seconds
        if trainer.world_size > 1:  # saving is collective: the processes agree
            due = trainer.strategy.reduce_boolean_decision(due, all=False)
        if due:
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        # one process only: a collective save could wait forever on processes that are shutting down
        if (isinstance(exception, KeyboardInterrupt) and self.checkpoint is not None and trainer.global_step > 0
                and trainer.world_size == 1):
            self.save(trainer)


def fit_interruptibly(trainer: pl.Trainer, module: pl.LightningModule, loader: Any, ckpt_path: str | None,
                      **fit_args: Any) -> None:
    """``trainer.fit``, where Ctrl-C or SIGTERM (raised as ``KeyboardInterrupt``) ends in a ``KeyboardInterrupt``
    rather than Lightning's ``sys.exit(1)``."""
    main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        trainer.fit(module, loader, ckpt_path=ckpt_path, **fit_args)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if sigint is not None:  # Lightning ignores Ctrl-C once it has shut down
            signal.signal(signal.SIGINT, sigint)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's notices (accelerators found, tips, "fit stopped") are not a fit's business: only errors pass,
    unless the ``neuralcodec`` logger is at DEBUG (``codec encode --verbose``)."""
    if logging.getLogger("neuralcodec").isEnabledFor(logging.DEBUG):
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "pytorch_lightning", "lightning_fabric",
                                                     "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="pytorch_lightning")
        warnings.filterwarnings("ignore", module="lightning")
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class TrainingProgress(pl.Callback):
    """Hands ``report`` the state of a training run after every ``every`` steps: ``step``, ``total`` (max_steps,
    or None), ``elapsed`` seconds of this run, the steps this run made, and the logged ``train/…`` numbers; the
    caller draws it (``codec train`` replaces Lightning's own progress bar with it)."""

    def __init__(self, report: Callable[[dict[str, Any]], None], every: int = 10) -> None:
        self.report, self.every = report, every
        self._started: float | None = None
        self._first_step = 0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._started, self._first_step = time.monotonic(), trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *_: Any) -> None:
        step = trainer.global_step
        first = step == self._first_step + 1  # the bar and its time left show from the first step on
        if not trainer.is_global_zero or (step % self.every and step != trainer.max_steps and not first):
            return
        logged = {key.split("/", 1)[1]: float(value) for key, value in trainer.callback_metrics.items()
                  if key.startswith("train/") and getattr(value, "numel", lambda: 1)() == 1}
        self.report({"step": step, "total": trainer.max_steps if trainer.max_steps and trainer.max_steps > 0
                     else None, "elapsed": time.monotonic() - (self._started or time.monotonic()),
                     "steps_this_run": step - self._first_step, **logged})
