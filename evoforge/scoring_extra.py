"""Exact-arithmetic helpers for the analysis and combinatorics problems of the
built-in library (autocorrelation inequalities, Erdos' minimum overlap, sums and
differences, cap sets).

Everything is recomputed from the raw data a candidate returns.  A float64 is a
dyadic rational, so a vector of heights is scaled by one common power of two to
Python integers and every convolution below is computed *exactly* in integers
(`int_convolve`: Kronecker substitution, with the big multiplication done by
``decimal``, whose number-theoretic transform makes it quasi-linear).  The
scores are exact fractions, rounded to float once at the end.  No float
rounding, underflow or summation order can move a score.

One deliberate simplification, `zero_tiny`: entries smaller than 2**-200 times
the largest entry in absolute value are replaced by 0 before scoring (otherwise
a single 1e-300 would make the exact integers 1000 bits wider).  The score is
then the exact score of the modified function, which satisfies the same
constraints (non-negativity, signs, [0, 1] bounds); the number of entries
zeroed is reported.

Every function raises `evoforge.scoring.ScoreError` with a message meant for
the candidate's author.
"""
from __future__ import annotations

import decimal
import math
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from .scoring import ScoreError, as_int_array, as_real_array

__all__ = [
    "TINY_BITS", "zero_tiny", "dyadic", "int_convolve", "int_convolve_signed",
    "step_heights", "autocorrelation_c1", "autocorrelation_c2", "autocorrelation_c3", "erdos_overlap",
    "sumset_sizes", "sums_differences_bound", "cap_set_check", "suspicious",
]

TINY_BITS = 200  # entries below 2**-TINY_BITS * max|entry| count as 0 (see zero_tiny)


# -- exact integers from floats ----------------------------------------------------------------
def zero_tiny(x: np.ndarray, bits: int = TINY_BITS) -> tuple[np.ndarray, int]:
    """(x with |x_i| < 2**-bits * max|x| set to 0, number of entries zeroed)."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0.0:
        return x, 0
    tiny = (x != 0) & (np.abs(x) < math.ldexp(top, -bits))
    count = int(tiny.sum())
    if count:
        x = np.where(tiny, 0.0, x)
    return x, count


def dyadic(x: np.ndarray) -> tuple[list[int], int]:
    """Exact integers m_i and an exponent e with ``x[i] == m_i * 2**e`` (x finite float64).

    The common exponent is as large as possible (trailing zero bits are removed),
    so the integers are as small as they can be.
    """
    x = np.asarray(x, dtype=np.float64)
    mant, expo = np.frexp(x)
    ints = np.ldexp(mant, 53).astype(np.int64)  # exact: |mant| < 1, 53-bit significands
    expo = expo.astype(np.int64) - 53
    nz = ints != 0
    if not nz.any():
        return [0] * len(x), 0
    low = ints & -ints  # lowest set bit (two's complement); sign-independent
    tz = np.zeros_like(ints)
    tz[nz] = np.log2(np.abs(low[nz]).astype(np.float64)).round().astype(np.int64)  # exact: powers of two
    ints = np.where(nz, ints >> tz, 0)
    expo = expo + tz
    e = int(expo[nz].min())
    shift = np.where(nz, expo - e, 0)
    if int(shift.max()) + 54 < 63:
        return (ints << shift).tolist(), e
    return [int(m) << int(s) for m, s in zip(ints.tolist(), shift.tolist())], e


# -- exact integer convolution -----------------------------------------------------------------
def _kronecker(values: Sequence[int], width: int) -> decimal.Decimal:
    """sum_i values[i] * 10**(width * i) as an exact Decimal (values >= 0, < 10**width)."""
    digits = "".join(str(v).zfill(width) for v in reversed(values))
    return decimal.Decimal(digits.lstrip("0") or "0")


def int_convolve(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """The full discrete convolution of two sequences of non-negative integers, exactly.

    ``out[k] = sum_i a[i] * b[k - i]`` for k = 0 .. len(a) + len(b) - 2.
    """
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return []
    if min(a) < 0 or min(b) < 0:
        raise ValueError("int_convolve needs non-negative integers (use int_convolve_signed)")
    top_a, top_b = max(a), max(b)
    size = na + nb - 1
    if top_a == 0 or top_b == 0:
        return [0] * size
    if na * nb <= 4096:  # small: the schoolbook product is faster than building decimals
        out = [0] * size
        for i, x in enumerate(a):
            if x:
                for j, y in enumerate(b):
                    out[i + j] += x * y
        return out
    width = len(str(min(na, nb) * top_a * top_b))  # every coefficient is < 10**width
    ctx = decimal.Context(prec=width * (size + 1) + 10, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                          traps=[decimal.Inexact, decimal.Rounded, decimal.Overflow])
    product = ctx.multiply(_kronecker(a, width), _kronecker(b, width))
    text = format(product, "f")
    text = text.zfill(width * size)
    if len(text) != width * size:  # cannot happen: the coefficients are bounded above
        raise AssertionError("int_convolve: product larger than its bound")
    return [int(text[len(text) - (k + 1) * width: len(text) - k * width]) for k in range(size)]


def int_convolve_signed(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Exact full convolution of two sequences of (signed) integers."""
    ap, an = [max(v, 0) for v in a], [max(-v, 0) for v in a]
    bp, bn = [max(v, 0) for v in b], [max(-v, 0) for v in b]
    pp, nn = int_convolve(ap, bp), int_convolve(an, bn)
    pn, np_ = int_convolve(ap, bn), int_convolve(an, bp)
    return [w + x - y - z for w, x, y, z in zip(pp, nn, pn, np_)]


