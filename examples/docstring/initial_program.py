"""Evolves the docstring of merge_intervals() (target.py in the problem directory).

Only the text of DOCSTRING changes; docstring() hands it to the scorer.
"""

# EVOLVE-BLOCK-START
DOCSTRING = """Merge intervals."""
# EVOLVE-BLOCK-END


def docstring():
    return DOCSTRING
