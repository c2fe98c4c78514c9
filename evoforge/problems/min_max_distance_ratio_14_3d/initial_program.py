"""14 points in space with the smallest possible ratio of largest to smallest distance."""
import numpy as np

N_POINTS, DIM = 14, 3


# EVOLVE-BLOCK-START
def construct_points():
    """Return a (14, 3) array of distinct points.

    The score is (max pairwise distance / min pairwise distance)^2 (lower is
    better; scale, rotation and translation do not matter).  This starting point
    is deliberately simple: the 8 corners and 6 face centres of a cube,
    ratio^2 = 3 / (1/2) = 6.
    """
    corners = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    faces = [[0.5, 0.5, 0], [0.5, 0.5, 1], [0.5, 0, 0.5], [0.5, 1, 0.5], [0, 0.5, 0.5], [1, 0.5, 0.5]]
    return np.array(corners + faces, dtype=float)
# EVOLVE-BLOCK-END