def _int_autoconvolve_signed(a: Sequence[int]) -> list[int]:
    p, q = [max(v, 0) for v in a], [max(-v, 0) for v in a]
    pp, qq, pq = int_convolve(p, p), int_convolve(q, q), int_convolve(p, q)
    return [x + y - 2 * z for x, y, z in zip(pp, qq, pq)]


# -- step functions ----------------------------------------------------------------------------
def step_heights(value: Any, max_steps: int, *, nonnegative: bool, name: str = "heights",
                 upper: float | None = None) -> tuple[np.ndarray, int]:
    """Validate a step function's heights: a non-empty 1-D list/array of finite reals.

    Returns (heights with tiny entries zeroed, number zeroed).  Raises ScoreError
    for malformed data (see `evoforge.scoring.as_real_array`), more than
    `max_steps` steps, negative heights when `nonnegative`, heights above `upper`.
    """
    if isinstance(value, (list, tuple)) and len(value) > max_steps:
        raise ScoreError(f"{name} has {len(value)} steps; at most {max_steps} are allowed")
    x = as_real_array(value, (None,), name)
    n = len(x)
    if n == 0:
        raise ScoreError(f"{name} is empty: at least one step is needed")
    if n > max_steps:
        raise ScoreError(f"{name} has {n} steps; at most {max_steps} are allowed")
    if nonnegative:
        neg = np.flatnonzero(x < 0)
        if len(neg):
            i = int(neg[0])
            raise ScoreError(f"{name}[{i}] = {float(x[i])!r} is negative ({len(neg)} negative height"
                             f"{'s' if len(neg) > 1 else ''}); the function must be non-negative")
    if upper is not None:
        high = np.flatnonzero(x > upper)
        if len(high):
            i = int(high[0])
            raise ScoreError(f"{name}[{i}] = {float(x[i])!r} exceeds {upper:g} ({len(high)} height"
                             f"{'s' if len(high) > 1 else ''} above it)")
    x = x + 0.0  # -0.0 -> 0.0
    return zero_tiny(x)


def _exact_sum_and_autoconv(x: np.ndarray, signed: bool) -> tuple[list[int], int, int]:
    ints, _ = dyadic(x)  # the common power of two cancels in every ratio below
    conv = _int_autoconvolve_signed(ints) if signed else int_convolve(ints, ints)
    return conv, sum(ints), len(ints)


def autocorrelation_c1(x: np.ndarray) -> tuple[Fraction, dict]:
    """First autocorrelation inequality: 2n max_k (a*a)_k / (sum a)^2 (heights >= 0, not all 0).

    f is the step function on [-1/4, 1/4] with n equal steps of heights a; f*f is
    piecewise linear with nodes at multiples of 1/(2n), so max_t (f*f)(t) is the
    largest node value and the ratio max (f*f) / (int f)^2 is the expression above.
    """
    conv, total, n = _exact_sum_and_autoconv(x, signed=False)
    if total == 0:
        raise ScoreError("all heights are 0: the function must have a positive integral")
    peak = max(conv)
    return Fraction(2 * n * peak, total * total), {"argmax_node": conv.index(peak)}


def autocorrelation_c2(x: np.ndarray) -> tuple[Fraction, dict]:
    """Second autocorrelation inequality: ||f*f||_2^2 / (||f*f||_1 ||f*f||_inf) (heights >= 0).

    f*f is the piecewise-linear function through 0, b_0, ..., b_{2n-2}, 0 at
    2n + 1 equally spaced nodes (b = a*a); the norms are its exact norms (the
    node spacing cancels): L2^2 = h/3 sum (y1^2 + y1 y2 + y2^2) over the 2n pieces,
    L1 = h sum b, Linf = max b.
    """
    conv, total, n = _exact_sum_and_autoconv(x, signed=False)
    if total == 0:
        raise ScoreError("all heights are 0: the function must have a positive integral")
    nodes = [0, *conv, 0]
    l2 = sum(y1 * y1 + y1 * y2 + y2 * y2 for y1, y2 in zip(nodes, nodes[1:]))
    l1 = sum(conv)  # == total ** 2
    return Fraction(l2, 3 * l1 * max(conv)), {}


