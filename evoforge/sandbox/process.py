"""Run one command under limits and watch it until it ends.

Each child is started in a new session with resource limits (address space,
CPU time, file size, no core dumps) set between fork and exec, and inside the
isolation prefix of its mode.  A monitor thread drains stdout and stderr (keeping
only the head of each), and polls the wall clock, the size of the working
directory and the process tree (task count and resident memory); when a limit
is exceeded it kills the whole tree with SIGKILL (no grace: candidates may
ignore gentler signals) and records which limit it was.
"""
from __future__ import annotations

import os
import resource
import selectors
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

from evoforge.records import DISK, MEMORY, OUTPUT, PROCESSES, TIMEOUT, Limits

from . import isolation
from .result import RunResult, SandboxError, attribute, kill_detail

POLL_S = 0.05  # how often the monitor checks the tree and the clock
DISK_EVERY_S = 0.25
_PAGE = os.sysconf("SC_PAGE_SIZE")
_KILL_SIGNALS = {signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV, signal.SIGABRT,
                 signal.SIGBUS, signal.SIGTERM, signal.SIGINT}


def _rlimits(limits: Limits):
    mem = limits.memory_mb * 1024 * 1024
    cpu = max(1, int(limits.effective_cpu_s() + 0.999))
    fsize = limits.max_file_mb * 1024 * 1024

    def apply() -> None:  # runs in the child between fork and exec: setrlimit calls only
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _tree(root: int) -> list[int]:
    """PIDs of `root` and all its descendants (host PID numbers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _usage(pids: Sequence[int]) -> tuple[int, int]:
    """(threads, resident bytes) summed over `pids`."""
    threads = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        threads += int(fields[17])
        rss += int(fields[21]) * _PAGE
    return threads, rss


def _disk_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


class SandboxProcess:
    """A started child.  `wait()` returns its RunResult; `kill()` is safe from any thread."""

    def __init__(self, box: "Sandbox", argv: Sequence[str], workdir: Path, env: Mapping[str, str],
                 pass_fds: Sequence[int]):
        self.box, self.workdir = box, Path(workdir)
        self.limits = box.limits
        cmd = isolation.prefix(box.mode, self.workdir, network=self.limits.network,
                               hide=box.hide_paths, read=box.read_paths) + list(argv)
        self._t0 = time.monotonic()
        try:
            self.popen = subprocess.Popen(cmd, cwd=self.workdir, env=dict(env), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          pass_fds=tuple(pass_fds), start_new_session=True,
                                          preexec_fn=_rlimits(self.limits), close_fds=True)
        except OSError as err:
            raise SandboxError(f"cannot start {cmd[0]}: {err}") from err
        self._limit: str | None = None
        self._detail = ""
        self._killed = False
        self._lock = threading.Lock()
        self._out = [bytearray(), bytearray()]
        self._trunc = [False, False]
        self._result: RunResult | None = None
        self._thread = threading.Thread(target=self._monitor, name="evoforge-sandbox", daemon=True)
        self._thread.start()

    # -- control ------------------------------------------------------------------------
    def kill(self, limit: str | None = None, detail: str = "") -> None:
        with self._lock:
            if self._result is not None:
                return
            if limit is not None and self._limit is None:
                self._limit, self._detail = limit, detail
            self._killed = True
        self._kill_tree()

    def _kill_tree(self) -> None:
        pid = self.popen.pid
        try:
            pids = _tree(pid)
        except OSError:
            pids = [pid]
        for target in (lambda: os.killpg(pid, signal.SIGKILL),):
            try:
                target()
            except OSError:
                pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float | None = None) -> RunResult:
        self._thread.join(timeout)
        if self._result is None:
            raise TimeoutError("the sandboxed process is still running")
        return self._result

    @property
    def pid(self) -> int:
        return self.popen.pid

    # -- monitor ------------------------------------------------------------------------
    def _monitor(self) -> None:
        lim = self.limits
        deadline = self._t0 + lim.timeout_s
        sel = selectors.DefaultSelector()
        for i, stream in enumerate((self.popen.stdout, self.popen.stderr)):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream, selectors.EVENT_READ, i)
        open_streams = 2
        next_disk = 0.0
        exited_at = None
        while True:
            for key, _ in sel.select(POLL_S):
                chunk = b""
                try:
                    chunk = os.read(key.fileobj.fileno(), 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buf, i = self._out[key.data], key.data
                room = lim.max_output_bytes - len(buf)
                if len(chunk) > room:
                    buf += chunk[:max(room, 0)]
                    self._trunc[i] = True
                    self.kill(OUTPUT, kill_detail(OUTPUT, lim, lim.timeout_s))
                else:
                    buf += chunk
            now = time.monotonic()
            if exited_at is None and self.popen.poll() is not None:
                exited_at = now
            if exited_at is not None:
                # Main process gone: stop once the pipes close; a straggler that keeps them
                # open (process mode only: namespaces die with their init) is killed.
                if open_streams == 0:
                    break
                if now - exited_at > 0.5:
                    self._kill_tree()
                if now - exited_at > 1.5:
                    break
                continue
            if now > deadline:
                self.kill(TIMEOUT, kill_detail(TIMEOUT, lim, lim.timeout_s))
                continue
            if self._killed:
                continue
            self._check_tree(now)
            if now >= next_disk:
                next_disk = now + DISK_EVERY_S
                if _disk_bytes(self.workdir) > lim.max_disk_mb * 1024 * 1024:
                    self.kill(DISK, kill_detail(DISK, lim, lim.timeout_s))
        sel.close()
        for stream in (self.popen.stdout, self.popen.stderr):
            stream.close()
        rc = self.popen.wait()
        self._finish(rc)

    def _check_tree(self, now: float) -> None:
        lim = self.limits
        try:
            threads, rss = _usage(_tree(self.popen.pid))
        except OSError:
            return
        wrappers = 0 if self.box.mode == "process" else 3  # bwrap/unshare helpers are not the candidate's
        if threads - wrappers > lim.max_processes:
            self.kill(PROCESSES, kill_detail(PROCESSES, lim, lim.timeout_s))
        elif rss > lim.memory_mb * 1024 * 1024:
            self.kill(MEMORY, kill_detail(MEMORY, lim, lim.timeout_s))

    def _finish(self, rc: int) -> None:
        if self.box.mode != "process" and rc > 128 and (rc - 128) in _KILL_SIGNALS:
            rc = -(rc - 128)  # the wrappers report a signalled child as 128 + signal
        out, err = bytes(self._out[0]), bytes(self._out[1])
        with self._lock:
            limit, detail, killed = self._limit, self._detail, self._killed
            if limit is None and not killed:
                limit, detail = attribute(self.limits, rc, err)
            self._result = RunResult(
                returncode=None if killed else rc, stdout=out, stderr=err, limit_hit=limit,
                duration_s=time.monotonic() - self._t0, isolation=self.box.mode,
                stdout_truncated=self._trunc[0], stderr_truncated=self._trunc[1], detail=detail)


class Sandbox:
    """Runs commands with `limits` in one isolation mode (see `isolation`)."""

    def __init__(self, limits: Limits, isolation_mode: str = "auto", *, read_paths: Sequence[Path] = (),
                 hide_paths: Sequence[Path] = ()):
        self.limits = limits
        self.mode = isolation.resolve(isolation_mode)
        self.read_paths = [Path(p) for p in read_paths]
        self.hide_paths = [Path(p) for p in hide_paths] + isolation.default_hidden()

    def start(self, argv: Sequence[str], *, workdir: Path, env: Mapping[str, str],
              pass_fds: Sequence[int] = ()) -> SandboxProcess:
        if not Path(workdir).is_dir():
            raise SandboxError(f"working directory {workdir} does not exist")
        return SandboxProcess(self, argv, Path(workdir), env, pass_fds)

    def run(self, argv: Sequence[str], *, workdir: Path, env: Mapping[str, str],
            pass_fds: Sequence[int] = ()) -> RunResult:
        return self.start(argv, workdir=workdir, env=env, pass_fds=pass_fds).wait()
