"""Isolation modes: the command prefix that puts a child into its own namespaces.

``namespaces`` uses util-linux ``unshare``: new user (mapped to root inside),
PID (the tree dies with its init, so double-forks and ``setsid`` cannot escape),
network (loopback only, and down: no network), IPC, UTS and mount namespaces.
In the mount namespace every inherited mount is remounted read-only (the setup
fails closed if one stays writable), only the private working directory stays
writable, ``/dev`` is replaced by a minimal one (null, zero, full, random,
urandom, a 1 MB ``/dev/shm``), ``/proc`` shows only the sandbox's own processes
with ``/proc/sys`` and friends read-only, and the hidden paths are covered.
Then every capability is dropped (bounding set emptied, no_new_privs) before
the command runs under a capability-less ``sh`` init: uid 0 inside is host uid
0 when evoforge runs as root, so the read-only mounts must not be undoable.

``bwrap`` (bubblewrap, preferred by ``auto`` when installed) goes further: the
child sees a new, read-only root holding only the system directories, the
Python installation, the paths it was granted and its writable working
directory; everything else on the host (home directories, other runs, the
problem directory unless granted) does not exist for it.

``process`` is the fallback where namespaces are unavailable: a new session,
resource limits and a scrubbed environment only (docs/security.md).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Sequence

from .result import SandboxError

MODES = ("forkserver", "bwrap", "namespaces", "process")
# Processes of the isolation itself in the child's tree: bwrap = outer bwrap + its
# init (PID 1); namespaces = unshare + the unprivileged `sh` init (PID 1); the
# fork-server's init (PID 1; none for trusted runs, see Sandbox.init).
WRAPPERS = {"forkserver": 1, "bwrap": 2, "namespaces": 2, "process": 0}

# Mount setup run inside the new namespaces (as root of the new user namespace, which
# is host uid 0 when evoforge runs as root: so nothing writable may stay reachable).
# $1 = workdir, then hidden paths up to "--", then the command.
_SETUP = r"""
set -e
wd="$1"; shift
mount --bind "$wd" "$wd"
while read -r _ mnt _ opts _; do
  case "$mnt" in *\\*) mnt=$(printf '%b' "$(printf '%s' "$mnt" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')") ;; esac
  case "$mnt" in /proc|/proc/*|"$wd") continue ;; esac
  case "$opts" in rw|rw,*) mount -o remount,bind,ro "$mnt" 2>/dev/null || true ;; esac
done < /proc/self/mounts
seen="|"  # fail closed: every visible mount (the last on its path) but the workdir is read-only now
visible=$(awk '{ l[NR] = $0 } END { for (i = NR; i > 0; i--) print l[i] }' /proc/self/mounts)
printf '%s\n' "$visible" | while read -r _ mnt _ opts _; do
  case "$mnt" in *\\*) mnt=$(printf '%b' "$(printf '%s' "$mnt" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')") ;; esac
  case "$seen" in *"|$mnt|"*) continue ;; esac
  seen="$seen$mnt|"
  case "$mnt" in /proc|/proc/*|"$wd") continue ;; esac
  case "$opts" in rw|rw,*) echo "evoforge-sandbox: cannot make $mnt read-only" >&2; exit 126 ;; esac
done
# A minimal /dev: the host's device nodes (disks, kvm, loop, ...) are out of reach.
exec 3<>/dev/null 4</dev/zero 5<>/dev/full 6</dev/random 7</dev/urandom
mount -t tmpfs -o size=64k,mode=755,nosuid,noexec none /dev
for nf in null:3 zero:4 full:5 random:6 urandom:7; do
  : > "/dev/${nf%:*}"; mount --no-canonicalize --bind "/proc/self/fd/${nf#*:}" "/dev/${nf%:*}"
done
exec 3>&- 4<&- 5>&- 6<&- 7<&-
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
mkdir /dev/shm; mount -t tmpfs -o size=1m,mode=1777,nosuid,nodev none /dev/shm
mount -o remount,bind,ro /dev
for p in bus fs irq sys sysrq-trigger; do
  if [ -e "/proc/$p" ]; then mount --bind -o ro "/proc/$p" "/proc/$p"; fi
done
for p in kcore keys timer_list sched_debug latency_stats; do
  if [ -f "/proc/$p" ]; then mount --bind /dev/null "/proc/$p"; fi
done
for p in acpi scsi asound; do
  if [ -d "/proc/$p" ]; then mount -t tmpfs -o ro,size=1k none "/proc/$p"; fi
done
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o ro,size=1k,mode=000 none "$1"; elif [ -e "$1" ]; then mount --bind /dev/null "$1"; fi
  shift
done
shift
cd "$wd"  # the inherited cwd is the directory under the bind mount: read-only now
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- sh -c '"$@" & wait $!' evoforge-init "$@"
"""

# Secrets commonly found in a home directory: hidden even when the caller names nothing.
_DEFAULT_HIDDEN = (".ssh", ".aws", ".gnupg", ".config", ".netrc", ".git-credentials", ".docker",
                   ".kube", ".pypirc", ".bash_history", ".cache/evoforge")


def _probe(mode: str, tools: Sequence[str]) -> bool:
    """Run `true` in `mode` with the real setup: available only if that works here."""
    if not all(shutil.which(t) for t in tools):
        return False
    with tempfile.TemporaryDirectory(prefix="evoforge-probe-") as d:
        try:
            probe = subprocess.run(prefix(mode, Path(d), network=False, hide=[]) + ["true"], cwd=d,
                                   capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    return _probe("namespaces", ("unshare", "setpriv", "mount", "sh", "sed"))


@functools.lru_cache(maxsize=1)
def bwrap_available() -> bool:
    return _probe("bwrap", ("bwrap",))


def forkserver_available() -> bool:
    from .forkserver import why_unavailable

    return not why_unavailable()


def available_modes() -> dict[str, bool]:
    return {"forkserver": forkserver_available(), "bwrap": bwrap_available(),
            "namespaces": namespaces_available(), "process": True}


def resolve(mode: str) -> str:
    if mode == "auto":
        for candidate in MODES:
            if available_modes()[candidate]:
                return candidate
    if mode not in MODES:
        raise SandboxError(f"unknown isolation mode {mode!r}; choose one of auto, {', '.join(MODES)}")
    if mode == "forkserver" and not forkserver_available():
        from .forkserver import why_unavailable

        raise SandboxError(f"isolation 'forkserver' is not available here: {why_unavailable()}; "
                           "use --isolation auto")
    if mode == "bwrap" and not bwrap_available():
        raise SandboxError("isolation 'bwrap' is not available here (install Debian's bubblewrap package, "
                           "needs unprivileged user namespaces); use --isolation auto")
    if mode == "namespaces" and not namespaces_available():
        raise SandboxError("isolation 'namespaces' is not available here (needs util-linux unshare and "
                           "unprivileged user namespaces); use --isolation process or auto")
    return mode


def default_hidden() -> list[Path]:
    home = Path.home()
    return [home / name for name in _DEFAULT_HIDDEN if (home / name).exists()]


# What a Python child needs from /etc; secrets such as /etc/shadow are never bound.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
        "hosts", "ssl", "ca-certificates", "alternatives", "mime.types", "os-release", "matplotlibrc")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_DIRS = list(_SYSTEM)
ETC_FILES = [f"/etc/{name}" for name in _ETC]


def python_paths() -> list[Path]:
    """The interpreter, its standard library and every site-packages directory."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    found.update(v for k, v in sysconfig.get_paths().items() if v)
    # sys.path, but not the script directory / current directory of this process (a
    # project directory may hold .env files, run databases, ...): grant those explicitly.
    cwd = os.path.realpath(os.getcwd())
    found.update(p for p in sys.path[1:] if p and os.path.isdir(p) and os.path.realpath(p) != cwd)
    return sorted({Path(p).resolve() for p in found if os.path.exists(p)})


def granted(read: Sequence[Path]) -> list[str]:
    """Every path a sandboxed child may read: the Python installation and the grants."""
    return sorted({str(Path(p).resolve()) for p in [*python_paths(), *read] if Path(p).exists()})


# bwrap covers only /proc/{irq,bus} when it runs as root; uid 0 inside is host uid 0,
# so /proc/sys (core_pattern!) and sysrq-trigger would be writable: bind them read-only.
_PROC_COVER = [*(a for p in ("sys", "sysrq-trigger", "fs") if os.path.exists(f"/proc/{p}")
                 for a in ("--ro-bind", f"/proc/{p}", f"/proc/{p}")),
               *(a for p in ("kcore", "keys", "timer_list", "sched_debug", "latency_stats")
                 if os.path.exists(f"/proc/{p}") for a in ("--ro-bind", "/dev/null", f"/proc/{p}")),
               *(a for p in ("acpi", "scsi", "asound") if os.path.isdir(f"/proc/{p}") for a in ("--tmpfs", f"/proc/{p}"))]


def _bwrap(workdir: str, network: bool, read: Sequence[Path], hide: Sequence[str]) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if network:
        args.append("--share-net")
    for d in _SYSTEM:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for p in sorted({str(Path(p).resolve()) for p in [*python_paths(), *read] if Path(p).exists()}):
        if not any(p == d or p.startswith(d + "/") for d in _SYSTEM):
            args += ["--ro-bind", p, p]
    for h in hide:
        args += ["--tmpfs", h] if os.path.isdir(h) else ["--ro-bind", "/dev/null", h]
    args += ["--bind", workdir, workdir, "--proc", "/proc", *_PROC_COVER, "--dev", "/dev",
             "--size", str(1 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
             "--remount-ro", "/", "--chdir", workdir, "--"]
    return args


def prefix(mode: str, workdir: Path, *, network: bool, hide: Sequence[Path],
           read: Sequence[Path] = ()) -> list[str]:
    """The argv prefix that runs a command in `mode`."""
    if mode == "process":
        return []
    wd_ = str(Path(workdir).resolve())
    hidden_ = [str(Path(p).resolve()) for p in hide if Path(p).exists()]
    hidden_ = [h for h in hidden_ if not (wd_ == h or wd_.startswith(h + "/"))]
    if mode == "bwrap":
        return _bwrap(wd_, network, read, hidden_)
    ns = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount",
          "--mount-proc", "--ipc", "--uts"]
    if not network:
        ns.append("--net")
    hidden = [str(Path(p).resolve()) for p in hide if Path(p).exists()]
    wd = str(Path(workdir).resolve())
    hidden = [h for h in hidden if not (wd == h or wd.startswith(h + "/"))]  # never hide the workdir itself
    return ns + ["sh", "-c", _SETUP, "evoforge-sandbox", wd, *hidden, "--"]
