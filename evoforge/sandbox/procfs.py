"""What the monitor reads from /proc and the working directory (host PID numbers)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are still its descendants (orphans are not)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in (b"Z", b"X")


@dataclass
class Usage:
    tasks: int = 0  # threads, summed over the processes
    rss: int = 0  # resident bytes (shared pages count once per process)
    cpu_s: float = 0.0  # user + system, including reaped children


def usage(pids: Iterable[int]) -> Usage:
    u = Usage()
    for pid in pids:
        f = _stat(pid)
        if f is None or f[0] in (b"Z", b"X"):
            continue
        u.tasks += int(f[17])
        u.rss += int(f[21]) * _PAGE
        u.cpu_s += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / _TICK
    return u


def disk_usage(path: Path, max_entries: int) -> tuple[int, int]:
    """(bytes allocated, entries) under `path`; stops counting past `max_entries`."""
    total = entries = 0
    for dirpath, dirs, files in os.walk(path):
        entries += len(dirs) + len(files)
        if entries > max_entries:
            break
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total, entries


def deleted_open_bytes(pids: Iterable[int]) -> int:
    """Bytes in files the processes hold open after deleting them (or memfds): the
    directory walk cannot see these, but they fill the disk (or memory) all the same."""
    total, seen = 0, set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
                if not (target.endswith(" (deleted)") or target.startswith("/memfd:")):
                    continue
                st = os.stat(f"{fd_dir}/{name}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total
