"""Validation helpers for hardened evaluators (``score(candidate)``).

Whatever a candidate returns is untrusted data: it may be NaN or infinite (which
slip through ``<`` comparisons), complex, ``True`` standing in for 1, a string,
a ragged list or an array of the wrong length.  These helpers turn such data
into a clean float64 array or raise `ScoreError` with a message the candidate's
author (an LLM) can act on.  Typical use::

    from evoforge.scoring import ScoreError, as_real_array

    def score(candidate):
        try:
            xs = as_real_array(candidate.call("solve"), (10, 2), "solve()")
        except ScoreError as err:
            return {"valid": False, "error": str(err)}
        ...

Scores must be recomputed from such validated raw data, never taken from a
value the candidate reports about itself.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

__all__ = ["ScoreError", "as_real_array", "as_real", "as_int_array", "circle_violation", "check_circles_in_box"]


class ScoreError(ValueError):
    """The candidate's data is not a valid answer; the message says why."""


def _describe(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _leaf_problem(x: Any) -> str | None:
    """Why `x` is not a real number, or None if it is one."""
    if isinstance(x, (bool, np.bool_)):
        return f"a boolean ({x!r}), not a number"
    if isinstance(x, (complex, np.complexfloating)):
        return f"a complex number ({x!r}); only real numbers are allowed"
    if isinstance(x, numbers.Real):  # int, float, numpy ints and floats
        return None
    return f"{_describe(x)} of type {type(x).__name__}, not a number"


def _array_problem(arr: np.ndarray) -> str | None:
    kind = arr.dtype.kind
    if kind in "iuf":
        return None
    what = {"b": "booleans", "c": "complex numbers (only real numbers are allowed)",
            "U": "strings", "S": "bytes", "O": "Python objects"}.get(kind, f"dtype {arr.dtype}")
    return f"an array of {what}, not of real numbers"


def _check_nested(value: Any, name: str) -> None:
    """Walk a nested list: every leaf must be a real number (bools are refused)."""
    stack: list[tuple[Any, tuple[int, ...]]] = [(value, ())]
    while stack:
        item, index = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend((v, index + (i,)) for i, v in enumerate(item))
            continue
        where = f"{name}{list(index)}" if index else name
        problem = _array_problem(item) if isinstance(item, np.ndarray) else _leaf_problem(item)
        if problem:
            raise ScoreError(f"{where} is {problem}")


def as_real_array(value: Any, shape: Sequence[int | None] | None = None, name: str = "value") -> np.ndarray:
    """`value` as a finite float64 array of `shape` (None in `shape`: any length).

    Raises ScoreError for: anything that is not a number or a (nested) list /
    array of numbers, booleans (``True`` is an ``int`` in Python: a classic way
    to smuggle in values), complex numbers, strings, ragged lists, a wrong
    number of dimensions or wrong lengths, NaN and +-inf.
    """
    want = ""
    if shape is not None:
        shape = tuple(shape)
        dims = ["any" if s is None else str(s) for s in shape]
        want = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        problem = _array_problem(value)
        if problem:
            raise ScoreError(f"{name} is {problem}")
        arr = value.astype(np.float64)
    elif isinstance(value, (list, tuple)):
        if shape and shape[0] is not None and len(value) != shape[0]:  # fail fast on huge wrong answers
            raise ScoreError(f"{name} has length {len(value)}, expected shape {want}")
        _check_nested(value, name)
        try:
            arr = np.array(value, dtype=np.float64)
        except OverflowError:
            raise ScoreError(f"{name} contains an integer too large for a float") from None
        except (ValueError, TypeError):
            raise ScoreError(f"{name} is a ragged list: its rows have different lengths") from None
    else:
        problem = _leaf_problem(value)
        if problem:
            raise ScoreError(f"{name} is {problem}")
        try:
            arr = np.array(float(value), dtype=np.float64)
        except OverflowError:
            raise ScoreError(f"{name} is an integer too large for a float") from None
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != got for s, got in zip(shape, arr.shape)):
            raise ScoreError(f"{name} has shape {arr.shape}, expected shape {want}")
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}{list(index)}" if index else name
        raise ScoreError(f"{where} is {arr[index]}, not a finite number")
    return arr


def as_real(value: Any, name: str = "value") -> float:
    """A single finite real number (same rules as `as_real_array`)."""
    return float(as_real_array(value, (), name))


