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


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX or AVX-512 BF16), where it is several times faster than
    float32 for large matrix products; elsewhere bfloat16 is emulated and slower."""
    has_amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    has_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(has_amx or has_bf16)
