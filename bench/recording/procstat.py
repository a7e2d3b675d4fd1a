"""CPU seconds from /proc: the processes of a run, and the whole machine's busy time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own CPU s, reaped children's CPU s) of ``pid``, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return ppid, own, reaped


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu(root: int) -> tuple[float, float, float]:
    """(main process, pool, recorder) CPU of a worker's process tree; the pool includes
    children the main process has reaped (a replaced pool child); the recorder is the
    embedded recorder's process (workers/recording/recorder_process.py), when there is one."""
    main = pool = recorder = 0.0
    for pid in _descendants(root):
        st = proc_stat(pid)
        if st is None:
            continue
        if pid == root:
            main, pool = main + st[1], pool + st[2]
        elif _is_recorder(pid):
            recorder += st[1] + st[2]
        else:
            pool += st[1] + st[2]
    return main, pool, recorder


def _is_recorder(pid: int) -> bool:
    try:
        return b"workers.recording.recorder_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def pids_cpu(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        st = proc_stat(pid)
        if st is not None:
            out[pid] = st[1]
    return out


def machine_busy() -> dict[str, float]:
    """Busy CPU seconds of the whole machine (all cores) by kind, from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return {
        "user": (user + nice) / CLK_TCK,
        "system": system / CLK_TCK,
        # Interrupt time is charged to no process: on loopback that is the network stack.
        "irq+softirq": (irq + softirq) / CLK_TCK,
        "steal": steal / CLK_TCK,
    }


@dataclass
class CpuSnapshot:
    worker: tuple[float, float, float]
    producer: dict[int, float]
    redis: dict[int, float]
    postgres: dict[int, float]
    machine: dict[str, float]
    me: float


def delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A process that appeared in between counts whole; one that exited is lost (rare:
    # pooled connections live through a run).
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())
