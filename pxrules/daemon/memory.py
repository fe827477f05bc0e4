"""Give memory freed after a burst back to the system.

Python frees a forgotten key's 10 KB value at once, but glibc keeps the freed pages in the
process when small allocations sit between them, so RSS stays at the burst's peak. After a
checkpoint that wrote many rows (a burst came and went), :func:`release_free_memory` asks glibc
to return every free page (``malloc_trim(0)``). Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
