"""The built-in problem library.

Every subdirectory of this package that holds a ``problem.yaml`` is one built-in
problem, named after the directory: adding a problem means adding a directory
(a normal native problem directory: ``initial_program.py`` with EVOLVE-BLOCK
markers, ``evaluator.py`` with ``score(candidate)``, ``problem.yaml``).  There is
no central list to edit.  Directories starting with ``_`` or ``.`` are ignored.

`resolve` turns a command-line argument into a problem directory: an existing
path wins, otherwise a built-in name.  `evoforge.problem.load_problem` calls it,
so ``evoforge run circle_packing_26`` and ``evoforge evaluate NAME file.py`` work
from any directory.

This module imports nothing heavy at import time: evaluators import
``evoforge.problems.geometry`` from the trusted scorer process.
"""
from __future__ import annotations

import difflib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..problem import Problem

BUILTIN_DIR = Path(__file__).resolve().parent
_SKIP_COPY = ("__pycache__", "*.pyc", "*.pyo", ".*")


def names() -> list[str]:
    """Names of the built-in problems, sorted."""
    return sorted(d.name for d in BUILTIN_DIR.iterdir()
                  if d.is_dir() and not d.name.startswith(("_", ".")) and (d / "problem.yaml").is_file())


def builtin_path(name: str) -> Path | None:
    """The directory of built-in problem `name`, or None."""
    if not name or "/" in name or "\\" in name or name.startswith(("_", ".")):
        return None
    d = BUILTIN_DIR / name
    return d if d.is_dir() and (d / "problem.yaml").is_file() else None


def unknown_message(arg: str) -> str:
    close = difflib.get_close_matches(arg, names(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (f"problem not found: {arg!r} is neither a problem directory nor a built-in problem{hint} "
            f"(list the built-in problems with: evoforge problems)")


def resolve(arg: str | Path) -> Path:
    """An existing path as given; otherwise the built-in problem of that name.

    Raises `evoforge.problem.ProblemError` if neither exists.
    """
    from ..problem import ProblemError

    path = Path(arg)
    if path.exists():
        return path
    text = str(arg)
    if "/" in text or "\\" in text or path.is_absolute():  # meant as a path
        raise ProblemError(f"problem directory not found: {arg}")
    found = builtin_path(text)
    if found is None:
        raise ProblemError(unknown_message(text))
    return found


def load(name: str) -> "Problem":
    """Load a built-in problem by name (ProblemError if there is none)."""
    from ..problem import ProblemError, load_problem

    path = builtin_path(name)
    if path is None:
        raise ProblemError(unknown_message(name))
    return load_problem(path)


def load_all() -> list["Problem"]:
    from ..problem import load_problem

    return [load_problem(BUILTIN_DIR / n) for n in names()]


def copy(name: str, dest: str | Path) -> Path:
    """Write built-in problem `name` as an editable directory `dest`.

    Raises FileExistsError if `dest` exists and is not an empty directory,
    ProblemError if there is no such problem.
    """
    from ..problem import ProblemError

    src = builtin_path(name)
    if src is None:
        raise ProblemError(unknown_message(name))
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise FileExistsError(f"{dest} already exists and is not an empty directory; choose another")
        dest.rmdir()
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*_SKIP_COPY))
    return dest
