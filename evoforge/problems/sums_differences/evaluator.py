"""Hardened scorer: sums and differences of finite sets (AlphaEvolve B.6), lower bound on C6.

construct_set() returns a set U of distinct non-negative integers containing 0.
By Gyarmati, Hennecart and Ruzsa (2007), C6 >= 1 + log(|U-U| / |U+U|) /
log(2 max U + 1).  |U+U| and |U-U| are counted exactly (every pair visited once,
evoforge.scoring_extra.sumset_sizes); only the final formula is evaluated in
float64.  Floats (even integral ones), booleans, negative or repeated
elements, a set without 0, fewer than 2 or more than MAX_SIZE elements and
elements above MAX_VALUE are invalid.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import sums_differences_bound

MAX_SIZE = 60_000
MAX_VALUE = 2**31 - 1
INFO = problem_info(__file__)


def score(candidate):
    try:
        value, info = sums_differences_bound(candidate.call("construct_set"), MAX_SIZE, MAX_VALUE)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, value, f"|U| = {info['size']}, max U = {info['max']}, |U+U| = {info['sumset_size']}, "
                               f"|U-U| = {info['difference_set_size']}",
                  set_size=info["size"], max_element=info["max"], sumset_size=info["sumset_size"],
                  difference_set_size=info["difference_set_size"])
