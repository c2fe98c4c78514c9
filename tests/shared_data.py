"""Where the reference data (../shared/data, see its README.md) is.

In order: $EVOFORGE_SHARED_DATA; ``../shared/data`` next to this checkout; and, for a
clone of a local repository (``git clone /work/main /tmp/x``), ``../shared/data`` next
to the repository it was cloned from.  Tests that need it skip, naming the paths tried,
when none exists.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def candidates() -> list[Path]:
    found = [Path(os.environ["EVOFORGE_SHARED_DATA"])] if os.environ.get("EVOFORGE_SHARED_DATA") else []
    found.append(REPO.parent / "shared" / "data")
    try:
        origin = subprocess.run(["git", "-C", str(REPO), "remote", "get-url", "origin"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and ":" not in origin.split("/")[0] and Path(origin).is_dir():
        found.append(Path(origin).resolve().parent / "shared" / "data")
    return found


def shared_data() -> Path:
    """The first candidate that exists (else the conventional ../shared/data, for messages)."""
    tried = candidates()
    return next((p for p in tried if p.is_dir()), tried[0] if os.environ.get("EVOFORGE_SHARED_DATA") else tried[-1])


SHARED_DATA = shared_data()
