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

    This starting point is first fit: the earliest-opened bin that fits wins.
    """
    order = np.arange(len(bins), dtype=float)  # 0 for the earliest-opened bin
    room = bins - item  # space each bin would have left after taking the item (unused here)
    return -order  # one priority per bin: earlier bins first
# EVOLVE-BLOCK-END