def autocorrelation_c3(x: np.ndarray) -> tuple[Fraction, Fraction, dict]:
    """Third autocorrelation inequality, signed heights: (C3 bound, C3' bound, info).

    C3 bound = |max_t (f*f)(t)| / (int f)^2 = 2n max(0, max_k (a*a)_k) / (sum a)^2
    (f*f is 0 at t = +-1/2, so its maximum over [-1/2, 1/2] is >= 0);
    C3' bound = max_t |(f*f)(t)| / (int f)^2 = 2n max_k |(a*a)_k| / (sum a)^2.
    """
    conv, total, n = _exact_sum_and_autoconv(x, signed=True)
    if total == 0:
        raise ScoreError("the heights sum to 0 (exactly): the integral of f must be nonzero")
    top = max(0, max(conv))
    absolute = max(abs(v) for v in conv)
    return Fraction(2 * n * top, total * total), Fraction(2 * n * absolute, total * total), {}


def erdos_overlap(x: np.ndarray, sum_tol: float = 1e-9) -> tuple[Fraction, dict]:
    """Erdos minimum overlap: certified (2/n) max_j sum_i h_i (1 - h_{i+j}).

    h: n heights in [0, 1] (validated by the caller), steps of width 2/n on
    [0, 2], with int h = (2/n) sum h_i = 1 required up to `sum_tol`.  The
    correlation is computed exactly.  When the integral misses 1 by d (rounding),
    moving |d| n/2 of mass into or out of h changes every overlap by at most
    that mass, so the certified value is exact_score + |d|: the score of some
    exactly admissible step function is at most this, and the tolerance never pays.
    """
    n = len(x)
    ints, e = dyadic(x)
    if e >= 0:  # every height is an integer: in [0, 1], so 0 or 1
        ints, e = [m << e for m in ints], 0
    one = 1 << -e  # 1 in units of 2**e
    integral = Fraction(2 * sum(ints), n * one)
    miss = abs(integral - 1)
    if miss > Fraction(sum_tol):
        raise ScoreError(f"the integral of h is {float(integral)!r} (= 2/n * sum of heights), not 1: it may "
                         f"differ from 1 by at most {sum_tol:g} (rounding); rescale the heights")
    rest = [one - m for m in ints]  # 1 - h_i, exact
    corr = int_convolve(ints, rest[::-1])  # corr[m] = sum_i h_i (1 - h_{i + n - 1 - m})
    peak = max(corr)
    shift = n - 1 - corr.index(peak)
    exact = Fraction(2 * peak, n * one * one)
    return exact + miss, {"integral_error": float(integral - 1), "argmax_shift_steps": shift,
                          "exact_overlap": float(exact)}


# -- sums and differences ----------------------------------------------------------------------
_WINDOW = 1 << 24  # values per flag window (16 MB of numpy bools: mostly in cache)


def _count_distinct(u: np.ndarray, diff: bool) -> int:
    """Number of distinct u_i + u_j (i <= j) or of distinct u_j - u_i > 0 (i < j), exactly.

    u: sorted distinct non-negative int64.  Every pair is visited once: the value
    range is cut into windows, and for each row i the slice of partners j whose
    value falls into the window is contiguous (u is sorted).
    """
    m = len(u)
    hi = int(u[-1]) * (1 if diff else 2)
    flags = np.zeros(min(_WINDOW, hi + 1), dtype=bool)
    buf = np.empty(m, dtype=np.int64)
    count = 0
    rows = np.arange(m)
    for lo in range(0, hi + 1, len(flags)):
        top = min(lo + len(flags), hi + 1)
        if diff:  # u_j in [u_i + lo, u_i + top), j > i
            start = np.maximum(np.searchsorted(u, u + lo, "left"), rows + 1)
            stop = np.searchsorted(u, u + top, "left")
        else:  # u_j in [lo - u_i, top - u_i), j >= i
            start = np.maximum(np.searchsorted(u, lo - u, "left"), rows)
            stop = np.searchsorted(u, top - u, "left")
        live = np.flatnonzero(stop > start)
        if not len(live):
            continue
        flags[:] = False
        starts, stops, base = start[live].tolist(), stop[live].tolist(), u[live].tolist()
        for s, t, b in zip(starts, stops, base):  # one preallocated buffer: no temporary arrays
            idx = buf[:t - s]
            if diff:
                np.subtract(u[s:t], b + lo, out=idx)
            else:
                np.add(u[s:t], b - lo, out=idx)
            flags[idx] = True
        count += int(np.count_nonzero(flags[:top - lo]))
    return count


