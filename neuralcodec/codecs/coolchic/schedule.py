"""The fitting schedule of the overfitted image codec: which quantisation proxy, temperature, noise and
learning rate each iteration uses. Kept apart from the loop that runs it (plain or Lightning)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Soft rounding with annealed temperature and noise, then a final hard-rounding phase (C3, Cool-chic).

    ``iterations`` in all; the last ``hard_fraction`` of them use rounding with a straight-through gradient
    at ``hard_lr_factor`` times the learning rate. That rate must not exceed where the soft phase's cosine ends
    (1 % of ``lr``): a final phase at 10 % undid the fit (measured in the pilot, ``docs/results.md``)."""

    iterations: int
    lr: float = 1e-2
    hard_fraction: float = 0.1
    hard_lr_factor: float = 0.01
    temperature_start: float = 0.3
    temperature_end: float = 0.1
    noise_start: float = 2.0  # Kumaraswamy a: peaked noise first, uniform (a = 1) at the end
    noise_end: float = 1.0

    @property
    def soft_iterations(self) -> int:
        return max(1, int(round(self.iterations * (1.0 - self.hard_fraction))))

    def phase(self, step: int) -> dict:
        """Mode, temperature, noise parameter and learning rate at ``step`` (0-based)."""
        soft = self.soft_iterations
        if step < soft:
            t = step / max(soft - 1, 1)
            return {
                "mode": "soft",
                "temperature": self.temperature_start + (self.temperature_end - self.temperature_start) * t,
                "noise_a": self.noise_start + (self.noise_end - self.noise_start) * t,
                "lr": self.lr * 0.5 * (1.0 + math.cos(math.pi * t)) + self.lr * 1e-2,
            }
        t = (step - soft) / max(self.iterations - soft, 1)
        return {"mode": "hard", "temperature": 0.0, "noise_a": 1.0,
                "lr": self.lr * self.hard_lr_factor * 0.5 * (1.0 + math.cos(math.pi * t))}
