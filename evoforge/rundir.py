"""The run directory: database, log file and ``best/``.

Everything needed to resume lives here; the database is the checkpoint.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

DB_NAME = "evoforge.db"
LOG_NAME = "evoforge.log"


class RunDirError(ValueError):
    pass


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def best_dir(self) -> Path:
        return self.path / "best"

    def exists(self) -> bool:
        return self.db_path.is_file()

    def require(self) -> "RunDir":
        if not self.exists():
            raise RunDirError(f"{self.path} is not an evoforge run directory (no {DB_NAME})")
        return self

    def create(self) -> None:
        # 0700: candidates run as another user or in a namespace that hides it, and
        # other local users have no business reading prompts or API usage either.
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        self.best_dir.mkdir(exist_ok=True)

    def setup_logging(self, verbose: bool = False) -> logging.Logger:
        logger = logging.getLogger("evoforge")
        logger.setLevel(logging.DEBUG)
        for h in list(logger.handlers):
            if getattr(h, "_evoforge_run", False):
                logger.removeHandler(h)
                h.close()
        handler = logging.FileHandler(self.log_path, encoding="utf-8")
        handler._evoforge_run = True  # type: ignore[attr-defined]
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        return logger

    def write_best(self, code: str, suffix: str, record: dict[str, Any]) -> None:
        """Replace best/ atomically, so a reader never sees a half-written file."""
        self.best_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.best_dir / f"best_program{suffix}", code)
        _atomic_write(self.best_dir / "best_metrics.json", json.dumps(record, indent=2, default=str) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
