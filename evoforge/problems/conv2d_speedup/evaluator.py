"""Hardened scorer: speed up a 2-D convolution on this CPU (in the spirit of
AlphaEvolve's kernel optimisation).

Every call of the candidate's conv2d_packed() gets a fresh unpredictable image
and kernel and its output is checked against the trusted reference; timing is
done with the scorer's clock only (round trips of candidate.call), interleaved
with equally packaged runs of the reference, summarised by medians, guarded
against CPU contention and against physically impossible times.  See
conv_harness.py for the measurement and the reasons behind it.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import suspicious

from conv_harness import KH, KW, H, W, TOL, measure_machine, run, summarise

REPS = 11  # timed pairs (fewer if the candidate is slow)
INFO = problem_info(__file__)


def score(candidate):
    machine = measure_machine()
    try:
        timing = run(candidate.call, REPS)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    s = summarise(timing, machine)
    plausible = s.pop("plausible")
    if not plausible:
        return suspicious(f"the median call took {s['candidate_ms']:.3f} ms, below the {s['floor_ms']:.3f} ms "
                          f"that this machine's measured bandwidth and compute allow for moving the data "
                          f"and the minimal arithmetic (claimed speed-up {s['speedup']:.1f}x, at most "
                          f"{s['max_plausible_speedup']:.1f}x is plausible); not rewarded", **s)
    speedup = s.pop("speedup")
    busy = (f"; the machine was busy (contention {s['contention']:.2f}): speed-ups are understated"
            if s["contention"] > 1.5 else "")
    return result(INFO, speedup, f"{s['timed_pairs']} timed calls on fresh {H}x{W} images with {KH}x{KW} "
                                 f"kernels, all within {TOL:g} of the reference (max error "
                                 f"{s['max_rel_error']:.2g}); median {s['candidate_ms']:.2f} ms vs reference "
                                 f"{s['reference_ms']:.2f} ms{busy}", **s)
