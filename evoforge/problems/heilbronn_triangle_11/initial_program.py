"""Heilbronn problem: 11 points in an equilateral triangle, maximising the smallest triangle."""
import math

import numpy as np

N_POINTS = 11


# EVOLVE-BLOCK-START
def construct_points():
    """Return an (11, 2) array of distinct points in the closed triangle with
    vertices (0, 0), (1, 0), (1/2, sqrt(3)/2).

    The score is the smallest area of a triangle formed by three of the points,
    divided by the area of the container (sqrt(3)/4).  This starting point is
    deliberately simple: the vertices of a regular 11-gon on a circle around the
    centre of the triangle, inside its incircle.
    """
    cx, cy = 0.5, math.sqrt(3) / 6  # the centre; the incircle has radius sqrt(3)/6
    radius = 0.9 * math.sqrt(3) / 6
    angles = 2 * math.pi * np.arange(N_POINTS) / N_POINTS
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
# EVOLVE-BLOCK-END
