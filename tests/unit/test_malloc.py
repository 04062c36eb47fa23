"""glibc's malloc arenas: two for the whole process, unless the environment says otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporter.malloc import ARENAS, glibc_mallopt, limit_arenas

# Six threads alive at once, each allocating from malloc (above pymalloc's 512 bytes), then
# glibc's own account of its arenas (malloc_stats, on standard error).
THREADS = """
import ctypes, sys, threading
from exporter.malloc import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas({})
both = threading.Barrier(7)
held = []
def allocate():
    held.append(bytearray(64 * 1024))
    both.wait()
    both.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for thread in threads:
    thread.start()
both.wait()
ctypes.CDLL("libc.so.6").malloc_stats()
both.wait()
"""


def arenas(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", THREADS, mode], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return sum(line.startswith("Arena ") for line in result.stderr.splitlines())


def test_threads_share_two_arenas() -> None:
    if glibc_mallopt() is None:
        pytest.skip("not glibc's malloc")
    assert arenas("default") > ARENAS, "without the limit each thread gets an arena"
    assert arenas("limit") <= ARENAS


def test_the_environment_s_own_limit_wins() -> None:
    assert not limit_arenas({"MALLOC_ARENA_MAX": "4"})
    assert not limit_arenas(
        {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=8"}
    )
