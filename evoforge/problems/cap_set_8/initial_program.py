"""Cap set in F_3^8: as many vectors of {0, 1, 2}^8 as possible, no three distinct
ones summing to 0 mod 3 (no three on a line).  FunSearch-style: a greedy
construction ordered by an evolvable priority function."""
import itertools

import numpy as np

DIM = 8


# EVOLVE-BLOCK-START
def priority(vector, n):
    """Priority of a vector (a tuple of n entries in {0, 1, 2}): vectors with a
    higher priority are tried first by the greedy construction below.

    This starting point is deliberately simple: every vector gets the same
    priority, so the greedy construction runs in lexicographic order.
    """
    return 0.0
# EVOLVE-BLOCK-END


def construct_cap_set():
    """Return the cap set: a list of distinct vectors (lists of DIM entries in
    {0, 1, 2}) with no three distinct vectors summing to 0 mod 3.

    Greedy: go through all 3^DIM vectors by decreasing priority (ties in
    lexicographic order) and keep a vector unless it completes a line with two
    vectors already kept.
    """
    vectors = np.array(list(itertools.product(range(3), repeat=DIM)), dtype=np.int64)
    powers = 3 ** np.arange(DIM - 1, -1, -1)
    scores = np.array([priority(tuple(int(x) for x in v), DIM) for v in vectors], dtype=float)
    blocked = np.zeros(len(vectors), dtype=bool)
    chosen = []
    for i in np.argsort(-scores, kind="stable"):
        if blocked[i]:
            continue
        if chosen:
            blocked[((-(vectors[chosen] + vectors[i])) % 3) @ powers] = True  # third points of new lines
        chosen.append(int(i))
        blocked[i] = True
    return vectors[chosen].tolist()
