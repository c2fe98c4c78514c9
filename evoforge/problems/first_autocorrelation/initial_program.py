"""First autocorrelation inequality: a non-negative step function f on [-1/4, 1/4]
with a small autoconvolution peak max (f*f) relative to (int f)^2."""
import numpy as np

N_STEPS = 600


# EVOLVE-BLOCK-START
def construct_function():
    """Return the heights a_0 .. a_{n-1} (finite reals >= 0, not all 0) of a step
    function on [-1/4, 1/4] with n equal steps (1 <= n <= 100000; any n).

    The score is 2n * max_k (a*a)_k / (sum a)^2 = max (f*f) / (int f)^2, an
    upper bound on the constant C1 (lower is better).  This starting point is
    deliberately simple: the constant function (score exactly 2).
    """
    return np.ones(N_STEPS)
# EVOLVE-BLOCK-END
