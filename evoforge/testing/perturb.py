"""The test double's "proposer": nudge numeric constants inside EVOLVE blocks.

It reads the current program from the prompt and answers like a (very dumb)
model would: a SEARCH/REPLACE diff or a rewrite of the block.  It is written
independently of `evoforge.blocks` / `evoforge.edit` on purpose, so a bug there
is not mirrored here and the tests that combine both can catch it.
"""
from __future__ import annotations

import math
import random
import re
from typing import Any, Sequence

START, END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"

_FENCE = re.compile(r"^[ \t]*```([^\n]*)\n(.*?)^[ \t]*```", re.M | re.S)
# A number that is not part of an identifier, attribute or longer literal (0x1f, 1_000).
_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def find_program(messages: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """(code, fence info string) of the first fenced program in the last user
    message that contains an EVOLVE block, or None."""
    for msg in reversed(messages):
        content = msg.get("content")
        if msg.get("role") != "user" or not isinstance(content, str) or START not in content:
            continue
        for m in _FENCE.finditer(content.replace("\r\n", "\n")):
            if START in m.group(2):
                return m.group(2), m.group(1).strip()
        return None
    return None


def asks_for_diff(messages: Sequence[dict[str, Any]]) -> bool:
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    return "SEARCH/REPLACE" in text or "<<<<<<< SEARCH" in text


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(start marker line, end marker line) pairs; unbalanced markers end the scan."""
    out, open_at = [], None
    for i, line in enumerate(lines):
        if START in line and open_at is None:
            open_at = i
        elif END in line and open_at is not None:
            out.append((open_at, i))
            open_at = None
    return out


def _code_part(line: str) -> int:
    """Length of the line before a '#' or '//' comment (strings are not parsed)."""
    cut = len(line)
    for marker in ("#", "//"):
        pos = line.find(marker)
        if pos != -1:
            cut = min(cut, pos)
    return cut


def _nudge(text: str, rng: random.Random) -> str:
    is_float = any(c in text for c in ".eE")
    value = float(text)
    for _ in range(8):
        if is_float:
            new = value * math.exp(rng.gauss(0.0, 0.25)) if value else rng.uniform(0.01, 1.0)
            out = f"{new:.4g}"
            if not any(c in out for c in ".eE"):
                out += ".0"
        else:
            step = max(1, round(abs(value) * 0.2))
            new_int = int(value) + rng.choice([-1, 1]) * rng.randint(1, step)
            out = str(abs(new_int))  # literals carry no sign; keep counts and sizes >= 0
        if out != text:
            return out
    return text + ("1" if is_float and "e" not in text.lower() else "")


def _unique_window(code: str, lines: list[str], lo: int, hi: int, first: int, last: int) -> tuple[int, int]:
    """Widen [lo, hi] within the block body [first, last] until the text occurs once in the program."""
    while code.count("".join(lines[lo : hi + 1])) > 1:
        if lo > first:
            lo -= 1
        elif hi < last:
            hi += 1
        else:
            break
    return lo, hi


def propose(code: str, rng: random.Random, *, rewrite: bool, lang: str = "python") -> str:
    """A reply that changes 1-3 numeric constants of one EVOLVE block of `code`."""
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    code = "".join(lines)
    blocks = [b for b in _blocks(lines) if b[1] > b[0] + 1]
    if not blocks:
        return "I could not find a non-empty EVOLVE block to change."
    numbered = [b for b in blocks if any(_NUMBER.search(lines[i][: _code_part(lines[i])])
                                         for i in range(b[0] + 1, b[1]))]
    start, end = rng.choice(numbered or blocks)
    first, last = start + 1, end - 1
    new_lines = list(lines)
    sites = [(i, m) for i in range(first, last + 1)
             for m in _NUMBER.finditer(lines[i][: _code_part(lines[i])])]
    if sites:
        chosen = rng.sample(sites, min(len(sites), rng.randint(1, 3)))
        # Rewrite right to left within a line so earlier match offsets stay valid.
        for i, m in sorted(chosen, key=lambda s: (s[0], -s[1].start())):
            line = new_lines[i]
            new_lines[i] = line[: m.start()] + _nudge(m.group(0), rng) + line[m.end():]
        touched = sorted({i for i, _ in chosen})
    else:  # nothing numeric: still make a textual change so the edit is not "unchanged"
        indent = re.match(r"[ \t]*", lines[last]).group(0)
        new_lines[last] = lines[last] + f"{indent}# variant {rng.randrange(10**6)}\n"
        touched = [last]
    if rewrite:
        if len(blocks) == 1 and len(_blocks(lines)) == 1:
            body = "".join(new_lines[first : last + 1])
            return f"I tuned some constants.\n```{lang}\n{body}```\n"
        return f"I tuned some constants.\n```{lang}\n{''.join(new_lines)}```\n"
    lo, hi = _unique_window(code, lines, touched[0], touched[-1], first, last)
    search, replace = "".join(lines[lo : hi + 1]), "".join(new_lines[lo : hi + 1])
    return ("I tuned some constants.\n<<<<<<< SEARCH\n" + search + "=======\n" + replace
            + ">>>>>>> REPLACE\n")
