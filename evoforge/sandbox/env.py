"""The candidate's environment, built from scratch (never inherited)."""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

# Thread pools of numeric libraries: one thread each, so a candidate's
# numpy call does not use every core of the host or blow the process limit.
_ONE_THREAD = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)


def default_path() -> str:
    """PATH with the running interpreter's directory first, then system dirs."""
    dirs = [os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)]
    dirs += ["/usr/local/bin", "/usr/bin", "/bin"]
    seen: list[str] = []
    for d in dirs:
        if d and d not in seen:
            seen.append(d)
    return ":".join(seen)


def clean_env(workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a candidate process.

    Nothing is copied from ``os.environ``: API keys and tokens of the parent
    never reach the child.  ``extra`` is added last (caller's explicit choice).
    """
    wd = str(workdir)
    env = {
        "PATH": default_path(),
        "HOME": wd,
        "TMPDIR": wd,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
    }
    for name in _ONE_THREAD:
        env[name] = "1"
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"environment entries must be str -> str, got {key!r}: {value!r}")
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"invalid environment variable name or value: {key!r}")
        env[key] = value
    return env


def owned_tempdir(prefix: str) -> Path:
    """A fresh temporary directory named after this process, so that `remove_stale` can
    tell, after a crash or SIGKILL, that nobody uses it any more."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_stale(prefix: str, remove: Callable[[Path], None]) -> None:
    """`remove` every `owned_tempdir(prefix)` directory whose process no longer exists."""
    for d in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = d.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                remove(d)
            except OSError:
                pass
