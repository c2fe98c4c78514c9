"""Turning an LLM reply into a new program, changing only the EVOLVE blocks.

Replies are messy: code fences, prose, marker lines with the wrong number of
``<``/``>``, trailing-space and indentation drift, CRLF. The applier accepts all
of that but never applies an edit that touches text outside the blocks.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .blocks import END, START, BlockError, block_spans, find_blocks, outside_text, replace_bodies

_DIFF = re.compile(
    r"^[ \t]*<{5,9}[ \t]*SEARCH[^\n]*\n(.*?)^[ \t]*={5,9}[ \t]*\n(.*?)^[ \t]*>{5,9}[ \t]*REPLACE[^\n]*$",
    re.M | re.S,
)
_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)


@dataclass
class EditOutcome:
    code: str | None
    error: str | None = None  # no_edit | search_not_found | ambiguous_search | outside_blocks | unchanged | bad_blocks
    detail: str = ""
    n_changes: int = 0
    mode: str = ""


def _fail(error: str, detail: str, mode: str) -> EditOutcome:
    return EditOutcome(None, error, detail, 0, mode)


def parse_diff_blocks(reply: str) -> list[tuple[str, str]]:
    text = reply.replace("\r\n", "\n")
    return [(m.group(1), m.group(2)) for m in _DIFF.finditer(text)]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _fuzzy_find(code: str, search: str) -> list[tuple[int, int, str]]:
    """Line-wise match ignoring trailing spaces and a uniform indentation shift.
    Returns (start, end, shift) spans in `code`; shift is "have\0want" indents."""
    want = [l.rstrip() for l in search.strip("\n").split("\n")]
    if not any(want):
        return []
    lines = code.split("\n")
    offsets = [0]
    for l in lines:
        offsets.append(offsets[-1] + len(l) + 1)
    first = next(k for k, l in enumerate(want) if l.strip())
    hits = []
    for i in range(len(lines) - len(want) + 1):
        window = lines[i : i + len(want)]
        if [w.strip() for w in window] != [l.strip() for l in want]:
            continue
        have_ind, want_ind = _indent(window[first]), _indent(want[first])
        shift = "" if have_ind == want_ind else have_ind + "\0" + want_ind
        hits.append((offsets[i], offsets[i + len(want)] - 1, shift))
    return hits


def _reindent(text: str, shift: str) -> str:
    if not shift:
        return text
    have, want = shift.split("\0")
    out = []
    for line in text.split("\n"):
        if line.strip():
            line = have + line[len(want):] if line.startswith(want) else have + line.lstrip()
        out.append(line)
    return "\n".join(out)


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def apply_diff(parent: str, reply: str) -> EditOutcome:
    pairs = parse_diff_blocks(reply)
    if not pairs:
        return _fail("no_edit", "the reply contains no SEARCH/REPLACE block", "diff")
    code = parent.replace("\r\n", "\n")
    for n, (search, replace) in enumerate(pairs, 1):
        spans = block_spans(code)
        search_body = search if search.endswith("\n") else search + "\n"
        hits = [(m.start(), m.start() + len(search_body), "") for m in re.finditer(re.escape(search_body), code)] if search.strip() else []
        if not hits:
            hits = _fuzzy_find(code, search)
        if not hits:
            return _fail("search_not_found", f"SEARCH block {n} does not match the program", "diff")
        inside = [h for h in hits if _inside(spans, h[0], h[1])]
        if not inside:
            return _fail("outside_blocks", f"SEARCH block {n} matches only text outside the EVOLVE blocks", "diff")
        if len(inside) > 1:
            return _fail("ambiguous_search", f"SEARCH block {n} matches {len(inside)} places", "diff")
        start, end, shift = inside[0]
        new = _reindent(replace, shift)
        matched = code[start:end]
        if matched.endswith("\n") and new and not new.endswith("\n"):
            new += "\n"
        if not matched.endswith("\n") and new.endswith("\n"):
            new = new[:-1]
        code = code[:start] + new + code[end:]
        if START in new or END in new:
            return _fail("outside_blocks", f"REPLACE block {n} contains an EVOLVE marker", "diff")
    return _finish(parent, code, len(pairs), "diff")


def _finish(parent: str, code: str, n: int, mode: str) -> EditOutcome:
    try:
        if outside_text(code) != outside_text(parent.replace("\r\n", "\n")):
            return _fail("outside_blocks", "the edit changes code outside the EVOLVE blocks", mode)
    except BlockError as err:
        return _fail("bad_blocks", str(err), mode)
    if code.strip() == parent.replace("\r\n", "\n").strip():
        return _fail("unchanged", "the edit leaves the program unchanged", mode)
    return EditOutcome(code, None, f"{n} change(s) applied", n, mode)


def code_complete(reply: str) -> bool:
    """True once `reply` holds a closed code fence that is not a SEARCH/REPLACE block: a
    rewrite's code is complete, whatever the model would write after it (local models often
    add paragraphs of explanation that cost seconds and are never read)."""
    return any("<<<<<<< SEARCH" not in body and body.strip() for body in _FENCE.findall(reply))


def _code_in(reply: str) -> str | None:
    fences = _FENCE.findall(reply.replace("\r\n", "\n"))
    if fences:
        marked = [f for f in fences if START in f]
        return max(marked or fences, key=len)
    text = reply.strip()
    if not text:
        return None
    if text.startswith("```"):  # unterminated fence (reply cut at max_tokens)
        return text.split("\n", 1)[1] if "\n" in text else None
    return text if (START in text or re.search(r"^(def |class |import |from |#include|\s{4})", text, re.M)) else None


def _squash(text: str) -> list[str]:
    return [l.rstrip() for l in text.split("\n") if l.strip()]


def _base_indent(body: str) -> str:
    lines = [l for l in body.split("\n") if l.strip()]
    return min((_indent(l) for l in lines), key=len) if lines else ""


def _subsequence(short: list[str], long: list[str]) -> bool:
    """Every line of `short` occurs in `long`, in the same order (lines may be missing, none changed)."""
    it = iter(long)
    return all(line in it for line in short)


def _repair_markers(code_text: str) -> str:
    """Marker slips small models make when the program has one block: a lone marker line
    copied with the body (the code on the block's side of it is the body), or the block
    closed early with more of it after (START, END, ..., END: inner END lines dropped).
    Other replies unchanged."""
    lines = code_text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if START in line or END in line]
    if len(marks) == 1:
        i = marks[0]
        return "".join(lines[:i]) if END in lines[i] else "".join(lines[i + 1:])
    if len(marks) > 2 and START in lines[marks[0]] and all(END in lines[i] and START not in lines[i] for i in marks[1:]):
        return "".join(line for i, line in enumerate(lines) if i not in marks[1:-1])
    return code_text


_IMPORT = re.compile(r"^(import [\w., ]+|from [\w.]+ import [\w., ]+)(\s+as \w+)?\s*(#.*)?$")


def _new_imports(out_new: list[str], out_old: list[str]) -> list[str] | None:
    """The import lines a whole-program reply added outside the blocks, if that is all it
    changed there (models add the import their new code needs at the top); else None."""
    added = [l for l in out_new if l not in out_old]
    if not added or not all(_IMPORT.match(l) for l in added):
        return None
    rest = [l for l in out_new if l in out_old]
    return added if rest == out_old or _subsequence(rest, out_old) else None


def _sides(code: str) -> tuple[list[str], list[str]]:
    """The raw lines before the first block and after the last one."""
    lines, blocks = code.splitlines(keepends=True), find_blocks(code)
    return lines[: blocks[0].start], lines[blocks[-1].end + 1:]


def _added_tail(new_after: list[str], old_after: list[str]) -> str | None:
    """The code a whole-program reply added after the block (models often define their new
    helpers there), if it is one stretch and all the rest after the block is kept as it was."""
    old = set(_squash("".join(old_after)))
    added = [i for i, line in enumerate(new_after) if line.strip() and line.rstrip() not in old]
    if not added:
        return ""
    chunk = new_after[added[0]: added[-1] + 1]
    if any(line.strip() and line.rstrip() in old for line in chunk):
        return None
    rest = _squash("".join(new_after[: added[0]] + new_after[added[-1] + 1:]))
    # All of the old code stays (else a changed line would pass for an added one).
    return "".join(chunk) if rest == _squash("".join(old_after)) else None


def _moved_in(code_text: str, parent: str) -> tuple[list[str], str] | None:
    """For a one-block program: (imports added before the block, code added after it) when
    a whole-program reply changed nothing else outside; both move into the block (same
    module, same names).  None when it changed more."""
    (new_before, new_after), (old_before, old_after) = _sides(code_text), _sides(parent)
    before_new, before_old = _squash("".join(new_before)), _squash("".join(old_before))
    imports = [] if _subsequence(before_new, before_old) else _new_imports(before_new, before_old)
    tail = _added_tail(new_after, old_after)
    return None if imports is None or tail is None else (imports, tail)


def apply_rewrite(parent: str, reply: str) -> EditOutcome:
    code_text = _code_in(reply)
    if code_text is None:
        return _fail("no_edit", "the reply contains no code", "rewrite")
    parent = parent.replace("\r\n", "\n")
    blocks = find_blocks(parent)
    if len(blocks) == 1:
        code_text = _repair_markers(code_text)
    if START in code_text or END in code_text:
        try:
            new_blocks = find_blocks(code_text)
        except BlockError as err:
            return _fail("bad_blocks", f"markers in the reply: {err}", "rewrite")
        if len(new_blocks) != len(blocks):
            return _fail("bad_blocks", f"the reply has {len(new_blocks)} EVOLVE blocks, the program {len(blocks)}", "rewrite")
        out_new, out_old = _squash(outside_text(code_text)), _squash(outside_text(parent))
        # Only the markers given back (no surrounding program): fine. A whole program: outside must match,
        # except that unchanged outside lines may be left out (small models often stop after the last block).
        bodies = [b.body for b in new_blocks]
        if len(out_new) > 2 * len(blocks) and out_new != out_old and not _subsequence(out_new, out_old):
            moved = _moved_in(code_text, parent) if len(blocks) == 1 else None
            imports, tail = moved if moved is not None else (_new_imports(out_new, out_old), "")
            if imports is None:
                return _fail("outside_blocks", "the rewritten program changes code outside the EVOLVE blocks", "rewrite")
            indent = _base_indent(bodies[0])  # the first block gets them: same module, same names
            bodies[0] = "".join(f"{indent}{l.strip()}\n" for l in imports) + bodies[0]
            if tail.strip() and indent:  # code at the top level cannot move into an indented block
                return _fail("outside_blocks", "the rewritten program adds code outside the EVOLVE block", "rewrite")
            if tail.strip():
                bodies[0] = bodies[0].rstrip("\n") + "\n\n" + tail.rstrip("\n") + "\n"
    elif len(blocks) == 1:
        body = code_text if code_text.endswith("\n") else code_text + "\n"
        out_old = _squash(outside_text(parent))
        if len(out_old) > 4 and sum(l in _squash(body) for l in out_old) > 0.8 * len(out_old):
            return _fail("outside_blocks", "the reply is a whole program without EVOLVE markers", "rewrite")
        bodies = [body]
    else:
        return _fail("no_edit", f"the program has {len(blocks)} EVOLVE blocks; the reply must keep the markers", "rewrite")
    fixed = []
    for old, new in zip(blocks, bodies):
        want, have = _base_indent(old.body), _base_indent(new)
        if want and not have:
            new = "\n".join(want + l if l.strip() else l for l in new.split("\n"))
        fixed.append(new)
    return _finish(parent, replace_bodies(parent, fixed), len(blocks), "rewrite")


def apply_reply(parent_code: str, reply: str, mode: str) -> EditOutcome:
    """Apply a reply in `mode` ("diff", "rewrite" or "auto"); never raises for bad replies."""
    reply = reply or ""
    try:
        if mode == "diff" or (mode == "auto" and parse_diff_blocks(reply)):
            out = apply_diff(parent_code, reply)
            # Small models often answer a diff request with a whole block: accept it.
            if out.error == "no_edit" and mode == "diff":
                alt = apply_rewrite(parent_code, reply)
                return alt if alt.code is not None else out
            return out
        if parse_diff_blocks(reply):
            return apply_diff(parent_code, reply)
        return apply_rewrite(parent_code, reply)
    except BlockError as err:
        return _fail("bad_blocks", str(err), mode)


def diff_text(parent: str, child: str) -> str:
    return "".join(difflib.unified_diff(parent.splitlines(True), child.splitlines(True), "parent", "child"))
