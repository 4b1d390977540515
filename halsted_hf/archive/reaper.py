"""Ray's helper processes end with the `map-archive` driver that started them, even a SIGKILLed one.

A local Ray (started by the driver's `ray.init`) is a tree of processes under the driver. When the driver is
killed outright, most of the tree goes with it, but the raylet's agents (`ray::DashboardAgent`,
`ray::RuntimeEnvAgent`) were left running for about two minutes, until they noticed. Nothing runs in a
SIGKILLed process, so a small watchdog outside it does the clean-up: started in its own session (a signal
to the driver's process group does not reach it), it is told the pids of the driver's descendants and
waits on a pipe from the driver. The pipe closes when the driver exits, however it exits; the watchdog
then stops every listed process that still runs (SIGTERM, SIGKILL after 2 s) and exits. A pid is
identified with its start time, so a number reused by another process is never signalled.

    python -m halsted_hf.archive.reaper    (reads "PID START_TIME" lines on stdin until end of file)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Dict, Optional, Set

GRACE_S = 2.0


def start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if fields[0] != "Z" else None  # a zombie holds nothing: nothing to stop


def descendants(pid: int) -> Set[int]:
    """Every live process below `pid` (children, grandchildren, ...), read from /proc."""
    parent: Dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in found]
        found.update(kids)
        todo.extend(kids)
    return found


class Reaper:
    """The driver's side: `watch()` after Ray has started (and whenever new helpers may exist), `close()`
    after `ray.shutdown()`. Linux only (/proc); elsewhere it does nothing."""

    def __init__(self):
        self.proc = None
        self.sent: Set[int] = set()
        if os.path.isdir("/proc/self"):
            self.proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.archive.reaper"], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                                         start_new_session=True)

    def watch(self) -> None:
        if self.proc is None:
            return
        for pid in sorted(descendants(os.getpid()) - self.sent - {self.proc.pid}):
            started = start_time(pid)
            if started is not None:
                self.proc.stdin.write(f"{pid} {started}\n")
                self.sent.add(pid)
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()  # the watchdog stops what is still listed and running, then exits
            try:
                self.proc.wait(timeout=GRACE_S + 3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def _stop(listed: Dict[int, str]) -> None:
    alive = {pid for pid, started in listed.items() if start_time(pid) == started}
    for pid in alive:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {pid for pid in alive if start_time(pid) == listed[pid]}
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver must not end the watchdog first
    listed: Dict[int, str] = {}
    for line in sys.stdin:
        try:
            pid, started = line.split()
            listed[int(pid)] = started
        except ValueError:
            continue
    _stop(listed)


if __name__ == "__main__":
    main()
