"""The ``coolchic`` family's tables (no torch, so the declaration reads them): quality → λ, preset → iterations.

Loss while fitting: ``MSE + λ · bpp`` with pixels in [0, 1] (Cool-chic's convention). The λ values span about
0.1–1.5 bpp on Kodak-like images; presets trade encoding time for rate–distortion (``docs/results.md``).
"""

from __future__ import annotations

QUALITIES: dict[int, float] = {0: 0.02, 1: 0.008, 2: 0.004, 3: 0.002, 4: 0.001, 5: 0.0004}
DEFAULT_QUALITY = 3
PRESETS: dict[str, int] = {"fast": 250, "medium": 1500, "slow": 4000}  # iterations
DEFAULT_PRESET = "medium"
