"""Heilbronn problem for convex regions: 13 points, maximising the smallest triangle
relative to the area of their convex hull."""
import math

import numpy as np

N_POINTS = 13


# EVOLVE-BLOCK-START
def construct_points():
    """Return a (13, 2) array of distinct points in the plane.

    The score is the smallest area of a triangle formed by three of the points
    divided by the area of their convex hull (scale-invariant).  This starting
    point is deliberately simple: the vertices of a regular 13-gon, score
    2 (1 - cos(2 pi / 13)) / 13.
    """
    angles = 2 * math.pi * np.arange(N_POINTS) / N_POINTS
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)
# EVOLVE-BLOCK-END
