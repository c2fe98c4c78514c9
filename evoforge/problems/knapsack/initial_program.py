"""0/1 knapsack: choose items of maximum total value within the capacity."""


# EVOLVE-BLOCK-START
def solve(values, weights, capacity):
    """Return the indices of the chosen items (a list of distinct ints).

    values, weights: lists of positive ints (one per item); capacity: an int.
    The total weight of the chosen items must not exceed the capacity; the
    score is the total value divided by the optimum.  This starting point is
    deliberately simple: greedy by value / weight, taking every item that
    still fits.
    """
    order = sorted(range(len(values)), key=lambda i: values[i] / weights[i], reverse=True)
    chosen, room = [], capacity
    for i in order:
        if weights[i] <= room:
            chosen.append(i)
            room -= weights[i]
    return chosen
# EVOLVE-BLOCK-END
