"""evoforge's stand-in for the ``openevolve`` package: just enough for evaluators
written for OpenEvolve (``from openevolve.evaluation_result import EvaluationResult``)
to run unmodified.  A real openevolve installation takes precedence."""

__evoforge_shim__ = True
