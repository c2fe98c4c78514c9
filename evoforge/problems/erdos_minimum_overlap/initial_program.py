"""Erdos minimum overlap problem: a step function h: [0, 2] -> [0, 1] with integral 1
whose largest overlap max_k int h(x) (1 - h(x + k)) dx is small."""
import numpy as np

N_STEPS = 100


# EVOLVE-BLOCK-START
def construct_function():
    """Return the heights h_0 .. h_{n-1} of a step function on [0, 2] with n
    equal steps of width 2/n (1 <= n <= 100000; any n): finite reals in [0, 1]
    with sum(h) = n / 2, i.e. integral 1 (up to 1e-9 rounding).

    The score is (2/n) * max_j sum_i h_i (1 - h_{i+j}) over all integer shifts j
    (1 - h counts as 0 outside [0, 2]), an upper bound on the Erdos minimum
    overlap constant (lower is better).  This starting point is deliberately
    simple: h = 1/2 everywhere (score exactly 0.5).
    """
    return np.full(N_STEPS, 0.5)
# EVOLVE-BLOCK-END
