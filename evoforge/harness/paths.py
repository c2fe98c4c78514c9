"""Import paths inside the trusted child processes."""
from __future__ import annotations

import importlib.util
import sys


def setup_sys_path(job: dict) -> None:
    """Problem directory first (evaluators import their helper modules), the
    evoforge checkout after the installed packages, and the openevolve/shinka
    import shims last, so a real installation of those packages wins."""
    root = job.get("root")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    for extra in (job.get("pkg_parent"), job.get("shims")):
        if extra and extra not in sys.path:
            sys.path.append(extra)


def load_module(path: str, name: str):
    """Import a file as module `name` (never as ``__main__``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
