"""Compatibility with existing OpenEvolve and ShinkaEvolve problems.

`SHIMS_DIR` holds minimal stand-ins for the ``openevolve`` and ``shinka``
packages (only what evaluators import: ``openevolve.evaluation_result`` and
``shinka.core.run_shinka_eval``).  It is appended to the *end* of ``sys.path``
in evaluator processes, so a real installation of either package wins.
"""
from pathlib import Path

SHIMS_DIR = Path(__file__).resolve().parent / "shims"
