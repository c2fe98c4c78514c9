"""Pack 26 disjoint disks in the unit square, maximising the sum of their radii."""
import numpy as np

N_CIRCLES = 26


# EVOLVE-BLOCK-START
def construct_packing():
    """Return (centers, radii): centers is a (26, 2) array of (x, y), radii a (26,) array.

    Every disk must lie inside [0, 1] x [0, 1] and no two may overlap.
    This starting point is deliberately simple: a 6 x 5 grid (the last row only
    partly filled) with every radius equal to half the smaller grid spacing.
    """
    cols, rows = 6, 5
    centers = np.array([[(k % cols + 0.5) / cols, (k // cols + 0.5) / rows] for k in range(N_CIRCLES)])
    radii = np.full(N_CIRCLES, min(0.5 / cols, 0.5 / rows))
    return centers, radii
# EVOLVE-BLOCK-END