def sumset_sizes(u: np.ndarray) -> tuple[int, int]:
    """(|U + U|, |U - U|) of a set of distinct non-negative integers (sorted int64 array)."""
    u = np.asarray(u, dtype=np.int64)
    if len(u) == 0:
        return 0, 0
    return _count_distinct(u, diff=False), 2 * _count_distinct(u, diff=True) + 1


def sums_differences_bound(value: Any, max_size: int, max_value: int, name: str = "U") -> tuple[float, dict]:
    """Gyarmati-Hennecart-Ruzsa: C6 >= 1 + log(|U-U| / |U+U|) / log(2 max U + 1).

    U: distinct non-negative integers containing 0 (any order), |U| >= 2.
    |U+U| and |U-U| are counted exactly; the formula is then evaluated in float64.
    """
    if isinstance(value, (list, tuple)) and len(value) > max_size:
        raise ScoreError(f"{name} has {len(value)} elements; at most {max_size} are allowed")
    ints = as_int_array(value, (None,), name)
    if len(ints) > max_size:
        raise ScoreError(f"{name} has {len(ints)} elements; at most {max_size} are allowed")
    if len(ints) < 2:
        raise ScoreError(f"{name} has {len(ints)} element(s): at least 2 are needed (0 and a positive integer)")
    low, high = min(ints), max(ints)
    if low < 0:
        raise ScoreError(f"{name} contains the negative integer {low}: the elements must be >= 0")
    if high > max_value:
        raise ScoreError(f"{name} contains {high}, above the largest allowed element {max_value}")
    u = np.array(ints, dtype=np.int64)
    u.sort()
    dup = np.flatnonzero(u[1:] == u[:-1])
    if len(dup):
        raise ScoreError(f"{name} contains {int(u[dup[0]])} more than once: the elements must be distinct")
    if u[0] != 0:
        raise ScoreError(f"{name} must contain 0 (its smallest element is {int(u[0])}); shift the set")
    sums, diffs = sumset_sizes(u)
    top = int(u[-1])
    if diffs > 2 * top + 1:  # cannot happen: U - U lies in [-max, max]
        raise AssertionError("|U - U| > 2 max U + 1")
    bound = 1.0 + math.log(diffs / sums) / math.log(2 * top + 1)
    return bound, {"size": len(u), "max": top, "sumset_size": sums, "difference_set_size": diffs}


# -- cap sets ----------------------------------------------------------------------------------
def cap_set_check(value: Any, dim: int, max_size: int, name: str = "cap set") -> tuple[int, dict]:
    """Validate a cap set in F_3^dim: distinct vectors over {0, 1, 2}, no three distinct
    ones summing to 0 mod 3 (i.e. no line).  Returns (size, info); exact integer check.

    For distinct a, b the third point of their line is c = -(a + b) mod 3, which
    differs from both; the set is a cap iff no such c is in the set.
    """
    if isinstance(value, (list, tuple)) and len(value) > max_size:
        raise ScoreError(f"the {name} has {len(value)} vectors; at most {max_size} are allowed")
    rows = as_int_array(value, (None, dim), "vectors")
    if not rows:
        raise ScoreError(f"the {name} is empty")
    if len(rows) > max_size:
        raise ScoreError(f"the {name} has {len(rows)} vectors; at most {max_size} are allowed")
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            if x not in (0, 1, 2):
                raise ScoreError(f"vectors[{i}][{j}] = {x}: entries must be 0, 1 or 2 (elements of F_3)")
    v = np.array(rows, dtype=np.int64)
    powers = 3 ** np.arange(dim - 1, -1, -1, dtype=np.int64)
    codes = v @ powers
    order = np.argsort(codes, kind="stable")
    same = np.flatnonzero(codes[order][1:] == codes[order][:-1])
    if len(same):
        i, j = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise ScoreError(f"vectors {i} and {j} are equal ({rows[i]}): the vectors must be distinct")
    index = np.full(3 ** dim, -1, dtype=np.int64)
    index[codes] = np.arange(len(rows))
    for i in range(len(rows) - 1):
        third = (-(v[i] + v[i + 1:])) % 3 @ powers  # third points of the lines through vector i
        hit = np.flatnonzero(index[third] >= 0)
        if len(hit):
            j = i + 1 + int(hit[0])
            k = int(index[third[hit[0]]])
            a, b, c = sorted((i, j, k))
            raise ScoreError(f"vectors {a}, {b} and {c} ({rows[a]}, {rows[b]}, {rows[c]}) form a line: "
                             f"they sum to 0 mod 3, so this is not a cap set")
    return len(rows), {}


# -- results -----------------------------------------------------------------------------------
def suspicious(error: str, **metrics: Any) -> dict:
    """A result that is flagged and not rewarded: invalid, with the flag ``suspicious``."""
    return {"valid": False, "error": f"suspicious: {error}", "suspicious": 1, "flags": ["suspicious"], **metrics}
