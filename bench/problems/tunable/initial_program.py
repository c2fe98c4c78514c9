"""Eight constants to tune: constants() -> a list of 8 numbers (bench problem for bench/throughput.py)."""


# EVOLVE-BLOCK-START
def constants():
    a, b, c, d = 1.0, 1.0, 1.0, 1.0
    e, f, g, h = 1.0, 1.0, 1.0, 1.0
    return [a, b, c, d, e, f, g, h]
# EVOLVE-BLOCK-END
