"""One cgroup v1 ``pids`` group per run, where /sys/fs/cgroup/pids is writable.

The child joins it between fork and exec, so everything it ever starts is in
it: a double fork or ``setsid()`` does not leave a cgroup (only writing to the
hierarchy's files does, and the namespaces/bwrap modes cannot reach them).
That gives the sandbox two things the /proc tree walk cannot:

* ``pids.max`` - the kernel refuses fork/clone beyond the cap, so a fork bomb
  cannot outrun the monitor (RLIMIT_NPROC does not bind uid 0, and we may be
  root), and ``pids.events`` says when a fork was refused;
* ``cgroup.procs`` - the complete membership, so the kill can sweep until the
  group is empty, daemons and reparented orphans included.

Without it (cgroup v2 only, no write access) the sandbox falls back to the
/proc tree, process group and PID namespace (see process.py).
"""
from __future__ import annotations

import functools
import itertools
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup/pids")
BASE = ROOT / "evoforge"
_counter = itertools.count()


@functools.lru_cache(maxsize=1)
def available() -> bool:
    try:
        BASE.mkdir(exist_ok=True)
        probe = BASE / f"probe-{os.getpid()}"
        probe.mkdir()
        ok = (probe / "pids.max").exists() and (probe / "cgroup.procs").exists()
        probe.rmdir()
    except OSError:
        return False
    _remove_stale()
    return ok


def _remove_stale() -> None:
    """Empty groups left by dead evoforge processes (a crash between mkdir and rmdir)."""
    for d in BASE.iterdir():
        owner = d.name.split("-", 1)[0]
        if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            try:
                d.rmdir()
            except OSError:
                pass


class PidsGroup:
    """A fresh group capped at `max_tasks` tasks (threads count)."""

    def __init__(self, max_tasks: int):
        self.path = BASE / f"{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        try:
            (self.path / "pids.max").write_text(str(max_tasks))
            # Opened here, written by the child between fork and exec ("0" = the writer).
            self.join_fd = os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            self.path.rmdir()
            raise

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def tasks(self) -> int:
        try:
            return int((self.path / "pids.current").read_text())
        except (OSError, ValueError):
            return 0

    def refused(self) -> int:
        """How many fork/clone calls the cap refused so far."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every member until the group is empty; False if it would not empty.

        The cap bounds how many new members a fork bomb can add per sweep, so
        this converges in a few sweeps.  (A PID read from cgroup.procs could in
        principle exit and be reused between the read and the kill; the window
        is microseconds.)
        """
        end = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if time.monotonic() > end:
                log.warning("cgroup %s still has %d processes after SIGKILL", self.path, len(pids))
                return False
            time.sleep(0.002)

    def remove(self) -> None:
        try:
            os.close(self.join_fd)
        except OSError:
            pass
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)
        log.warning("could not remove cgroup %s", self.path)
