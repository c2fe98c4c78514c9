"""Third autocorrelation inequality: a real (signed) step function f on [-1/4, 1/4]
with a small |max (f*f)| relative to (int f)^2."""
import numpy as np

N_STEPS = 400


# EVOLVE-BLOCK-START
def construct_function():
    """Return the heights a_0 .. a_{n-1} (finite reals, negative values allowed,
    sum not 0) of a step function on [-1/4, 1/4] with n equal steps
    (1 <= n <= 100000; any n).

    The score is |max_t (f*f)(t)| / (int f)^2 = 2n max(0, max_k (a*a)_k) / (sum a)^2,
    an upper bound on the constant C3 (lower is better).  This starting point is
    deliberately simple: the constant function (score exactly 2).
    """
    return np.ones(N_STEPS)
# EVOLVE-BLOCK-END
