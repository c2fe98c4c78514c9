"""Evolves the docstring of merge_intervals(); its code must keep its behaviour.

The scorer reads the docstring through docstring() and checks that
merge_intervals() still behaves like the reference in target.py.
"""

# EVOLVE-BLOCK-START
def merge_intervals(intervals, gap=0):
    """Merge intervals."""
    if not intervals:
        return []
    ordered = sorted((min(a, b), max(a, b)) for a, b in intervals)
    merged = [list(ordered[0])]
    for start, end in ordered[1:]:
        if start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(pair) for pair in merged]
# EVOLVE-BLOCK-END


def docstring():
    return merge_intervals.__doc__
