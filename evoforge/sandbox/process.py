"""Run one command under limits and watch it until it ends.

Each child is started in a new session with resource limits (address space,
CPU time as a backstop, file size, no core dumps) set between fork and exec, in
its own cgroup ``pids`` group where one can be made (cgroup.py), and inside the
isolation prefix of its mode.  A monitor thread drains stdout and stderr
(keeping only the head of each) and polls the wall clock, the tree's task
count, resident memory and CPU time, and the size of the working directory
(plus files held open after deletion); when a limit is exceeded it kills the
whole tree with SIGKILL (no grace: candidates may ignore gentler signals) and
records which limit it was.  When the main process exits, whatever it left
running is killed too.
"""
from __future__ import annotations

import json
import logging
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Mapping, Sequence

from evoforge.records import CPU, DISK, MEMORY, OUTPUT, PROCESSES, TIMEOUT, Limits

from . import cgroup, forkserver, isolation, procfs
from .result import RunResult, SandboxError, attribute, kill_detail

log = logging.getLogger(__name__)

CHILD = str(Path(__file__).resolve().parents[1] / "harness" / "child.py")
POLL_S = 0.02  # how often the monitor checks the tree and the clock
DISK_EVERY_S = 0.25
MAX_FILES = 100_000  # entries in the working directory (a walk of more would stall the monitor)
_KILL_SIGNALS = {signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV, signal.SIGABRT,
                 signal.SIGBUS, signal.SIGTERM, signal.SIGINT}


