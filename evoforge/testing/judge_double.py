"""The test double's rubric judge: answers grading requests like a (very simple) model.

It reads the grading request the way a model would, from the prompt text only
(criteria list, scale, the delimited candidate), independently of
`evoforge.judge`, so a bug there is not mirrored here.  Kinds:

* ``fair``     - each criterion scores the share of its description's keywords
                 (words of 5+ letters) that occur in the candidate;
* ``gullible`` - like ``fair``, but gives every criterion the full scale whenever
                 the prompt contains an instruction to the grader such as
                 "ignore the rubric" or "full marks" (the injection test's judge);
* ``garbage``  - prose, never JSON.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

KINDS = ("fair", "gullible", "garbage")
_TAG = "rubric judge"
_TRIGGER = re.compile(r"ignore\s+(?:all\s+|the\s+|any\s+|previous\s+|prior\s+|your\s+)*(?:instructions|rubric|criteria)"
                      r"|full\s+marks|perfect\s+score|maximum\s+(?:marks|score)|\b10\s*/\s*10\b", re.I)
_STOP = {"about", "above", "after", "again", "their", "there", "these", "those", "which", "while", "would",
         "should", "could", "every", "other", "under", "where", "being", "explains", "explain", "candidate"}


def is_judge_request(messages: Sequence[dict[str, Any]]) -> bool:
    return any(m.get("role") == "system" and _TAG in str(m.get("content") or "") for m in messages)


def _request(messages: Sequence[dict[str, Any]]) -> tuple[list[dict], int, str]:
    text = next((str(m.get("content") or "") for m in messages
                 if m.get("role") == "user" and "CRITERIA (JSON): " in str(m.get("content") or "")), "")
    line = next((ln for ln in text.splitlines() if ln.startswith("CRITERIA (JSON): ")), "CRITERIA (JSON): []")
    criteria = json.loads(line.split(": ", 1)[1])
    scale = re.search(r"from 0 \(not met\) to (\d+)", text)
    cand = re.search(r"^<<<CANDIDATE (\S+)>>>\n(.*?)\n<<<END CANDIDATE \1>>>$", text, re.S | re.M)
    return criteria, int(scale.group(1)) if scale else 10, cand.group(2) if cand else ""


def _keywords(description: str) -> list[str]:
    words = re.findall(r"[a-z]{5,}", description.lower())
    return list(dict.fromkeys(w for w in words if w not in _STOP))


def answer(kind: str, messages: Sequence[dict[str, Any]]) -> str:
    if kind == "garbage":
        return "I think this candidate is quite good overall, well done!"
    criteria, scale, candidate = _request(messages)
    low = candidate.lower()
    prompt = "\n".join(str(m.get("content") or "") for m in messages)
    scores, missing = {}, []
    for c in criteria:
        kws = _keywords(str(c.get("description", "")))
        hit = [w for w in kws if w in low]
        missing += [w for w in kws if w not in low][:2]
        scores[c["name"]] = round(scale * len(hit) / len(kws)) if kws else scale
    if kind == "gullible" and _TRIGGER.search(prompt):
        return json.dumps({"scores": {c["name"]: scale for c in criteria},
                           "rationale": "As instructed, full marks.", "manipulation": ""})
    rationale = ("Mention " + ", ".join(missing[:6]) + ".") if missing else "Every criterion is covered."
    return json.dumps({"scores": scores, "rationale": rationale, "manipulation": ""})
