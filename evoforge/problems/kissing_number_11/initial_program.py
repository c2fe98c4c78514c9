"""Kissing configurations in dimension 11: as many integer vectors as possible satisfying
AlphaEvolve's criterion (which proves a lower bound on the kissing number)."""
from itertools import combinations

DIM = 11


# EVOLVE-BLOCK-START
def construct_vectors():
    """Return a list of distinct nonzero integer vectors of length 11 (Python ints)
    such that min |x - y|^2 over distinct x, y is >= max |x|^2.

    The score is the number of vectors.  This starting point is deliberately
    simple: the 220 minimal vectors of the lattice D11, +-e_i +- e_j (squared
    norm 2, distinct vectors at squared distance >= 2).
    """
    vectors = []
    for i, j in combinations(range(DIM), 2):
        for si in (1, -1):
            for sj in (1, -1):
                v = [0] * DIM
                v[i], v[j] = si, sj
                vectors.append(v)
    return vectors
# EVOLVE-BLOCK-END
