"""Hardened scorer for the throughput benchmark: eight constants against a hidden target,
plus a configurable amount of busy CPU work per evaluation (bench/throughput.py).

EVAL_MS is the evaluation cost in milliseconds of CPU, spent here in the trusted scorer
process (a busy loop, so it occupies a core like a real evaluation would).  The value in
this file is 0; bench/throughput.py copies the problem directory per setting and bakes
the cost of that setting into the copy, so nothing depends on the environment.
"""
import math
import time

EVAL_MS = 0
TARGET = [0.37, -1.25, 2.5, 0.8, -0.45, 1.75, 3.1, -2.2]


def _burn(ms):
    end = time.process_time() + ms / 1000.0
    x = 0
    while time.process_time() < end:
        for i in range(1000):
            x += i
    return x


def score(candidate):
    if EVAL_MS:
        _burn(EVAL_MS)
    out = candidate.call("constants")
    if not isinstance(out, list) or len(out) != len(TARGET):
        return {"valid": False, "error": f"constants() must return a list of {len(TARGET)} numbers"}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in out):
        return {"valid": False, "error": "constants() must return finite real numbers"}
    err = math.sqrt(sum((v - t) ** 2 for v, t in zip(out, TARGET)) / len(TARGET))
    return {"combined_score": -err, "rmse": err}
