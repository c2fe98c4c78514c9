"""Live dashboard for a run: ``serve(run_dir)`` (read-only; see docs/dashboard.md)."""
from .server import make_server, serve

__all__ = ["serve", "make_server"]
