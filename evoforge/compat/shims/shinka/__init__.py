"""evoforge's stand-in for the ``shinka`` package: ``shinka.core.run_shinka_eval``
so ShinkaEvolve task evaluators run unmodified.  A real installation wins."""

__evoforge_shim__ = True
