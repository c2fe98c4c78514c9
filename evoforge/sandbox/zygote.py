"""The fork-server ("zygote"): a pre-imported Python process that forks every
sandboxed run into fresh namespaces, so no run pays for a new interpreter.

    python -I /abs/path/evoforge/sandbox/zygote.py CONFIG_JSON

It runs as root (the controller starts it only then), never runs candidate
code itself, and talks to the controller over one SOCK_SEQPACKET socket.

Once, at start: a private mount namespace (plus an empty network namespace
unless the sandbox grants the network, and an IPC namespace), a *template
root* on a tmpfs holding read-only binds of the system directories, the Python
installation and the granted paths only, a minimal /dev; then the modules the
runs will need are imported (numpy...).

Per run (request = JSON + file descriptors): `clone` into new PID, mount and
IPC namespaces, so the run has its own PID namespace (when its init ends, the
kernel kills everything it started) and sees its own /proc.  The child joins
its cgroup, binds its working directory (the only writable path) into the
template, mounts a fresh /proc (with /proc/sys and friends read-only) and
/dev/shm, remounts the root read-only, pivots into it, drops every capability
(bounding set included; no_new_privs), sets its resource limits, forks the
run proper (it stays behind as the namespace's init) and then the run either executes the requested command or calls the harness role in-process.

Replies: {"id", "pid"} when a run started (host PID), {"id", "status"} when it
ended (os.waitstatus_to_exitcode), {"id", "error"} if it could not start.
"""
from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import resource
import select
import signal
import socket
import sys
import traceback


