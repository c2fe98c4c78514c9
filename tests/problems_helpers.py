"""Shared by the tests of the built-in analysis and combinatorial problems.

`_Candidate` stands in for the sandboxed candidate (arguments and results cross
the real wire codec), `_module` imports a problem's module the way the trusted
scorer does, and `evaluators` builds real Evaluators once per test module.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evoforge import problems as registry
from evoforge.evaluate import Evaluator
from evoforge.harness import wire
from evoforge.problem import load_problem

from shared_data import SHARED_DATA as SHARED  # noqa: E402

AE, FS = SHARED / "alphaevolve", SHARED / "funsearch"

PART_B = {  # name -> (objective, candidate function)
    "first_autocorrelation": ("c1_upper_bound", "construct_function"),
    "second_autocorrelation": ("c2_lower_bound", "construct_function"),
    "third_autocorrelation": ("c3_upper_bound", "construct_function"),
    "erdos_minimum_overlap": ("c5_upper_bound", "construct_function"),
    "sums_differences": ("c6_lower_bound", "construct_set"),
    "cap_set_8": ("cap_set_size", "construct_cap_set"),
    "bin_packing_online": ("excess_pct", "priority"),
    "knapsack": ("mean_ratio_to_optimum", "solve"),
    "conv2d_speedup": ("speedup", "conv2d"),
}


# -- helpers ----------------------------------------------------------------------------------
def _shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"reference data not found: {path} (see ../shared/data/README.md)")
    return path


def _ref(stem: str) -> dict:
    return json.loads(_shared(AE / f"{stem}.json").read_text())


def _cap_set_512() -> list[list[int]]:
    return [json.loads(line) for line in _shared(FS / "cap_set_n8_size512.txt").read_text().splitlines() if line]


def _program(fn: str, data, transform: str = "") -> str:
    """A candidate whose `fn()` returns `data` (plain lists) after `transform` (code acting on `data`)."""
    return (f"import json\nimport math\nimport numpy as np\n# EVOLVE-BLOCK-START\ndef {fn}():\n"
            f"    data = json.loads({json.dumps(json.dumps(data))})\n{transform}    return data\n# EVOLVE-BLOCK-END\n")


def _evaluate_all(evaluator: Evaluator, codes: dict[str, str], workers: int = 3) -> dict:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {k: pool.submit(evaluator.evaluate, code) for k, code in codes.items()}
        return {k: f.result() for k, f in futures.items()}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


class _Candidate:
    """Stands in for the sandboxed candidate: arguments and results cross the real wire codec.

    `impl` is a value (returned by every call) or a callable run on the decoded arguments.
    """

    def __init__(self, impl):
        self.impl = impl
        self.calls = 0

    def _one(self, args):
        self.calls += 1
        args = wire.loads(wire.dumps(list(args)))
        value = self.impl(*args) if callable(self.impl) else self.impl
        return wire.loads(wire.dumps(value))

    def call(self, fn, *args):
        return self._one(args)

    def call_many(self, fn, calls):
        return [self._one(c if isinstance(c, tuple) else (c,)) for c in calls]


_MODULES: dict = {}


def _module(name: str, file: str = "evaluator.py"):
    """Import a problem's module the way the trusted scorer does (its directory on sys.path)."""
    key = (name, file)
    if key not in _MODULES:
        path = registry.BUILTIN_DIR / name / file
        saved_path, saved_mods = list(sys.path), set(sys.modules)
        sys.path.insert(0, str(path.parent))
        try:
            mod_name = f"_problem_{name}_{path.stem}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
        finally:
            sys.path[:] = saved_path
            for extra in set(sys.modules) - saved_mods - {mod_name}:
                if str(path.parent) in (getattr(sys.modules[extra], "__file__", None) or ""):
                    del sys.modules[extra]  # the problem's helper modules (e.g. "instances")
        _MODULES[key] = module
    return _MODULES[key]


def _score(name: str, impl) -> dict:
    return _module(name).score(_Candidate(impl))


def _invalid(name: str, impl, fragment: str) -> str:
    out = _score(name, impl)
    assert out.get("valid") is False, (name, fragment, out)
    assert fragment in out["error"], (name, fragment, out["error"])
    return out["error"]


def _valid(name: str, impl) -> dict:
    out = _score(name, impl)
    assert out.get("valid", True) is not False, (name, out)
    return out


@pytest.fixture(scope="module")
def evaluators():
    made: dict[str, Evaluator] = {}

    def get(name: str) -> Evaluator:
        if name not in made:
            made[name] = Evaluator(load_problem(registry.BUILTIN_DIR / name))
        return made[name]

    yield get
    for ev in made.values():
        ev.close()


