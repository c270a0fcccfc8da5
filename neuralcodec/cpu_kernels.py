"""Which CPU kernel set a float32 result depends on.

The float synthesis transforms decode to exactly the same pixels only where oneDNN picks the same kernels, and it
picks them by instruction set: torch's CPU capability (``AVX2``, ``AVX512``) and, within AVX-512, whether the CPU
has AMX tiles (measured: Intel Xeon with AMX and AMD EPYC without it decode some hyperprior files differently).
Golden files record this key, and their pixel check runs where it matches.
"""

from __future__ import annotations

import torch


def cpu_kernels() -> str:
    """``AVX2``, ``AVX512``, ``AVX512+AMX``, … for this machine."""
    capability = torch.backends.cpu.get_cpu_capability()
    has_amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return capability + ("+AMX" if has_amx else "")
