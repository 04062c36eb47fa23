"""CPU time, memory and threads of another process, read from /proc/<pid> (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes resident now (VmRSS)
    peak_rss: int  # the most ever resident (VmHWM)
    threads: int


@dataclass(frozen=True)
class CpuTimes:
    user: float  # seconds, every thread of the process so far (10 ms resolution)
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - earlier.user, self.system - earlier.system)


def cpu_times(pid: int) -> CpuTimes:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return CpuTimes(utime / CLOCK_TICKS, stime / CLOCK_TICKS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of `pid` so far."""
    return cpu_times(pid).total


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches, summed over the process's threads."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    key, _, value = line.partition(":")
                    if key.endswith("ctxt_switches"):  # voluntary_ and nonvoluntary_
                        total += int(value)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return total


def memory(pid: int) -> Memory:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                values[key] = int(rest.split()[0])
    return Memory(values["VmRSS"] * 1024, values["VmHWM"] * 1024, values["Threads"])


def open_fds(pid: int) -> int:
    """File descriptors `pid` has open now (sockets, pipes, files)."""
    return len(os.listdir(f"/proc/{pid}/fd"))
