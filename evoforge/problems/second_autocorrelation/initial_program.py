"""Second autocorrelation inequality: a non-negative step function f on [-1/4, 1/4]
whose autoconvolution g = f*f has a large ||g||_2^2 / (||g||_1 ||g||_inf)."""
import numpy as np

N_STEPS = 50


# EVOLVE-BLOCK-START
def construct_function():
    """Return the heights a_0 .. a_{n-1} (finite reals >= 0, not all 0) of a step
    function on [-1/4, 1/4] with n equal steps (1 <= n <= 100000; any n).

    The score is ||f*f||_2^2 / (||f*f||_1 ||f*f||_inf), a lower bound on the
    constant C2 (higher is better).  This starting point is deliberately
    simple: the constant function, whose autoconvolution is a triangle
    (score exactly 2/3).
    """
    return np.ones(N_STEPS)
# EVOLVE-BLOCK-END
