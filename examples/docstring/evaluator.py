"""Hardened scorer for the docstring example: format checks here, quality by the rubric judge.

The candidate's docstring() runs in its own sandboxed process and returns
merge_intervals.__doc__; merge_intervals itself must behave exactly like the
reference in target.py (checked on fixed cases), so only the docstring changes.  This scorer rejects what cannot be a docstring at all (not a string,
empty, too long, containing triple quotes) and measures the format rules of
PEP 257 / Google style that a program can check.  Whether the text is right,
complete and clear is graded afterwards by the LLM judge against the rubric in
problem.yaml (objective `rubric_score`); the docstring goes to the judge as the
artifact `docstring`.
"""
import ast
import inspect
import re
from pathlib import Path

TARGET = Path(__file__).resolve().with_name("target.py")
FUNCTION = "merge_intervals"
MAX_CHARS = 1500
MAX_LINE = 79


def _parameters() -> list[str]:
    tree = ast.parse(TARGET.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == FUNCTION)
    return [a.arg for a in fn.args.args]


def _reference():
    namespace: dict = {}
    exec(compile(TARGET.read_text(), str(TARGET), "exec"), namespace)  # trusted code of the problem directory
    return namespace[FUNCTION]


CASES = [([], 0), ([(1, 3), (2, 6), (8, 10)], 0), ([(5, 1), (2, 3)], 0), ([(1, 2), (3, 4)], 0),
         ([(1, 2), (3, 4)], 1), ([(1, 2), (2, 3)], 0), ([(0, 1), (10, 11), (4, 5)], 3), ([(1.5, 2.5), (2.5, 4)], 0)]


def score(candidate):
    doc = candidate.call("docstring")
    if not isinstance(doc, str):
        return {"valid": False, "error": f"merge_intervals needs a docstring (docstring() returned {type(doc).__name__})"}
    reference = _reference()
    for intervals, gap in CASES:  # the docstring must document the function as it is
        got = candidate.call(FUNCTION, intervals, gap)
        want = [list(pair) for pair in reference(intervals, gap)]
        if got != want:
            return {"valid": False, "error": f"{FUNCTION}({intervals!r}, gap={gap}) returned {got!r}, expected "
                                             f"{want!r}: only its docstring may change"}
    text = inspect.cleandoc(doc)
    if not text:
        return {"valid": False, "error": "the docstring is empty"}
    if len(text) > MAX_CHARS:
        return {"valid": False, "error": f"the docstring has {len(text)} characters; at most {MAX_CHARS}"}
    if '"""' in text or "'''" in text or "\\" in text:
        return {"valid": False, "error": "the docstring may not contain triple quotes or backslashes: "
                                         "it must paste into a docstring as it is"}
    lines = text.splitlines()
    params = _parameters()
    checks = {
        "summary line of at most 79 characters ending with a period": len(lines[0]) <= MAX_LINE and lines[0].endswith("."),
        "a blank line after the summary": len(lines) == 1 or lines[1].strip() == "",
        "every line at most 79 characters": all(len(line) <= MAX_LINE for line in lines),
        "every parameter named (" + ", ".join(params) + ")": all(re.search(rf"\b{p}\b", text) for p in params),
        "a Returns section": re.search(r"^\s*Returns?\s*:", text, re.M) is not None,
        "an example (>>> line)": re.search(r"^\s*>>> ", text, re.M) is not None,
    }
    failed = [name for name, ok in checks.items() if not ok]
    return {
        "format_score": 1.0 - len(failed) / len(checks),
        "doc_chars": len(text),
        "doc_lines": len(lines),
        "docstring": text,
        "feedback": "format checks passed" if not failed else "format checks failed: " + "; ".join(failed),
    }
