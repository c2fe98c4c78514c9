"""Timing harness of the conv2d_speedup problem (runs in the trusted scorer process).

The task: speed up a reference 2-D "valid" cross-correlation
``out[i, j] = sum_{p, q} image[i + p, j + q] * kernel[p, q]`` of a float64
image (H x W) with a float64 kernel (KH x KW), matching the reference within
``|out - ref| <= TOL * max|image| * sum|kernel|`` everywhere.

Where the time is measured, and why
-----------------------------------
The candidate's code runs in another (sandboxed) process, which it controls
completely: a clock read there could be faked (it can patch ``time``), so no
time is ever taken there.  The candidate's time is the **round trip of
``candidate.call`` measured with the scorer's own clock** (``perf_counter``):
encoding the request, the pipe, the candidate decoding it, computing,
encoding the answer, the pipe back and the scorer decoding it.  The candidate
can only make that longer, never shorter.

Transfer costs would drown the computation if the arrays travelled as JSON
lists (about 2 us per float each way), so images, kernels and results travel
as base64 strings of little-endian float64 bytes (about 100 times cheaper);
the frozen wrapper ``conv2d_packed`` in the initial program converts them.

The reference is timed in the scorer process doing the same work as the
candidate's side of a call (wire decode of the request, base64 to arrays, the
reference routine, array to base64, wire encode of the reply, and the scorer's
encode/decode at both ends), minus the two pipe transfers, which only the
candidate pays (a bias against the candidate of well under 1 ms).

Contention.  The scorer and the candidate share the machine, and a hostile
candidate could keep the CPUs busy (background processes) exactly while the
scorer times the reference, to inflate its speed-up.  So every reference
measurement also records the scorer thread's CPU time, and the time used is
``min(wall, CPU_CAP * cpu)``: at most 25 % of extra wall time counts.  On a
machine loaded by other work this understates the reference (the speed-up is
then conservative); the metric ``contention`` (median reference wall / CPU
time) says how loaded the machine was.  (Residual effect: a busy hyper-thread
sibling can still slow the scorer's CPU time somewhat; that is bounded by the
hardware, not by the candidate's effort.)

Unpredictable inputs.  Every call gets a fresh image and kernel drawn from a
generator seeded with 128 bits from ``secrets`` in the scorer, so nothing can
be precomputed or cached across calls; every output is checked.  Reference
and candidate measurements are interleaved (alternating which goes first) and
summarised by medians.

Plausibility guard.  Before timing, the scorer measures this machine's
floating-point throughput (float64 matrix product, per core) and memory
bandwidth (large array copy).  A call cannot take less than the scorer-side
wire work it includes, plus moving its bytes at full memory bandwidth, plus a
deliberately low arithmetic floor (2 * outputs * log2(pixels) flops, far below
any known method) on all cores at peak speed.  A median candidate time below
that floor is physically implausible: it is flagged ``suspicious`` and not
rewarded.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from evoforge.harness import wire
from evoforge.scoring import ScoreError

H, W = 200, 184  # image shape
KH, KW = 37, 33  # kernel shape
OH, OW = H - KH + 1, W - KW + 1  # output shape
TOL = 1e-10  # relative to max|image| * sum|kernel|, a bound on |out|
CPU_CAP = 1.25  # at most this much wall time per CPU second counts for the reference
FN = "conv2d_packed"


# -- the routine -------------------------------------------------------------------------------
def reference_conv2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The reference: one shifted multiply-add of the whole output per kernel tap."""
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    for p in range(kh):
        for q in range(kw):
            out += kernel[p, q] * image[p:p + oh, q:q + ow]
    return out


