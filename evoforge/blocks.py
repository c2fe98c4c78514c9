"""EVOLVE-BLOCK regions: the only parts of a program an edit may change."""
from __future__ import annotations

from dataclasses import dataclass

START, END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"


class BlockError(ValueError):
    """Markers missing, unbalanced or nested."""


@dataclass
class Block:
    index: int
    start: int  # line index of the START marker
    end: int  # line index of the END marker
    body: str  # text between the markers (lines joined, with their newlines)


def find_blocks(code: str) -> list[Block]:
    lines = code.splitlines(keepends=True)
    blocks: list[Block] = []
    open_at: int | None = None
    for i, line in enumerate(lines):
        if START in line:
            if open_at is not None:
                raise BlockError(f"line {i + 1}: {START} inside the block opened at line {open_at + 1} (blocks cannot nest)")
            open_at = i
        elif END in line:
            if open_at is None:
                raise BlockError(f"line {i + 1}: {END} without a matching {START}")
            blocks.append(Block(len(blocks), open_at, i, "".join(lines[open_at + 1 : i])))
            open_at = None
    if open_at is not None:
        raise BlockError(f"line {open_at + 1}: {START} is never closed by {END}")
    if not blocks:
        raise BlockError(f"no {START} / {END} markers found")
    return blocks


def replace_bodies(code: str, bodies: list[str]) -> str:
    """Splice new bodies in; markers and everything outside stay byte-identical."""
    blocks = find_blocks(code)
    if len(bodies) != len(blocks):
        raise BlockError(f"{len(bodies)} bodies for {len(blocks)} blocks")
    lines = code.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    for block, body in zip(blocks, bodies):
        out.extend(lines[pos : block.start + 1])
        if body and not body.endswith("\n"):
            body += "\n"
        out.append(body)
        pos = block.end
    out.extend(lines[pos:])
    return "".join(out)


def outside_text(code: str) -> str:
    """The program with block bodies removed (markers kept)."""
    return replace_bodies(code, [""] * len(find_blocks(code)))


def block_spans(code: str) -> list[tuple[int, int]]:
    """Character ranges [start, end) of each body, for checking where an edit lands."""
    spans = []
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for b in find_blocks(code):
        spans.append((offsets[b.start + 1], offsets[b.end]))
    return spans
