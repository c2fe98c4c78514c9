"""The parent's end of the harness pipes: draining results, watching the
candidate, owning file descriptors.  Runs in the evoforge process, not in a child."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

from . import wire

MAX_RESULT = 64 * 1024 * 1024  # bytes of result frame kept; more is a malformed result


def quiet(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


def remove_tree(path: Path) -> None:
    def retry(func, p, _exc):
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=retry)


def how_it_ended(run) -> str:
    """The end of a process that should have kept running, as a phrase."""
    if run.limit_hit is None and run.returncode == 0:
        return "it exited (status 0) without answering"
    return run.describe()


def watch_candidate(cand, notice_fd: int, ended: dict) -> None:
    """Wait for the candidate; tell the scorer how it ended (limit, signal...)."""
    try:
        run = cand.wait()
        ended["candidate"] = run
        wire.send(notice_fd, {"describe": how_it_ended(run), "limit_hit": run.limit_hit, "returncode": run.returncode})
    except (wire.ConnectionLost, OSError):
        pass
    finally:
        quiet(lambda: os.close(notice_fd))


class Malformed(str):
    """A result frame that could not be decoded (its text is the reason)."""


class ResultReader(threading.Thread):
    """Drain a result pipe so the child never blocks on a full pipe; owns the fd."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.data, self.overflow = fd, bytearray(), False
        self.start()

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 20):
                if len(self.data) < MAX_RESULT:
                    self.data += chunk
                else:
                    self.overflow = True
        except OSError:
            pass
        finally:
            quiet(lambda: os.close(self.fd))

    def result(self, timeout: float = 5.0) -> Any:
        self.join(timeout)
        data = bytes(self.data)
        if self.overflow:
            return Malformed(f"larger than {MAX_RESULT} bytes")
        if len(data) < 4:
            return None
        size = int.from_bytes(data[:4], "big")
        if len(data) < 4 + size:
            return None
        try:
            return wire.loads(data[4:4 + size])
        except wire.WireError as err:
            return Malformed(str(err))


class Fds:
    """The pipe ends of one evaluation, closed exactly once whatever happens."""

    def __init__(self):
        self.open: set[int] = set()

    def pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        self.open.update((r, w))
        return r, w

    def take(self, fd: int) -> int:
        self.open.discard(fd)  # ownership moves to a thread
        return fd

    def close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self.open:
                self.open.discard(fd)
                quiet(lambda fd=fd: os.close(fd))

    def close_all(self) -> None:
        self.close(*list(self.open))