def _preexec(limits: Limits, join_fd: int | None):
    mem = limits.memory_mb * 1024 * 1024
    cpu = int(limits.effective_cpu_s() + 0.999) + 1  # the monitor enforces the tree's total first
    fsize = limits.max_file_mb * 1024 * 1024

    def apply() -> None:  # runs in the child between fork and exec: system calls only
        if join_fd is not None:
            os.write(join_fd, b"0")
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class SandboxProcess:
    """A started child.  `wait()` returns its RunResult; `kill()` is safe from any thread."""

    def __init__(self, box: "Sandbox", argv: Sequence[str], workdir: Path, env: Mapping[str, str],
                 pass_fds: Sequence[int], role: tuple[str, dict] | None = None):
        self.box, self.workdir = box, Path(workdir)
        self.limits = lim = box.limits
        self._cg: cgroup.PidsGroup | None = None
        if box.use_cgroup:
            try:
                self._cg = cgroup.PidsGroup(lim.max_processes + box.wrappers)
            except OSError as err:
                log.warning("no pids cgroup for this run (%s): falling back to /proc polling", err)
        self._t0 = time.monotonic()
        try:
            self.popen = self._launch(argv, env, pass_fds, role)
        except BaseException:
            if self._cg is not None:
                self._cg.remove()
            raise
        self._limit: str | None = None
        self._detail = ""
        self._killed = False
        self._cpu_s = 0.0
        self._lock = threading.Lock()
        self._out = [bytearray(), bytearray()]
        self._trunc = [False, False]
        self._result: RunResult | None = None
        self._thread = threading.Thread(target=self._monitor, name="evoforge-sandbox", daemon=True)
        self._thread.start()

    def _launch(self, argv: Sequence[str], env: Mapping[str, str], pass_fds: Sequence[int],
                role: tuple[str, dict] | None):
        if self.box.mode == "forkserver":
            return forkserver.launch(self.box.server(), workdir=self.workdir, limits=self.limits, init=self.box.init,
                                     env=dict(env), pass_fds=pass_fds, argv=argv, role=role, cg=self._cg)
        if role is not None:  # a harness role in a fresh interpreter
            argv = [sys.executable, "-I", CHILD, role[0], json.dumps(role[1])]
        lim = self.limits
        cmd = isolation.prefix(self.box.mode, self.workdir, network=lim.network,
                               hide=self.box.hide_paths, read=self.box.read_paths) + list(argv)
        try:
            return subprocess.Popen(cmd, cwd=self.workdir, env=dict(env), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=tuple(pass_fds), start_new_session=True,
                                    preexec_fn=_preexec(lim, self._cg and self._cg.join_fd), close_fds=True)
        except (OSError, subprocess.SubprocessError) as err:
            raise SandboxError(f"cannot start {cmd[0]}: {err}") from err

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
        """SIGKILL everything the child started.  With a cgroup: sweep its members until it
        is empty.  Without: stop the /proc tree first (a stopped process cannot fork, and
        killing a parent first would orphan its children out of the tree), then kill the
        process group (the kernel makes that atomic against forks) and every stopped PID;
        in bwrap/namespaces the PID namespace dies with its init, taking every daemon along."""
        pid = self.popen.pid
        reaped = self.popen.returncode is not None  # then its PID may belong to someone else
        if self._cg is not None:
            if not reaped:
                _signal(pid, signal.SIGKILL)
            self._cg.kill_all()
            return
        stopped: set[int] = set()
        for _ in range(100 if not reaped else 0):
            new = [p for p in _safe_tree(pid) if p not in stopped]
            if not new:
                break
            for p in new:
                _signal(p, signal.SIGSTOP)
            stopped.update(new)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        for p in stopped | (set() if reaped else set(_safe_tree(pid))):
            _signal(p, signal.SIGKILL)

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
        try:
            self._watch()
        finally:
            if self._cg is not None:
                self._cg.remove()  # kills any member that is left, then removes the group
            else:
                self._kill_tree()
        rc = self.popen.wait()
        if hasattr(self.popen, "close"):  # the fork-server's stand-in: its pipes
            self.popen.close()
        else:
            for stream in (self.popen.stdout, self.popen.stderr):
                stream.close()
        self._finish(rc)

    def _watch(self) -> None:
        lim = self.limits
        deadline = self._t0 + lim.timeout_s
        sel = selectors.DefaultSelector()
        for i, stream in enumerate((self.popen.stdout, self.popen.stderr)):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream, selectors.EVENT_READ, i)
        open_streams = 2
        exit_fd = self._exit_fd()
        if exit_fd is not None:  # wake up the moment the process ends, not at the next poll
            sel.register(exit_fd, selectors.EVENT_READ, "exit")
        next_disk = 0.0
        exited_at = None
        while True:
            for key, _ in sel.select(POLL_S):
                if key.data == "exit":
                    sel.unregister(exit_fd)
                    continue
                try:
                    chunk = os.read(key.fileobj.fileno(), 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buf, i = self._out[key.data], key.data
                room = lim.max_output_bytes - len(buf)
                if len(chunk) > room:
                    buf += chunk[:max(room, 0)]
                    self._trunc[i] = True
                    self.kill(OUTPUT, kill_detail(OUTPUT, lim))
                else:
                    buf += chunk
            now = time.monotonic()
            if exited_at is None and self.popen.poll() is not None:
                exited_at = now
                self._kill_tree()  # the main process is gone: nothing it started may outlive it
            if exited_at is not None:
                # Stop once the pipes close; a straggler outside our reach (process mode
                # without a cgroup: a setsid() daemon) may keep them open: stop waiting.
                if open_streams == 0 or now - exited_at > 1.0:
                    break
                continue
            if now > deadline:
                self.kill(TIMEOUT, kill_detail(TIMEOUT, lim))
                continue
            if self._killed:
                continue
            self._check_tree()
            if now >= next_disk and not self._killed:
                next_disk = now + DISK_EVERY_S
                self._check_disk()
        sel.close()
        if exit_fd is not None and not hasattr(self.popen, "exit_fd"):
            os.close(exit_fd)

    def _exit_fd(self) -> int | None:
        """A descriptor that becomes readable when the main process ends (pidfd, or the fork-server's)."""
        if hasattr(self.popen, "exit_fd"):
            return self.popen.exit_fd
        try:
            return os.pidfd_open(self.popen.pid)
        except (AttributeError, OSError):
            return None

    def _members(self) -> list[int]:
        return self._cg.pids() if self._cg is not None else _safe_tree(self.popen.pid)

    def _check_tree(self) -> None:
        lim = self.limits
        pids = self._members()
        use = procfs.usage(pids)
        self._cpu_s = max(self._cpu_s, use.cpu_s)
        tasks = use.tasks - self.box.wrappers
        if self._cg is not None and self._cg.refused():
            self.kill(PROCESSES, kill_detail(PROCESSES, lim) + " (a fork/thread was refused)")
        elif tasks > lim.max_processes:
            self.kill(PROCESSES, kill_detail(PROCESSES, lim))
        elif use.rss > lim.memory_mb * 1024 * 1024:
            self.kill(MEMORY, kill_detail(MEMORY, lim) + " (resident memory of the process tree)")
        elif use.cpu_s > lim.effective_cpu_s():
            self.kill(CPU, kill_detail(CPU, lim))

    def _check_disk(self) -> None:
        lim = self.limits
        used, entries = procfs.disk_usage(self.workdir, MAX_FILES)
        if entries > MAX_FILES:
            self.kill(DISK, f"more than {MAX_FILES} files in the working directory")
        elif used + procfs.deleted_open_bytes(self._members()) > lim.max_disk_mb * 1024 * 1024:
            self.kill(DISK, kill_detail(DISK, lim))

    def _finish(self, rc: int) -> None:
        if self.box.wrappers and rc > 128 and (rc - 128) in _KILL_SIGNALS:
            rc = -(rc - 128)  # the wrappers report a signalled child as 128 + signal
        out, err = bytes(self._out[0]), bytes(self._out[1])
        with self._lock:
            limit, detail, killed = self._limit, self._detail, self._killed
            if limit is None and not killed:
                limit, detail = attribute(self.limits, rc, err, cpu_s=self._cpu_s)
            self._result = RunResult(
                returncode=None if killed else rc, stdout=out, stderr=err, limit_hit=limit,
                duration_s=time.monotonic() - self._t0, isolation=self.box.mode,
                stdout_truncated=self._trunc[0], stderr_truncated=self._trunc[1], detail=detail)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _safe_tree(pid: int) -> list[int]:
    try:
        return procfs.tree(pid)
    except OSError:
        return [pid]


class Sandbox:
    """Runs commands with `limits` in one isolation mode (see `isolation`).

    `use_cgroup`: None = a pids cgroup per run where the host allows it; False = never
    (the /proc-polling fallback, also what a host without cgroup v1 pids gets).
    `preload`: modules the fork-server imports once (isolation ``forkserver`` only).
    `init`: False runs a (trusted) fork-server run as PID 1 of its namespace itself,
    saving a fork; a hostile run always gets an init above it, as in bwrap.
    Call `close()` when done (it stops the fork-server, if any)."""

    def __init__(self, limits: Limits, isolation_mode: str = "auto", *, read_paths: Sequence[Path] = (),
                 hide_paths: Sequence[Path] = (), use_cgroup: bool | None = None, preload: Sequence[str] = (),
                 init: bool = True):
        self.limits = limits
        self.mode = isolation.resolve(isolation_mode)
        self.read_paths = [Path(p) for p in read_paths]
        self.hide_paths = [Path(p) for p in hide_paths] + isolation.default_hidden()
        self.use_cgroup = cgroup.available() if use_cgroup is None else (use_cgroup and cgroup.available())
        self.preload = list(preload)
        self.init = init
        # processes of the isolation itself in a run's tree (not counted against its limits)
        self.wrappers = int(init) if self.mode == "forkserver" else isolation.WRAPPERS[self.mode]
        self._server: forkserver.ForkServer | None = None
        self._server_lock = threading.Lock()

    def server(self) -> "forkserver.ForkServer":
        """The fork-server of this sandbox, started on first use (again if it died)."""
        with self._server_lock:
            if self._server is None or not self._server.alive:
                if self._server is not None:
                    self._server.close()
                self._server = forkserver.ForkServer(
                    read=isolation.granted(self.read_paths), hide=[str(p.resolve()) for p in self.hide_paths],
                    network=self.limits.network, preload=self.preload, system=isolation.SYSTEM_DIRS,
                    etc=isolation.ETC_FILES)
                weakref.finalize(self, self._server.close)  # a forgotten Sandbox does not leave a server
            return self._server

    def close(self) -> None:
        with self._server_lock:
            if self._server is not None:
                self._server.close()
                self._server = None

    def start(self, argv: Sequence[str], *, workdir: Path, env: Mapping[str, str],
              pass_fds: Sequence[int] = ()) -> SandboxProcess:
        if not Path(workdir).is_dir():
            raise SandboxError(f"working directory {workdir} does not exist")
        return SandboxProcess(self, argv, Path(workdir), env, pass_fds)

    def start_role(self, role: str, job: dict, *, workdir: Path, env: Mapping[str, str],
                   pass_fds: Sequence[int] = ()) -> SandboxProcess:
        """Run an `evoforge.harness` role: forked warm from the fork-server, else in a new interpreter."""
        if not Path(workdir).is_dir():
            raise SandboxError(f"working directory {workdir} does not exist")
        return SandboxProcess(self, (), Path(workdir), env, pass_fds, role=(role, job))

    def run(self, argv: Sequence[str], *, workdir: Path, env: Mapping[str, str],
            pass_fds: Sequence[int] = ()) -> RunResult:
        return self.start(argv, workdir=workdir, env=env, pass_fds=pass_fds).wait()
