"""Isolation modes: the command prefix that puts a child into its own namespaces.

``namespaces`` uses util-linux ``unshare``: new user (mapped to root inside),
PID (the tree dies with its init, so double-forks and ``setsid`` cannot escape),
network (no interfaces but loopback: no network), IPC and mount namespaces. In
the mount namespace every inherited mount is remounted read-only, only the
private working directory stays writable, ``/dev/shm`` and the hidden paths are
covered with empty tmpfs mounts, and ``/proc`` shows only the sandbox's own
processes (so the parent's ``/proc/PID/environ`` is out of reach).

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
from pathlib import Path
from typing import Sequence

from .result import SandboxError

MODES = ("bwrap", "namespaces", "process")

# Mount setup run inside the new namespaces before the command is exec'd.
# $1 = workdir, $2 = "net" or "nonet", then hidden paths up to "--", then the command.
_SETUP = r"""
set -e
wd="$1"; shift
mount --bind "$wd" "$wd"
while read -r _ mnt _ _; do
  case "$mnt" in /proc|/proc/*|"$wd") continue ;; esac
  mount -o remount,bind,ro "$mnt" 2>/dev/null || true
done < /proc/self/mounts
mount -t tmpfs -o size=1m,mode=000 none /dev/shm 2>/dev/null || true
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o size=1k,mode=000 none "$1"; elif [ -e "$1" ]; then mount --bind /dev/null "$1"; fi
  shift
done
shift
exec "$@"
"""

# Secrets commonly found in a home directory: hidden even when the caller names nothing.
_DEFAULT_HIDDEN = (".ssh", ".aws", ".gnupg", ".config", ".netrc", ".git-credentials", ".docker",
                   ".kube", ".pypirc", ".bash_history", ".cache/evoforge")


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    exe = shutil.which("unshare")
    if not exe:
        return False
    try:
        probe = subprocess.run([exe, "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount",
                                "--mount-proc", "sh", "-c", "mount -t tmpfs none /mnt"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.lru_cache(maxsize=1)
def bwrap_available() -> bool:
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def available_modes() -> dict[str, bool]:
    return {"bwrap": bwrap_available(), "namespaces": namespaces_available(), "process": True}


def resolve(mode: str) -> str:
    if mode == "auto":
        return "bwrap" if bwrap_available() else "namespaces" if namespaces_available() else "process"
    if mode not in MODES:
        raise SandboxError(f"unknown isolation mode {mode!r}; choose one of auto, {', '.join(MODES)}")
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


def python_paths() -> list[Path]:
    """The interpreter, its standard library and every site-packages directory."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    found.update(v for k, v in sysconfig.get_paths().items() if v)
    found.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted({Path(p).resolve() for p in found if os.path.exists(p)})


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
    args += ["--bind", workdir, workdir, "--proc", "/proc", "--dev", "/dev",
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
          "--mount-proc", "--ipc"]
    if not network:
        ns.append("--net")
    hidden = [str(Path(p).resolve()) for p in hide if Path(p).exists()]
    wd = str(Path(workdir).resolve())
    hidden = [h for h in hidden if not (wd == h or wd.startswith(h + "/"))]  # never hide the workdir itself
    return ns + ["sh", "-c", _SETUP, "evoforge-sandbox", wd, *hidden, "--"]
