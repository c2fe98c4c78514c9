"""16 points in the plane with the smallest possible ratio of largest to smallest distance."""
import numpy as np

N_POINTS, DIM = 16, 2


# EVOLVE-BLOCK-START
def construct_points():
    """Return a (16, 2) array of distinct points.

    The score is (max pairwise distance / min pairwise distance)^2 (lower is
    better; scale, rotation and translation do not matter).  This starting point
    is deliberately simple: a 4 x 4 square grid, ratio^2 = 18.
    """
    return np.array([[i, j] for i in range(4) for j in range(4)], dtype=float)
# EVOLVE-BLOCK-END
