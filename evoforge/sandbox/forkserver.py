"""The controller's side of the fork-server (zygote.py): start it, ask it for runs.

One server per `Sandbox` (so per read-only view and network setting); runs
are started by sending it a request with the run's pipes and cgroup attached
(SCM_RIGHTS).  A reader thread routes the server's replies (started / ended)
to `WarmPopen`, the small stand-in for `subprocess.Popen` that lets
`SandboxProcess` watch a forked run exactly as it watches an executed one:
same limits, same monitor, same kill.
"""
from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

from . import syscalls
from .env import clean_env, owned_tempdir, remove_stale
from .result import SandboxError

log = logging.getLogger(__name__)

ZYGOTE = str(Path(__file__).resolve().with_name("zygote.py"))
PKG_PARENT = str(Path(__file__).resolve().parents[2])
START_TIMEOUT_S = 60.0
_ids = itertools.count(1)


class WarmPopen:
    """What `SandboxProcess` needs of a Popen, for a run forked by the server."""

    def __init__(self, server: "ForkServer", job_id: int, out_r: int, err_r: int):
        self.server, self.id = server, job_id
        self.stdout, self.stderr = open(out_r, "rb", buffering=0), open(err_r, "rb", buffering=0)
        self.pid = 0
        self.returncode: int | None = None
        self.error = ""
        self._started, self._ended = threading.Event(), threading.Event()
        self.exit_fd, self._exit_w = os.pipe()  # readable once the run has ended (the monitor selects on it)

    def close(self) -> None:
        """Release the descriptors (after the run ended, or if it never started)."""
        for stream in (self.stdout, self.stderr):
            stream.close()
        for fd in (self.exit_fd, self._exit_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("sandboxed run", timeout or 0)
        return self.returncode  # type: ignore[return-value]

    def _on(self, msg: dict) -> None:
        if "pid" in msg:
            self.pid = int(msg["pid"])
            self._started.set()
        elif "status" in msg or "error" in msg or "lost" in msg:
            if "error" in msg:
                self.error = str(msg["error"])
            self.returncode = int(msg.get("status", 126))
            try:
                os.write(self._exit_w, b"x")
            except OSError:
                pass
            self._started.set()
            self._ended.set()


TEMPLATE_PREFIX = "evoforge-zygote-"


class ForkServer:
    """A running zygote: `spawn()` forks one sandboxed run from it."""

    def __init__(self, *, read: Sequence[str], hide: Sequence[str], network: bool, preload: Sequence[str],
                 system: Sequence[str], etc: Sequence[str]):
        remove_stale(TEMPLATE_PREFIX, Path.rmdir)  # templates are empty on the host: rmdir, never more
        self.template = str(owned_tempdir(TEMPLATE_PREFIX))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {"fd": theirs.fileno(), "template": self.template, "read": list(read), "hide": list(hide),
               "network": network, "preload": list(preload), "system": list(system), "etc": list(etc),
               "pkg_parent": PKG_PARENT}
        env = clean_env(Path(self.template))
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", ZYGOTE, json.dumps(cfg)], pass_fds=(theirs.fileno(),),
                                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True, cwd=self.template)
        except OSError as err:
            raise SandboxError(f"cannot start the fork-server: {err}") from err
        finally:
            theirs.close()
        self.sock = ours
        self.sock.settimeout(START_TIMEOUT_S)
        try:
            hello = json.loads(self.sock.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as err:
            hello = {"error": f"no answer ({err})"}
        self.sock.settimeout(None)
        if not hello.get("ready"):
            self.close()
            raise SandboxError(f"the fork-server did not start: {hello.get('error') or 'it exited'}")
        if hello.get("preload_failed"):
            log.info("fork-server: could not preload %s", "; ".join(hello["preload_failed"]))
        self._jobs: dict[int, WarmPopen] = {}
        self._lock = threading.Lock()
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="evoforge-forkserver", daemon=True)
        self._reader.start()

    def spawn(self, request: dict[str, Any], fds: Sequence[int]) -> WarmPopen:
        """Send one run (its stdout/stderr pipes are made here and sent first, then `fds`);
        return once the server has forked it, or raise SandboxError saying why not."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        job = WarmPopen(self, next(_ids), out_r, err_r)  # owns out_r and err_r from here on
        try:
            with self._lock:
                if not self.alive:
                    raise SandboxError("the fork-server has stopped")
                self._jobs[job.id] = job
                try:
                    socket.send_fds(self.sock, [json.dumps({**request, "id": job.id}).encode()],
                                    [out_w, err_w, *fds])
                except OSError as err:
                    raise SandboxError(f"cannot reach the fork-server: {err}") from err
            if not job._started.wait(START_TIMEOUT_S) or job.error:
                raise SandboxError(f"the fork-server could not start the run: {job.error or 'no answer in time'}")
        except BaseException:
            with self._lock:
                self._jobs.pop(job.id, None)
            job.close()
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        return job

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            msg = json.loads(data)
            with self._lock:
                job = self._jobs.get(msg.get("id"))
                if job is not None and "pid" not in msg:
                    del self._jobs[msg["id"]]
            if job is not None:
                job._on(msg)
        with self._lock:  # the server died: its runs died with it (PDEATHSIG)
            if self.alive:
                log.warning("the fork-server (pid %d) exited unexpectedly; it is restarted on the next run",
                            self.proc.pid)
            self.alive = False
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job._on({"lost": True, "status": -9, "error": "the fork-server exited"})

    def close(self) -> None:
        if self.proc.returncode is not None and self.sock.fileno() < 0:
            return  # closed already
        self.alive = False
        try:  # shutdown (not only close) wakes the reader thread and sends EOF:
            self.sock.shutdown(socket.SHUT_RDWR)  # the server kills its runs and exits on EOF
        except OSError:
            pass
        self.sock.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.template, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def why_unavailable() -> str:
    """'' if the fork-server works here, else the reason (it needs root on x86_64 Linux)."""
    if not syscalls.supported():
        return "the fork-server's system calls are implemented for x86_64 only"
    if os.geteuid() != 0:
        return "the fork-server needs root (it builds the namespaces itself); use bwrap or namespaces"
    from evoforge.records import Limits

    from .isolation import ETC_FILES, SYSTEM_DIRS, granted

    try:
        server = ForkServer(read=granted([]), hide=[], network=False, preload=[], system=SYSTEM_DIRS, etc=ETC_FILES)
    except SandboxError as err:
        return str(err)
    try:
        with tempfile.TemporaryDirectory(prefix="evoforge-probe-") as d:
            job = launch(server, workdir=Path(d), limits=Limits(), init=True, env=clean_env(Path(d)), argv=["true"])
            rc = job.wait(20)
            detail = job.stderr.read().decode("utf-8", "replace")[-500:]
            job.close()
    except (SandboxError, subprocess.TimeoutExpired, OSError) as err:
        return f"the fork-server probe failed: {err}"
    finally:
        server.close()
    return "" if rc == 0 else f"the fork-server probe failed (status {rc}): {detail.strip()}"


def launch(server: ForkServer, *, workdir: Path, limits: Any, init: bool, env: dict, pass_fds: Sequence[int] = (),
           argv: Sequence[str] = (), role: tuple[str, dict] | None = None, cg: Any = None) -> WarmPopen:
    """Start one run on `server`: `argv` executed, or the harness `role` (name, job) called warm."""
    request: dict[str, Any] = {
        "workdir": str(Path(workdir).resolve()), "env": dict(env), "pass": list(pass_fds),
        "cgroup": cg is not None, "init": init,
        "limits": {"as": limits.memory_mb << 20, "cpu": int(limits.effective_cpu_s() + 0.999) + 1,
                   "fsize": limits.max_file_mb << 20}}
    if role is not None:
        request["role"], request["job"], request["pkg_parent"] = role[0], role[1], PKG_PARENT
    else:
        request["argv"] = list(argv)
    return server.spawn(request, [*([cg.join_fd] if cg is not None else []), *pass_fds])