def pack(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def unpack(text: str, shape) -> np.ndarray:
    return np.frombuffer(bytearray(base64.b64decode(text)), dtype="<f8").reshape(shape)


def reference_packed(image_b64: str, image_shape, kernel_b64: str, kernel_shape) -> str:
    """What the initial program's conv2d_packed does, with the reference routine."""
    return pack(reference_conv2d(unpack(image_b64, image_shape), unpack(kernel_b64, kernel_shape)))


# -- inputs and checks -------------------------------------------------------------------------
def fresh_inputs() -> tuple[np.ndarray, np.ndarray]:
    """An image and a kernel nobody can predict (128 bits of OS entropy each call)."""
    rng = np.random.default_rng(secrets.randbits(128))
    return rng.uniform(-1.0, 1.0, (H, W)), rng.standard_normal((KH, KW))


def call_args(image: np.ndarray, kernel: np.ndarray) -> tuple:
    return pack(image), [H, W], pack(kernel), [KH, KW]


def decode_output(value: Any, what: str) -> np.ndarray:
    """The candidate's answer as an (OH, OW) float64 array, or ScoreError."""
    if not isinstance(value, str):
        raise ScoreError(f"{what} returned {type(value).__name__}, expected a base64 string of the output's "
                         f"float64 bytes (keep the conv2d_packed wrapper of the initial program)")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ScoreError(f"{what} returned a string that is not valid base64") from None
    if len(raw) != 8 * OH * OW:
        raise ScoreError(f"{what} returned {len(raw)} bytes, expected {8 * OH * OW} (an output of shape "
                         f"({OH}, {OW}) in float64: the 'valid' correlation has shape (H - KH + 1, W - KW + 1))")
    return np.frombuffer(raw, dtype="<f8").reshape(OH, OW)


def check_output(out: np.ndarray, ref: np.ndarray, image: np.ndarray, kernel: np.ndarray, what: str) -> float:
    """Max |out - ref| relative to max|image| * sum|kernel|; ScoreError beyond TOL."""
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ScoreError(f"{what}: output[{i}, {j}] is {float(out[i, j])}, not a finite number")
    scale = float(np.max(np.abs(image))) * float(np.sum(np.abs(kernel)))
    err = np.abs(out - ref)
    k = int(np.argmax(err))
    rel = float(err.flat[k]) / scale
    if not rel <= TOL:
        i, j = divmod(k, OW)
        raise ScoreError(f"{what}: the output differs from the reference: output[{i}, {j}] = {float(out[i, j])!r}, "
                         f"expected {float(ref[i, j])!r} (error {rel:.3g} relative to max|image| * sum|kernel| = "
                         f"{scale:.4g}; the tolerance is {TOL:g}). out[i, j] must be "
                         f"sum_p,q image[i + p, j + q] * kernel[p, q] in float64")
    return rel


# -- the machine -------------------------------------------------------------------------------
@dataclass
class Machine:
    flops_per_core: float  # float64 flop/s of one core (matrix product)
    bandwidth: float  # bytes/s (copy: read + write)
    cores: int
    wire_s: float  # scorer-side wire work included in every round trip (CPU seconds)


def _best(fn: Callable[[], Any], reps: int = 3) -> float:
    best = math.inf
    for _ in range(reps):
        t = time.thread_time_ns()
        fn()
        best = min(best, (time.thread_time_ns() - t) / 1e9)
    return max(best, 1e-9)


def measure_machine() -> Machine:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    flops = 2 * 256 ** 3 / _best(lambda: a @ b, 5)
    src = np.ones(1 << 22)  # 32 MB
    dst = np.empty_like(src)
    bandwidth = 2 * src.nbytes / _best(lambda: np.copyto(dst, src), 5)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    image, kernel = fresh_inputs()
    request = {"id": 1, "op": "call", "fn": FN, "args": list(call_args(image, kernel)), "kwargs": {}}
    reply = wire.dumps({"id": 1, "ok": True, "value": pack(np.zeros((OH, OW)))})
    wire_s = _best(lambda: (wire.dumps(request), wire.loads(reply)))
    return Machine(flops, bandwidth, max(1, cores), wire_s)


def floor_seconds(machine: Machine) -> float:
    """A lower bound on any honest round trip (see the module docstring)."""
    b64 = 4 / 3 * 8
    moved = b64 * (H * W + KH * KW + OH * OW)
    min_flops = 2 * OH * OW * math.log2(H * W)
    return machine.wire_s + moved / machine.bandwidth + min_flops / (machine.flops_per_core * machine.cores)


# -- the measurement ---------------------------------------------------------------------------
@dataclass
class Timing:
    ref_s: list[float] = field(default_factory=list)  # reference times used (capped)
    ref_wall_s: list[float] = field(default_factory=list)
    ref_cpu_s: list[float] = field(default_factory=list)
    cand_s: list[float] = field(default_factory=list)
    max_rel_error: float = 0.0
    calls: int = 0

    def add_reference(self, used: float, wall: float, cpu: float) -> None:
        self.ref_s.append(used)
        self.ref_wall_s.append(wall)
        self.ref_cpu_s.append(cpu)


def time_reference(image: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Run the reference the way a candidate call runs (wire + base64 + routine).

    Returns (output, time used, wall, cpu)."""
    args = list(call_args(image, kernel))
    t_wall, t_cpu = time.perf_counter_ns(), time.thread_time_ns()
    msg = wire.loads(wire.dumps({"id": 1, "op": "call", "fn": FN, "args": args, "kwargs": {}}))
    text = reference_packed(*msg["args"])
    value = wire.loads(wire.dumps({"id": 1, "ok": True, "value": text}))["value"]
    wall, cpu = (time.perf_counter_ns() - t_wall) / 1e9, (time.thread_time_ns() - t_cpu) / 1e9
    out = np.frombuffer(base64.b64decode(value), dtype="<f8").reshape(OH, OW)
    return out, min(wall, CPU_CAP * cpu), wall, cpu


def time_candidate(call: Callable[..., Any], image: np.ndarray, kernel: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    args = call_args(image, kernel)
    t = time.perf_counter_ns()
    value = call(FN, *args)
    elapsed = (time.perf_counter_ns() - t) / 1e9
    return decode_output(value, what), elapsed


def run(call: Callable[..., Any], reps: int, warmup: int = 2, budget_s: float = 20.0,
        max_call_s: float = 5.0) -> Timing:
    """Warm-up calls (checked, not timed), then `reps` interleaved reference/candidate pairs.

    `call` is ``candidate.call``.  Every candidate output is checked against the
    reference on the same fresh inputs; the first wrong one raises ScoreError.
    Fewer pairs are timed when the candidate is slow (budget_s), at least 3; a
    candidate slower than max_call_s per call is timed on its warm-up calls only.
    """
    timing = Timing()
    warm_s = []
    for k in range(warmup):
        image, kernel = fresh_inputs()
        ref, *_ = time_reference(image, kernel)
        timing.calls += 1
        out, elapsed = time_candidate(call, image, kernel, f"call {timing.calls} of {FN}() (warm-up)")
        timing.max_rel_error = max(timing.max_rel_error, check_output(out, ref, image, kernel,
                                                                      f"call {timing.calls} of {FN}() (warm-up)"))
        warm_s.append(elapsed)
    slow = min(warm_s) if warm_s else 0.0
    if slow > max_call_s:  # too slow for repeated timing: the warm-up calls are the measurement
        for _ in warm_s:
            image, kernel = fresh_inputs()
            _, used, wall, cpu = time_reference(image, kernel)
            timing.add_reference(used, wall, cpu)
        timing.cand_s = warm_s
        return timing
    for r in range(reps):
        if r >= 3 and sum(timing.ref_s) + sum(timing.cand_s) > budget_s:
            break
        image, kernel = fresh_inputs()
        what = f"call {timing.calls + 1} of {FN}() (timed pair {r + 1})"
        if r % 2 == 0:
            ref, used, wall, cpu = time_reference(image, kernel)
            out, elapsed = time_candidate(call, image, kernel, what)
        else:
            out, elapsed = time_candidate(call, image, kernel, what)
            ref, used, wall, cpu = time_reference(image, kernel)
        timing.calls += 1
        timing.max_rel_error = max(timing.max_rel_error, check_output(out, ref, image, kernel, what))
        timing.add_reference(used, wall, cpu)
        timing.cand_s.append(elapsed)
    return timing


def summarise(timing: Timing, machine: Machine) -> dict:
    """Speed-up (ratio of medians) and the plausibility verdict."""
    ref = statistics.median(timing.ref_s)
    cand = statistics.median(timing.cand_s)
    floor = floor_seconds(machine)
    contention = statistics.median(w / c if c > 0 else 1.0 for w, c in zip(timing.ref_wall_s, timing.ref_cpu_s))
    return {
        "speedup": ref / cand,
        "pair_speedup_median": statistics.median(r / c for r, c in zip(timing.ref_s, timing.cand_s)),
        "reference_ms": 1e3 * ref,
        "candidate_ms": 1e3 * cand,
        "floor_ms": 1e3 * floor,
        "max_plausible_speedup": ref / floor,
        "plausible": cand >= floor,
        "contention": contention,
        "timed_pairs": len(timing.cand_s),
        "max_rel_error": timing.max_rel_error,
        "machine_gflops_per_core": machine.flops_per_core / 1e9,
        "machine_bandwidth_gb_s": machine.bandwidth / 1e9,
        "machine_cores": machine.cores,
    }
