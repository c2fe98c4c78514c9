"""Curve fitting with six constants: predict(xs) -> one value per x (bench problem for bench/ablation.py)."""
import math


# EVOLVE-BLOCK-START
def predict(xs):
    a, b, c, d, e, f = 1.0, 1.0, 1.0, 1.0, 1.0, 1.0
    return [a * math.exp(-b * x) + c * math.sin(d * x + e) + f for x in xs]
# EVOLVE-BLOCK-END
