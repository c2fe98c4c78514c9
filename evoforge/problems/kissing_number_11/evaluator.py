"""Hardened scorer: kissing number in dimension 11 (AlphaEvolve B.11).

AlphaEvolve's criterion: a finite set C of points of R^d with 0 not in C and
  min_{x != y in C} |x - y|^2 >= max_{x in C} |x|^2
gives a kissing configuration of |C| unit spheres (centres 2x/|x|), so the
kissing number is at least |C|.  construct_vectors() returns C as integer
vectors; the criterion is checked in exact integer arithmetic (Python ints; no
floats decide anything) and the score is |C|.  Floats (even integral ones),
booleans, complex numbers, strings, wrong lengths, the zero vector, repeated
vectors and any pair that is too close are invalid.
"""
from evoforge.problems.geometry import kissing_check, problem_info, result
from evoforge.scoring import ScoreError

DIM = 11
MAX_VECTORS = 1000  # the kissing number in dimension 11 is at most 868: more cannot be valid
INFO = problem_info(__file__)


def score(candidate):
    try:
        count, info = kissing_check(candidate.call("construct_vectors"), DIM, MAX_VECTORS)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, count, f"{count} integer vectors in Z^{DIM} satisfy the kissing criterion "
                               f"(min |x - y|^2 = {info.get('min_dist2')} >= max |x|^2 = {info['max_norm2']})")
