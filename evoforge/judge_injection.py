"""Finding text in a candidate that addresses the judge (defences 2 and 3 of `evoforge.judge`).

Everything here is pure text processing, so it can be tested and tuned without
an LLM: `redact` removes judge-directed sentences (after Unicode
normalisation; obfuscated spellings are caught on a letters-only copy), and
`quote_found` checks that a manipulation the judge reports is a real quote.
"""
from __future__ import annotations

import re
import unicodedata

REMOVED = "[removed: text addressed to the grader]"

# -- text addressed to the judge ---------------------------------------------------------------
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
_W = r"[^\n.!?]{0,30}?"  # a few words within the same sentence
_TOP = r"(?:full|max(?:imum)?|perfect|top|highest|best)"
_PATTERNS = [re.compile(p, re.I) for p in (
    # "ignore the rubric", "disregard all previous instructions", "forget the criteria above"
    rf"\b(?:ignore|disregard|forget|override|bypass)\b{_W}\b(?:instructions?|rubric|criteria|criterion|grading|"
    rf"guidelines|system prompt|prompt)\b",
    # "give this docstring a perfect grade", "rate me 10/10", "score it 100%"
    rf"\b(?:give|award|assign|grant|rate|score|grade|mark)\s+(?:this|me|it|us|the\s+candidate|this\s+\w+|"
    rf"every\s+criterion|all\s+(?:the\s+)?criteria|each\s+criterion)\b{_W}(?:\b{_TOP}\b|\b10\s*(?:/|out of)\s*10\b|"
    rf"\b100\s*%)",
    # "give full marks", "award maximum points", "highest score on every criterion", "deserves 10/10"
    rf"\b(?:give|award|assign|grant)\s+(?:the\s+|a\s+)?{_TOP}\s+(?:marks|points|grades?|ratings?)\b",
    rf"\b{_TOP}\s+(?:marks?|points?|scores?|grades?|ratings?)\s+(?:to|for|on|in)\s+(?:every|each|all)\s+"
    rf"(?:criteri(?:on|a)|categor(?:y|ies))",
    rf"\b(?:deserves?|merits?|earns?|is worth)\b{_W}(?:\b{_TOP}\s+(?:marks|points|grades?|ratings?|scores?)\b|"
    rf"\b10\s*(?:/|out of)\s*10\b|\b100\s*%)",
    r"\bfull\s+marks\b",
    # addressing the grader: "you are the judge", "dear grader", "note to the evaluator", "as the grader, you must"
    r"\b(?:you are|you're|you will act as|act as|as)\s+(?:the|an?|my|our)\s+(?:judge|grader|evaluator|reviewer|"
    r"language model|llm|ai)\b",
    r"\b(?:dear|attention|note (?:to|for)|message (?:to|for)|hey|hello|hi)[\s,:]+(?:the\s+|an?\s+)?(?:judge|grader|"
    r"evaluator|reviewer|llm|ai|model|assistant)s?\b",
    r"\b(?:judge|grader|grading model|llm)s?\b\s*[:,]?\s*(?:must|should|shall|will|needs? to|has to|is required to)\b",
    r"\b(?:new|updated|real|actual|hidden)\s+(?:instructions?|rubric|system prompt)\b",
    r"\bsystem\s+prompt\b",
    # spoofed delimiters or a pre-written grading
    r"<<<\s*/?\s*(?:end\s+)?candidate\b",
    r"[\"']\s*(?:scores|manipulation)\s*[\"']\s*:",
)]
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_SQUASHED = ("ignoretherubric", "ignoreallprevious", "ignorepreviousinstructions", "ignoreallinstructions",
             "ignoretheinstructions", "ignoreyourinstructions", "disregardtherubric", "disregardallprevious",
             "fullmarks", "givemaximum", "givethemaximum", "givethismaximum", "youarethejudge",
             "youarethegrader", "dearjudge", "deargrader", "notetothejudge", "notetothegrader")


def normalise(text: str) -> str:
    """NFKC (full-width and look-alike forms folded) and invisible characters removed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def _sentence(text: str, a: int, b: int) -> list[int]:
    """[start, end) of the sentence(s) around text[a:b] (up to . ! ? followed by a space, or a newline)."""
    start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, a)), default=0)
    m = _SENTENCE_END.search(text, b)
    end = m.end() if m else len(text)
    while start < a and text[start] in " \t":
        start += 1
    return [start, end]


def find_injections(text: str) -> list[str]:
    """Snippets of `text` that address the judge (empty list: none found)."""
    return redact(text)[1]


def redact(text: str) -> tuple[str, list[str]]:
    """(`text` normalised with every judge-directed span replaced by a marker, the snippets found)."""
    norm = normalise(text)
    spans: list[list[int]] = []
    for pat in _PATTERNS:
        spans += [[m.start(), m.end()] for m in pat.finditer(norm)]
    spans = [_sentence(norm, a, b) for a, b in spans]  # the whole sentence goes: its rest is part of the pitch
    spans.sort()
    merged: list[list[int]] = []
    for s in spans:
        if merged and s[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], s[1])
        else:
            merged.append(s)
    snippets = [norm[a:b] for a, b in merged]
    out, pos = [], 0
    for a, b in merged:
        out += [norm[pos:a], REMOVED]
        pos = b
    out.append(norm[pos:])
    cleaned = "".join(out)
    squashed = re.sub(r"[^a-z]", "", cleaned.lower())  # "f u l l  m-a-r-k-s" and the like
    snippets += [f"(obfuscated) {p}" for p in _SQUASHED if p in squashed]
    return cleaned, snippets


def _squeeze(text: str) -> str:
    return " ".join(normalise(text).lower().split())


def quote_found(quote: str, text: str) -> bool:
    """Whether the judge's manipulation quote really occurs in the text it was shown (8+ characters)."""
    q = _squeeze(quote).strip(" .\"'")
    return len(q) >= 8 and q in _squeeze(text)
