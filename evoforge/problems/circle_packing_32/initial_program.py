"""Pack 32 disjoint disks in the unit square, maximising the sum of their radii."""
import numpy as np

N_CIRCLES = 32


# EVOLVE-BLOCK-START
def construct_packing():
    """Return (centers, radii): centers is a (32, 2) array of (x, y), radii a (32,) array.

    Every disk must lie inside [0, 1] x [0, 1] and no two may overlap.
    This starting point is deliberately simple: a 6 x 6 grid (the last row only
    partly filled) of equal disks of radius 1/12.
    """
    cols = rows = 6
    centers = np.array([[(k % cols + 0.5) / cols, (k // cols + 0.5) / rows] for k in range(N_CIRCLES)])
    radii = np.full(N_CIRCLES, 0.5 / cols)
    return centers, radii
# EVOLVE-BLOCK-END
