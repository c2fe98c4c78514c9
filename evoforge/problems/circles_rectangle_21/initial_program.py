"""Pack 21 disjoint disks in a rectangle of perimeter 4, maximising the sum of their radii."""
import numpy as np

N_CIRCLES = 21


# EVOLVE-BLOCK-START
def construct_packing():
    """Return (centers, radii): centers is a (21, 2) array of (x, y), radii a (21,) array.

    No two disks may overlap and their bounding box (the rectangle) must have
    width + height <= 2, i.e. perimeter <= 4.  The rectangle may have any shape
    and position.  This starting point is deliberately simple: a 7 x 3 grid of
    equal disks of radius 0.1 (a 1.4 x 0.6 rectangle).
    """
    cols, rows, r = 7, 3, 0.1
    centers = np.array([[(2 * (k % cols) + 1) * r, (2 * (k // cols) + 1) * r] for k in range(N_CIRCLES)])
    radii = np.full(N_CIRCLES, r)
    return centers, radii
# EVOLVE-BLOCK-END
