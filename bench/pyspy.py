"""Optional sampling profiles of the exporter, one per benchmark phase, with py-spy.

py-spy is not a project dependency: install it anywhere (e.g. a throwaway venv) and pass its
path with --py-spy. A profiled run perturbs the figures (py-spy reads 1,000 thread stacks per
sample), so profile in a separate run from the one whose figures you keep.
"""

from __future__ import annotations

import collections
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RATE = 50  # samples per second
STOP_TIMEOUT = 30.0


@contextmanager
def profiled(py_spy: str | None, pid: int, output: Path) -> Iterator[None]:
    """Sample `pid` while the block runs; collapsed stacks go to `output` (no-op without py-spy)."""
    if py_spy is None:
        yield
        return
    command = [py_spy, "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking"]
    command += ["--nolineno", "--format", "raw", "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def top_frames(
    path: Path, count: int = 8
) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, the `count` frames with most own samples, those with most samples inclusive)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return 0, [], []
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return total, own.most_common(count), inclusive.most_common(count)


def summary(path: Path, count: int = 8) -> list[str]:
    """Report lines: top own-time and inclusive frames as a share of the samples."""
    total, own, inclusive = top_frames(path, count)
    if not total:
        return [f"  (no samples in {path})"]
    lines = [f"  {total} samples; own time:"]
    lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in own]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in inclusive]
    return lines
