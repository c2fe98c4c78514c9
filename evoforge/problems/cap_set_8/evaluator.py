"""Hardened scorer: cap set in F_3^8 (FunSearch, Romera-Paredes et al. 2024).

construct_cap_set() returns a list of vectors of length 8 with entries in
{0, 1, 2}.  The set must be a cap set: distinct vectors, no three distinct
ones summing to 0 mod 3 (for distinct a, b the third point of their line is
-(a + b) mod 3).  Checked exactly over all pairs in integer arithmetic
(evoforge.scoring_extra.cap_set_check); the score is the number of vectors.
Floats (even integral ones), booleans, entries outside {0, 1, 2}, wrong lengths,
repeated vectors and any line are invalid.  More than MAX_SIZE vectors are
refused unchecked: F_3^8 is the union of 3^7 parallel lines and a cap set has at
most 2 points on each.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import cap_set_check

DIM = 8
MAX_SIZE = 2 * 3 ** (DIM - 1)  # 4374
INFO = problem_info(__file__)


def score(candidate):
    try:
        size, _ = cap_set_check(candidate.call("construct_cap_set"), DIM, MAX_SIZE)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, size, f"valid cap set of {size} vectors in F_3^{DIM} (no three on a line)")