def _load_syscalls():
    """syscalls.py from beside this file (run as a script with -I: no package import, no sys.path)."""
    spec = importlib.util.spec_from_file_location("evoforge_syscalls", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "syscalls.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sc = _load_syscalls()

MAX_MSG = 1 << 20
MAX_FDS = 64
_DEV_NODES = ("null", "zero", "full", "random", "urandom")
_PROC_RO = ("sys", "sysrq-trigger", "fs", "bus", "irq")  # uid 0 inside is host uid 0
_PROC_NULL = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats")
_PROC_EMPTY = ("acpi", "scsi", "asound")


def _in(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _placeholder(target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            open(target, "w").close()


def build_template(cfg: dict) -> str:
    """The read-only view every run starts from (see the module docstring)."""
    flags = sc.CLONE_NEWNS | sc.CLONE_NEWIPC | (0 if cfg["network"] else sc.CLONE_NEWNET)
    sc.unshare(flags)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)  # nothing propagates back to the host
    root = cfg["template"]
    sc.mount("tmpfs", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "size=4m,mode=755")
    bound: list[str] = []
    for d in cfg["system"]:
        if os.path.islink(d):
            os.symlink(os.readlink(d), _in(root, d))
        elif os.path.isdir(d):
            _placeholder(_in(root, d), True)
            sc.bind(d, _in(root, d), readonly=True, extra=sc.MS_NODEV)
            bound.append(d)
    for p in cfg["etc"]:
        if os.path.exists(p):
            _placeholder(_in(root, p), os.path.isdir(p))
            sc.bind(p, _in(root, p), readonly=True, extra=sc.MS_NOSUID | sc.MS_NODEV)
    for p in sorted(set(cfg["read"])):
        if not os.path.exists(p) or any(p == b or p.startswith(b.rstrip("/") + "/") for b in bound):
            continue  # already visible (read-only) through a bind above it
        _placeholder(_in(root, p), os.path.isdir(p))
        sc.bind(p, _in(root, p), readonly=True, extra=sc.MS_NOSUID | sc.MS_NODEV)
        bound.append(p)
    for h in cfg["hide"]:
        t = _in(root, h)
        if os.path.isdir(t):
            sc.mount("tmpfs", t, "tmpfs", sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV, "size=4k,mode=000")
        elif os.path.lexists(t):
            sc.bind("/dev/null", t, readonly=True)
    dev = _in(root, "/dev")
    os.makedirs(dev)
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_NOEXEC, "size=64k,mode=755")
    for n in _DEV_NODES:
        _placeholder(f"{dev}/{n}", False)
        sc.bind(f"/dev/{n}", f"{dev}/{n}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(f"{dev}/shm")
    sc.mount(None, dev, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NOEXEC)
    os.makedirs(_in(root, "/proc"))
    os.makedirs(_in(root, "/.old"))
    return root


def _setup_child(root: str, workdir: str) -> None:
    """In the run's new mount and PID namespaces: its own view, then pivot into it."""
    target = _in(root, workdir)  # the server made this mount point before the clone
    sc.mount(workdir, target, None, sc.MS_BIND | sc.MS_REC)
    sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_NOSUID | sc.MS_NODEV)
    sc.mount("tmpfs", _in(root, "/dev/shm"), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "size=1m,mode=1777")
    proc = _in(root, "/proc")
    sc.mount("proc", proc, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)  # this PID namespace's processes only
    for p in _PROC_RO:
        if os.path.exists(f"{proc}/{p}"):
            sc.bind(f"{proc}/{p}", f"{proc}/{p}", readonly=True, extra=sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    for p in _PROC_NULL:
        if os.path.isfile(f"{proc}/{p}"):
            sc.bind("/dev/null", f"{proc}/{p}", readonly=True)
    for p in _PROC_EMPTY:
        if os.path.isdir(f"{proc}/{p}"):
            sc.mount("tmpfs", f"{proc}/{p}", "tmpfs", sc.MS_RDONLY, "size=4k,mode=000")
    sc.mount(None, root, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
    sc.pivot_root(root, _in(root, "/.old"))
    os.chdir("/")
    sc.umount("/.old", sc.MNT_DETACH)  # the host's tree is gone from this namespace


def _place_fds(received: list[int], wanted: list[int]) -> None:
    """dup2 every received descriptor onto the number the job expects; close all others."""
    base = max([1000, *wanted]) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base) for fd in received]  # out of the way first
    for fd, want in zip(high, wanted):
        os.dup2(fd, want, inheritable=True)
    start = 0
    for keep in sorted(set(wanted)):
        if start < keep:  # closerange(n, n) would close everything from n up (close_range(n, ~0))
            os.closerange(start, keep)
        start = keep + 1
    os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _run_child(root: str, msg: dict, fds: list[int]) -> None:
    """Never returns: execs, or runs the role and exits."""
    code = 126
    err_fd = fds[1]
    try:
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        if msg.get("cgroup"):
            os.write(fds[2], b"0")  # join the run's pids cgroup before anything else
        _setup_child(root, msg["workdir"])
        os.chdir(msg["workdir"])
        lim = msg["limits"]
        for res, value in ((resource.RLIMIT_AS, lim["as"]), (resource.RLIMIT_CPU, lim["cpu"]),
                           (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value + (1 if res == resource.RLIMIT_CPU else 0)))
        sc.drop_all_capabilities()
        devnull = os.open("/dev/null", os.O_RDONLY)
        passed = fds[3 if msg.get("cgroup") else 2:]
        _place_fds([devnull, fds[0], fds[1], *passed], [0, 1, 2, *msg["pass"]])
        err_fd = 2
        if msg.get("init", True):
            _become_init()
        os.environ.clear()
        os.environ.update(msg["env"])
        if "argv" in msg:
            code = 127
            os.execvpe(msg["argv"][0], msg["argv"], msg["env"])
        _reseed()
        job = dict(msg["job"])
        # as in a fresh `python -I child.py ROLE JOB` (evoforge/harness/child.py)
        sys.argv = [os.path.join(msg["pkg_parent"], "evoforge", "harness", "child.py"), msg["role"], json.dumps(job)]
        from evoforge.harness import dispatch
        job.setdefault("pkg_parent", msg["pkg_parent"])
        dispatch(msg["role"], job)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - the candidate may have replaced it
                pass
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int) and exc.code is not None:
            try:
                os.write(err_fd, f"{exc.code}\n".encode("utf-8", "replace"))
            except OSError:
                pass
    except BaseException:  # noqa: BLE001 - report, never return into the server loop
        try:
            os.write(err_fd, ("evoforge-sandbox: " + traceback.format_exc()).encode("utf-8", "replace"))
        except OSError:
            pass
    os._exit(code)


