"""Online bin packing heuristic (FunSearch): score the bins an item can go into."""
import numpy as np


# EVOLVE-BLOCK-START
def priority(item, bins):
    """Return one priority per bin; the item goes into the bin with the highest one.

    item: the size of the item to pack (an int).
    bins: numpy array of the remaining capacities of the bins that can take the
          item, in the order the bins were opened; the last entry is an unused
          bin (full capacity), so choosing it opens a new bin.
    Must return a numpy array (or list) of len(bins) finite real numbers.
    Ties go to the first bin.

    This starting point is best fit (FunSearch's starting program): the bin
    that the item leaves with the least room wins.
    """
    return -(bins - item).astype(float)
# EVOLVE-BLOCK-END
