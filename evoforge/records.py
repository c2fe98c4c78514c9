"""Plain records passed between pipeline stages.

Kept free of behaviour so every stage (sandbox, evaluate, database, engine, ui)
can import them without pulling in the others.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Resource limits for one evaluation (the whole process tree)."""

    timeout_s: float = 60.0  # wall clock; the whole tree is killed when it expires
    memory_mb: int = 2048  # address space per process (RLIMIT_AS) / cgroup memory
    cpu_s: float | None = None  # CPU seconds; None means 2 x timeout_s
    max_processes: int = 64  # processes/threads the candidate may create
    max_output_bytes: int = 1_000_000  # per captured stream (stdout, stderr)
    max_file_mb: int = 256  # largest file the candidate may write (RLIMIT_FSIZE)
    max_disk_mb: int = 512  # total bytes in the private working directory
    network: bool = False  # candidates get no network unless granted

    def effective_cpu_s(self) -> float:
        return self.cpu_s if self.cpu_s is not None else 2.0 * self.timeout_s


# Failure kinds recorded with an invalid result.  Strings, so they are stable in
# the database and readable in `status`.
TIMEOUT = "timeout"
MEMORY = "memory"
CPU = "cpu"
OUTPUT = "output_limit"
DISK = "disk_limit"
PROCESSES = "process_limit"
CRASH = "crash"  # non-zero exit / signal not explained by a limit
EXCEPTION = "exception"  # evaluator or candidate raised
INVALID = "invalid"  # evaluator ran and declared the candidate invalid
BAD_RESULT = "bad_result"  # evaluator returned something that is not numeric metrics
SUSPICIOUS = "suspicious"


@dataclass
class EvalResult:
    """Outcome of evaluating one candidate program."""

    valid: bool
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # human-readable reason when not valid
    failure_kind: str | None = None  # one of the constants above
    stdout: str = ""  # truncated
    stderr: str = ""  # truncated
    artifacts: dict[str, Any] = field(default_factory=dict)  # JSON-able feedback
    duration_s: float = 0.0
    stage: int | None = None  # last cascade stage reached (1-based), None without cascade
    flags: list[str] = field(default_factory=list)  # e.g. ["suspicious"]
    isolation: str = ""  # sandbox mode that ran it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failure(cls, kind: str, error: str, **kw: Any) -> "EvalResult":
        return cls(valid=False, failure_kind=kind, error=error, **kw)
