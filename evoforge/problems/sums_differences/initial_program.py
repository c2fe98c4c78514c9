"""Sums and differences of finite sets: a set U of non-negative integers containing 0
with many more differences than sums, |U - U| >> |U + U|."""

SIZE = 20


# EVOLVE-BLOCK-START
def construct_set():
    """Return U: distinct non-negative integers (Python ints or an integer numpy
    array), containing 0, 2 <= |U| <= 60000, max(U) <= 2**31 - 1.

    The score is 1 + log(|U - U| / |U + U|) / log(2 max(U) + 1), a lower bound on
    the constant C6 (higher is better).  This starting point is deliberately
    simple: a Sidon set (all pairwise sums distinct) built greedily, the
    Mian-Chowla sequence shifted to start at 0.
    """
    chosen, sums = [], set()
    candidate = 0
    while len(chosen) < SIZE:
        new = {candidate + x for x in chosen} | {2 * candidate}
        if not new & sums:
            chosen.append(candidate)
            sums |= new
        candidate += 1
    return chosen
# EVOLVE-BLOCK-END
