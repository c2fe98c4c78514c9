"""Hardened scorer: the candidate's predictions against a fixed target curve (root-mean-square error)."""
import math

XS = [i * 0.25 for i in range(41)]  # 0 .. 10


def target(x):
    return 2.7 * math.exp(-0.35 * x) + 1.9 * math.sin(0.6 * x + 0.4) + 1.3


def score(candidate):
    ys = candidate.call("predict", XS)
    if not isinstance(ys, list) or len(ys) != len(XS):
        return {"valid": False, "error": f"predict must return a list of {len(XS)} numbers"}
    if not all(isinstance(y, (int, float)) and not isinstance(y, bool) and math.isfinite(y) for y in ys):
        return {"valid": False, "error": "predict must return finite real numbers"}
    rmse = math.sqrt(sum((y - target(x)) ** 2 for x, y in zip(XS, ys)) / len(XS))
    return {"combined_score": -rmse, "rmse": rmse}