def as_int_array(value: Any, shape: Sequence[int | None] | None = None, name: str = "value") -> list:
    """`value` as nested lists of exact Python ints (arbitrary precision) of `shape`.

    For answers that must be integers (lattice vectors, codes, sets): accepts
    Python ints, numpy integers and integer numpy arrays.  Raises ScoreError for
    floats (even integral ones such as ``3.0``: a float has already been rounded),
    booleans, complex numbers, strings, ragged lists and wrong shapes.
    """
    shape = tuple(shape) if shape is not None else None
    want = "" if shape is None else "(" + ", ".join("any" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu":
            what = {"b": "booleans", "f": "floats (integers are required)", "c": "complex numbers"}.get(
                value.dtype.kind, f"dtype {value.dtype}")
            raise ScoreError(f"{name} is an array of {what}, not of integers")
        value = value.tolist()

    def walk(item: Any, index: tuple[int, ...], depth: int) -> Any:
        where = f"{name}{list(index)}" if index else name
        if isinstance(item, np.ndarray):
            item = as_int_array(item, None, where)
        if isinstance(item, (list, tuple)):
            if shape is not None:
                if depth >= len(shape):
                    raise ScoreError(f"{where} is a list, expected a single integer (shape {want})")
                if shape[depth] is not None and len(item) != shape[depth]:
                    raise ScoreError(f"{where} has length {len(item)}, expected shape {want}")
            return [walk(v, index + (i,), depth + 1) for i, v in enumerate(item)]
        if isinstance(item, (bool, np.bool_)):
            raise ScoreError(f"{where} is a boolean ({item!r}), not an integer")
        if isinstance(item, (int, np.integer)):
            if shape is not None and depth != len(shape):
                raise ScoreError(f"{where} is a single integer, expected shape {want}")
            return int(item)
        if isinstance(item, (float, np.floating)):
            raise ScoreError(f"{where} is a float ({item!r}); integers are required")
        if isinstance(item, (complex, np.complexfloating)):
            raise ScoreError(f"{where} is a complex number ({item!r}), not an integer")
        raise ScoreError(f"{where} is {_describe(item)} of type {type(item).__name__}, not an integer")

    out = walk(value, (), 0)
    if shape is not None:  # ragged rows of an unconstrained length
        def lengths(item: Any, depth: int) -> None:
            if depth + 1 < len(shape) and isinstance(item, list) and item:
                first = len(item[0])
                for i, row in enumerate(item):
                    if len(row) != first:
                        raise ScoreError(f"{name} is a ragged list: its rows have different lengths")
                    lengths(row, depth + 1)
        lengths(out, 0)
    return out


def circle_violation(centers: np.ndarray, radii: np.ndarray, width: float = 1.0,
                     height: float = 1.0) -> tuple[float, str]:
    """Largest constraint violation of disks in the box [0, width] x [0, height].

    A wall violation is how far a disk crosses the wall; a pair violation is
    ``r_i + r_j - distance``.  Returns (violation, description of the worst
    constraint); the violation is <= 0 when every constraint holds.
    `centers` (n, 2) and `radii` (n,) must already be validated.
    """
    x, y = centers[:, 0], centers[:, 1]
    walls = {"left": radii - x, "right": x + radii - width, "bottom": radii - y, "top": y + radii - height}
    worst, what = -math.inf, "no constraints"
    for side, v in walls.items():
        if len(v):
            i = int(np.argmax(v))
            if v[i] > worst:
                worst, what = float(v[i]), (f"circle {i} (centre ({x[i]:.12g}, {y[i]:.12g}), radius {radii[i]:.12g}) "
                                            f"sticks out of the {side} side by {v[i]:.3g}")
    n = len(radii)
    if n > 1:
        i_idx, j_idx = np.triu_indices(n, 1)
        dist = np.hypot(x[i_idx] - x[j_idx], y[i_idx] - y[j_idx])
        over = radii[i_idx] + radii[j_idx] - dist
        k = int(np.argmax(over))
        if over[k] > worst:
            i, j = int(i_idx[k]), int(j_idx[k])
            worst, what = float(over[k]), (f"circles {i} and {j} overlap by {over[k]:.3g} (distance between "
                                           f"centres {dist[k]:.12g} < r{i} + r{j} = {radii[i] + radii[j]:.12g})")
    return worst, what


def check_circles_in_box(centers: Any, radii: Any, width: float = 1.0, height: float = 1.0,
                         tol: float = 1e-9, n: int | None = None) -> float:
    """Validate a packing of disks in a box and return its certified sum of radii.

    Raises ScoreError for malformed data (see `as_real_array`), negative radii,
    or any constraint violated by more than `tol`.

    Why the result is not simply ``sum(radii)``: a tolerance is needed so that
    float rounding in a genuinely feasible construction is not punished, but a
    plain tolerance can be exploited (inflate every radius by `tol`).  So if
    the worst violation v is positive (and <= tol), every radius is reduced by
    v (clipped at 0), which makes every wall and pair constraint hold exactly;
    the sum of those radii is returned.  Breaking a constraint never pays.
    """
    c = as_real_array(centers, (n, 2), "centers")
    r = as_real_array(radii, (c.shape[0],), "radii")
    neg = np.flatnonzero(r < 0)
    if len(neg):
        raise ScoreError(f"radius {int(neg[0])} is negative ({r[neg[0]]!r})")
    worst, what = circle_violation(c, r, width, height)
    if worst > tol:
        raise ScoreError(f"infeasible packing (tolerance {tol:g}): {what}")
    if worst > 0:
        r = np.maximum(r - worst, 0.0)
    return math.fsum(r.tolist())
