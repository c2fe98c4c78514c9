"""RunResult and the attribution of a failed run to the limit that caused it."""
from __future__ import annotations

import signal
from dataclasses import dataclass

from evoforge.records import CPU, DISK, MEMORY, OUTPUT, PROCESSES, TIMEOUT, Limits


class SandboxError(RuntimeError):
    """The sandbox could not be set up (never raised for what a candidate does)."""


@dataclass
class RunResult:
    returncode: int | None  # None if the sandbox killed the tree; negative = signal
    stdout: bytes  # head of the stream, at most limits.max_output_bytes
    stderr: bytes
    limit_hit: str | None  # records.TIMEOUT / MEMORY / CPU / OUTPUT / DISK / PROCESSES
    duration_s: float
    isolation: str  # mode actually used
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    detail: str = ""  # extra words for describe(), e.g. which limit value

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.limit_hit is None

    def describe(self) -> str:
        """One human sentence about how the run ended."""
        if self.limit_hit is not None:
            how = "killed" if self.returncode is None else "failed"
            return f"{how}: {self.detail or self.limit_hit}"
        if self.returncode is None:
            return f"killed: {self.detail or 'stopped by the caller'}"
        if self.returncode == 0:
            return f"exited normally in {self.duration_s:.2f} s"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"crashed: terminated by {name}"
        return f"failed: exit status {self.returncode}"


# Messages that a process which ran into a limit prints on its way out.  The
# candidate can fake them, which only makes its own failure look different.
_MEMORY_MARKS = (b"MemoryError", b"Unable to allocate", b"Cannot allocate memory",
                 b"std::bad_alloc", b"out of memory")
_PROCESS_MARKS = (b"can't start new thread", b"Resource temporarily unavailable",
                  b"BlockingIOError", b"fork: retry")
_DISK_MARKS = (b"File too large", b"No space left on device", b"Disk quota exceeded")


def attribute(limits: Limits, returncode: int | None, stderr: bytes,
              cpu_s: float | None = None) -> tuple[str | None, str]:
    """Best-effort guess which limit made a process fail (not a kill of ours)."""
    if returncode is None or returncode == 0:
        return None, ""
    tail = stderr[-4096:]
    sig = -returncode if returncode < 0 else None
    cpu = limits.effective_cpu_s()
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s is not None and cpu_s >= cpu - 0.05):
        return CPU, f"CPU time limit of {cpu:g} s exceeded"
    if sig == signal.SIGXFSZ or any(m in tail for m in _DISK_MARKS):
        return DISK, f"file size limit of {limits.max_file_mb} MB exceeded"
    if any(m in tail for m in _MEMORY_MARKS):
        return MEMORY, f"memory limit of {limits.memory_mb} MB exceeded"
    if any(m in tail for m in _PROCESS_MARKS):
        return PROCESSES, f"process/thread limit of {limits.max_processes} exceeded"
    return None, ""


def kill_detail(kind: str, limits: Limits) -> str:
    """The sentence for a limit the monitor enforced by killing the tree."""
    if kind == TIMEOUT:
        return f"wall-clock timeout of {limits.timeout_s:g} s exceeded"
    if kind == CPU:
        return f"CPU time limit of {limits.effective_cpu_s():g} s exceeded (whole process tree)"
    if kind == OUTPUT:
        return f"output limit of {limits.max_output_bytes} bytes per stream exceeded"
    if kind == DISK:
        return f"disk limit of {limits.max_disk_mb} MB in the working directory exceeded"
    if kind == MEMORY:
        return f"memory limit of {limits.memory_mb} MB exceeded"
    if kind == PROCESSES:
        return f"process/thread limit of {limits.max_processes} exceeded"
    return kind
