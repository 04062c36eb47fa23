"""glibc's malloc, set for a process with a thread per account.

glibc gives each new thread its own malloc arena, up to eight per core, and an arena keeps what
its threads freed. With a stream thread per account, 16 arenas on two cores each held their
share of freed message buffers, and the render thread's its slice texts: at 1,000 x 50 with the
default events, peak RSS 282 MB; limited to two arenas, 263 MB (docs/performance.md, "Events at
the cost of what changed"). Python threads take turns on the GIL, so more arenas buy little:
malloc's lock is rarely contended.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Mapping

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def limit_arenas(environ: Mapping[str, str], arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc to `arenas` arenas, unless the environment sets the limit itself
    (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES); whether it did. Call it
    before starting threads: a thread keeps the arena it got. Elsewhere than glibc: nothing.
    """
    if "MALLOC_ARENA_MAX" in environ or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = glibc_mallopt()
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


def glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None (another C library)."""
    name = ctypes.util.find_library("c")
    if name is None or "libc.so" not in name:  # glibc's; musl and others differ
        return None
    try:
        mallopt: Callable[[int, int], int] = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    return mallopt