def _become_init() -> None:
    """Fork the run proper and stay behind as PID 1 of its namespace (PID 1 is immune to
    signals it has no handler for, so a run that is PID 1 could not even kill itself).
    Returns in the run; the init exits with the run's status (128 + signal if it was killed)."""
    pid = os.fork()
    if pid == 0:
        return
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            os._exit(126)
        if child == pid:  # everything else in the namespace dies with us
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


def _reseed() -> None:
    """A forked child inherits its parent's random state: give each run fresh entropy, as a new process has."""
    if "random" in sys.modules:
        sys.modules["random"].seed()
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed(None)
        except Exception:  # noqa: BLE001
            pass


def _remove_point(root: str, point: str) -> None:
    """Remove a finished run's (empty) mount point and its empty parents inside the template."""
    try:
        while point.startswith(root.rstrip("/") + "/"):
            os.rmdir(point)
            point = os.path.dirname(point)
    except OSError:
        pass  # not empty: another run's mount point, or a directory of the template


def _preload(names: list[str]) -> list[str]:
    import importlib

    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as err:  # noqa: BLE001 - a preload is an optimisation only
            failed.append(f"{name}: {err!r}"[:200])
    return failed


def serve(sock: socket.socket, root: str) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    jobs: dict[int, tuple[object, str]] = {}

    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        while jobs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job_id, point = jobs.pop(pid, (None, ""))
            if job_id is not None:
                sock.send(json.dumps({"id": job_id, "status": os.waitstatus_to_exitcode(status)}).encode())
                _remove_point(root, point)
        if sock not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MSG, MAX_FDS)
        except OSError:
            data, fds = b"", []
        if not data:  # the controller is gone: nothing may outlive it
            for pid in jobs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return
        msg = json.loads(data)
        point = _in(root, msg["workdir"])
        try:
            # Mount points are made and removed only here, in one thread: no run races another.
            os.makedirs(point, exist_ok=True)
            pid = sc.clone(sc.CLONE_NEWPID | sc.CLONE_NEWNS | sc.CLONE_NEWIPC)
        except OSError as err:
            sock.send(json.dumps({"id": msg["id"], "error": str(err)}).encode())
            pid = -1
        if pid == 0:
            sock.close()
            os.close(wake_r)
            os.close(wake_w)
            _run_child(root, msg, fds)
        for fd in fds:
            os.close(fd)
        if pid > 0:
            jobs[pid] = (msg["id"], point)
            sock.send(json.dumps({"id": msg["id"], "pid": pid}).encode())


def main() -> None:
    cfg = json.loads(sys.argv[1])
    sock = socket.socket(fileno=int(cfg["fd"]))
    try:
        root = build_template(cfg)
        sys.path.insert(0, cfg["pkg_parent"])
        try:
            import evoforge.harness  # noqa: F401 - warm: every role's modules
            evoforge.harness._roles()
        finally:
            sys.path.remove(cfg["pkg_parent"])
        failed = _preload(cfg["preload"])
    except BaseException:  # noqa: BLE001
        sock.send(json.dumps({"ready": False, "error": traceback.format_exc()[-2000:]}).encode())
        return
    sock.send(json.dumps({"ready": True, "preload_failed": failed}).encode())
    import gc

    gc.freeze()  # what is imported now is never collected: a run's garbage collector leaves those pages shared
    serve(sock, root)
    try:  # the controller is gone (maybe killed): the template's host directory goes with the server
        sc.umount(root, sc.MNT_DETACH)
        os.rmdir(root)
    except OSError:
        pass


if __name__ == "__main__":
    main()
