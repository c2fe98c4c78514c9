"""What the dashboard and the report show, computed from the run database.

``RunData`` answers each API call with a small JSON-able dict.  Aggregates are
computed server-side from the in-memory index (``db.RunIndex``) and cached per
database version, so a page polling every 2 s costs one ``id > last_seen``
query when nothing changed, and a 100,000-program run still sends only a few
hundred points per chart.
"""
from __future__ import annotations

import difflib
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import analysis
from .db import NotFound, RunDataError, RunIndex, error_kind, extra_usage, loads

__all__ = ["RunData", "RunDataError", "NotFound"]

DB_NAME, LOG_NAME = "evoforge.db", "evoforge.log"  # same names as evoforge.rundir
_SECRET_KEYS = ("api_key", "password", "secret", "authorization")
MAX_CHILDREN_LISTED = 200


def _redact(obj: Any) -> Any:
    """API keys are never stored, but never echo one even if a future writer slips."""
    if isinstance(obj, dict):
        return {k: ("***" if any(s in str(k).lower() for s in _SECRET_KEYS) and v else _redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact(v) for v in obj]
    return obj


def _model_stats(name: str) -> dict[str, Any]:
    return {"name": name, "calls": 0, "failed_calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "latency_sum": 0.0, "latency_n": 0, "programs": 0, "valid": 0, "best_score": None, "recorded_cost": None}


def _lines(code: str | None) -> list[str]:
    # Every line newline-terminated, so a changed last line diffs as one -/+ pair.
    return [ln if ln.endswith("\n") else ln + "\n" for ln in (code or "").splitlines(keepends=True)]


class RunData:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir).resolve()
        if not self.run_dir.is_dir():
            raise ValueError(f"run directory not found: {self.run_dir}")
        if not (self.run_dir / DB_NAME).is_file():
            raise ValueError(f"{self.run_dir} is not an evoforge run directory (no {DB_NAME})")
        self.index = RunIndex(self.run_dir / DB_NAME)
        self._cache: dict[str, tuple[Any, Any]] = {}
        # One lock for refresh + aggregation: the server answers on several threads, and an
        # aggregate must see one consistent snapshot of the index (columns of equal length).
        self._lock = threading.RLock()
        self._arrays: dict[str, Any] | None = None
        self._tallies: dict[str, Any] = {"programs": 0, "proposals": 0, "last_iteration": 0, "models": {},
                                         "by_source": {"evaluation": {}, "edit": {}, "llm": {}}, "by_model": {}}

    def close(self) -> None:
        self._cache.clear()

    # -- helpers -------------------------------------------------------------------
    def _cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """Recompute ``fn`` only when the database gained rows since the last call."""
        with self._lock:
            self.index.refresh()
            version = self.index.version
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
            value = fn()
            if len(self._cache) > 64:  # keys carry query parameters: keep the cache bounded
                self._cache.clear()
            self._cache[key] = (version, value)
            return value

    @property
    def objective(self) -> dict[str, str]:
        obj = self.index.meta.get("objective") or {}
        if not isinstance(obj, dict):
            obj = {"name": str(obj)}
        return {"name": obj.get("name") or "score", "direction": obj.get("direction") or "maximize"}

    @property
    def maximize(self) -> bool:
        return self.objective["direction"] != "minimize"

    def arrays(self) -> dict[str, np.ndarray]:
        """Column arrays of all programs.  Rows are append-only, so only the rows that are
        new since the last call are converted and appended (a live 100,000-program run
        costs milliseconds per poll, not a rebuild)."""
        def build() -> dict[str, np.ndarray]:
            old = self._arrays
            if old is not None and old["maximize"] != self.maximize:
                old = None
            start = 0 if old is None else int(old["id"].size)
            rows = self.index.programs[start:]
            new = {"id": np.array([r[0] for r in rows], dtype=np.int64),
                   "parent": np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64),
                   "island": np.array([r[2] or 0 for r in rows], dtype=np.int64),
                   "iteration": np.array([r[4] or 0 for r in rows], dtype=np.int64),
                   "score": np.array([np.nan if r[6] is None else float(r[6]) for r in rows], dtype=float),
                   "model": np.array([r[8] or "" for r in rows], dtype=object),
                   "kind": np.array([r[7] or "" for r in rows], dtype=object)}
            new["valid"] = np.array([bool(r[5]) for r in rows], dtype=bool) & np.isfinite(new["score"])
            new["fit"] = np.where(new["valid"], new["score"] if self.maximize else -new["score"], -np.inf)
            if old is not None and rows:
                new = {k: np.concatenate([old[k], v]) for k, v in new.items()}
            elif old is not None:
                new = {k: old[k] for k in new}
            new["maximize"] = self.maximize
            self._arrays = new
            return new
        return self._cached("arrays", build)

    def _best_pos(self) -> int | None:
        a = self.arrays()
        if not a["valid"].any():
            return None
        return int(np.argmax(a["fit"]))  # first of equal bests: the earliest found

    def _light(self, i: int) -> dict[str, Any]:
        r = self.index.programs[i]
        return {"id": r[0], "parent_id": r[1], "island": r[2], "generation": r[3], "iteration": r[4],
                "valid": bool(r[5]) and r[6] is not None, "score": r[6], "failure_kind": r[7], "model": r[8],
                "created_at": r[9], "eval_time_s": r[10]}

    def _prices(self) -> dict[str, tuple[float, float]]:
        models = ((self.index.meta.get("config") or {}).get("llm") or {}).get("models") or []
        out = {}
        for m in models:
            if isinstance(m, dict) and m.get("name"):
                out[m["name"]] = (float(m.get("price_in_per_mtok") or 0), float(m.get("price_out_per_mtok") or 0))
        return out

    def _judge_prices(self, prices: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Prices of the judge's calls: the model's, or `judge.price_*_per_mtok` when configured."""
        j = (self.index.meta.get("config") or {}).get("judge") or {}
        out = dict(prices)
        name = j.get("model") or next(iter(prices), None)
        if name and (j.get("price_in_per_mtok") is not None or j.get("price_out_per_mtok") is not None):
            pin, pout = prices.get(name, (0.0, 0.0))
            out[name] = (pin if j.get("price_in_per_mtok") is None else float(j["price_in_per_mtok"]),
                         pout if j.get("price_out_per_mtok") is None else float(j["price_out_per_mtok"]))
        return out

    # -- API ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            a, idx = self.arrays(), self.index
            best = self._best_pos()
            models = self.models()
            problem = idx.meta.get("problem_path")
            return {
                "version": list(idx.version), "run_dir": str(self.run_dir),
                "problem": problem, "problem_name": Path(problem).name if isinstance(problem, str) else None,
                "objective": self.objective, "isolation": idx.meta.get("isolation"),
                "n_programs": int(a["id"].size), "n_valid": int(a["valid"].sum()),
                "n_failed": int(a["id"].size - a["valid"].sum()), "n_proposals": len(idx.proposals),
                "last_iteration": int(max(a["iteration"].max(initial=0), self._tally()["last_iteration"])),
                "islands": [int(i) for i in np.unique(a["island"])],
                "best": None if best is None else self._light(best),
                "llm_calls": sum(m["calls"] for m in models["models"]),  # proposals, meta-prompt and judge
                "tokens": sum(m["prompt_tokens"] + m["completion_tokens"] for m in models["models"]),
                "cost": models["total_cost"],
                "updated_at": max([r[9] or 0 for r in idx.programs[-1:]] + [p[9] or 0 for p in idx.proposals[-1:]], default=None),
                "pareto": len(analysis.objectives(idx.meta)) >= 2,
            }
        return self._cached("summary", build)

    def series(self, points: int = 600) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            a = self.arrays()
            it, sc, ids, fit = a["iteration"], a["score"], a["id"], a["fit"]
            v = a["valid"]
            steps = lambda mask: analysis.best_so_far(it[mask], sc[mask], fit[mask], ids[mask], points)
            islands = {str(k): steps(v & (a["island"] == k)) for k in np.unique(a["island"]).tolist()}
            models = {str(m): steps(v & (a["model"] == m)) for m in sorted(set(a["model"][v].tolist())) if m}
            return {"overall": steps(v), "islands": islands, "models": models,
                    # ~5 programs per bucket so the band shows a spread, not single points
                    "band": analysis.band(it[v], sc[v], int(min(150, points // 4, max(10, v.sum() // 5)))),
                    "last_iteration": self.summary()["last_iteration"], "objective": self.objective}
        return self._cached(f"series:{points}", build)

    def _tally(self) -> dict[str, Any]:
        """Failure and per-model counters, updated with the rows new since the last call."""
        t = self._tallies
        bump = lambda d, k, n=1: d.__setitem__(k, d.get(k, 0) + n)  # noqa: E731
        sign = 1.0 if self.maximize else -1.0
        for r in self.index.programs[t["programs"]:]:
            name = r[8]
            if not (r[5] and r[6] is not None):
                kind = r[7] or ("no_objective" if r[5] else "invalid")
                bump(t["by_source"]["evaluation"], kind)
                bump(t["by_model"].setdefault(name or "(initial)", {}), kind)
            if not name:
                continue
            m = t["models"].get(name) or t["models"].setdefault(name, _model_stats(name))
            m["programs"] += 1
            if r[5] and r[6] is not None:
                m["valid"] += 1
                if m["best_score"] is None or sign * r[6] > sign * m["best_score"]:
                    m["best_score"] = r[6]
        for p in self.index.proposals[t["proposals"]:]:
            name, outcome = p[2] or "(no reply)", p[6] or ""
            m = t["models"].get(name) or t["models"].setdefault(name, _model_stats(name))
            m["calls"] += 1
            m["failed_calls"] += outcome.startswith("llm")
            m["prompt_tokens"] += p[3] or 0
            m["completion_tokens"] += p[4] or 0
            if p[5]:
                m["latency_sum"] += p[5]
                m["latency_n"] += 1
            if isinstance(p[10], (int, float)):
                m["recorded_cost"] = (m["recorded_cost"] or 0.0) + float(p[10])
            t["last_iteration"] = max(t["last_iteration"], p[1] or 0)
            if outcome != "evaluated":
                source = "edit" if outcome.startswith("edit") else "llm" if outcome.startswith("llm") else "other"
                kind = error_kind(p[7], outcome or "unknown")
                bump(t["by_source"].setdefault(source, {}), kind)
                bump(t["by_model"].setdefault(name, {}), kind)
        t["programs"], t["proposals"] = len(self.index.programs), len(self.index.proposals)
        return t

    def failures(self) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            t = self._tally()
            by_source = {k: dict(v) for k, v in t["by_source"].items() if v}
            return {"by_source": by_source, "by_model": {k: dict(v) for k, v in t["by_model"].items()},
                    "total": sum(sum(v.values()) for v in by_source.values())}
        return self._cached("failures", build)

    def models(self) -> dict[str, Any]:
        """Per model: the proposals' calls, tokens, latency, programs and best score, plus the calls
        that are not proposals (meta-prompt and rubric-judge requests: counted in `calls`, tokens and
        `cost`, and shown as `meta_prompt_calls` / `judge_calls`).  `cost` is None when no price is known."""
        def build() -> dict[str, Any]:
            prices = self._prices()
            jprices = self._judge_prices(prices)
            with self.index.connect() as con:
                extra = extra_usage(con)
            tally = self._tally()["models"]
            total = None
            out = []
            for name in list(tally) + [n for n in extra if n not in tally]:
                m = tally.get(name) or _model_stats(name)
                s = {k: v for k, v in m.items() if k not in ("latency_sum", "latency_n", "recorded_cost")}
                s["mean_latency_s"] = m["latency_sum"] / m["latency_n"] if m["latency_n"] else None
                pin, pout = prices.get(s["name"], (0.0, 0.0))
                # The engine records each call's priced cost; older runs are priced from the config.
                s["cost"] = (m["recorded_cost"] if m["recorded_cost"] else
                             None if pin == pout == 0 else (s["prompt_tokens"] * pin + s["completion_tokens"] * pout) / 1e6)
                e = extra.get(name)
                s["meta_prompt_calls"] = e["meta_prompt_calls"] if e else 0
                s["judge_calls"] = e["judge_calls"] if e else 0
                if e:
                    s["calls"] += e["meta_prompt_calls"] + e["judge_calls"]
                    s["prompt_tokens"] += e["prompt_tokens"]
                    s["completion_tokens"] += e["completion_tokens"]
                    jin, jout = jprices.get(name, (0.0, 0.0))
                    ecost = e["recorded_cost"] + (e["unpriced_prompt_tokens"] * jin
                                                  + e["unpriced_completion_tokens"] * jout) / 1e6
                    if s["cost"] is not None or ecost > 0 or jin or jout:
                        s["cost"] = (s["cost"] or 0.0) + ecost
                if s["cost"] is not None:
                    total = (total or 0.0) + s["cost"]
                out.append(s)
            return {"models": sorted(out, key=lambda s: (-s["calls"], s["name"])), "total_cost": total}
        return self._cached("models", build)

    def programs(self, offset: int = 0, limit: int = 50, sort: str = "score", status: str = "all",
                 island: int = -1, model: str | None = None, kind: str | None = None) -> dict[str, Any]:
        with self._lock:
            if sort not in ("score", "id", "-id"):
                raise ValueError(f"sort must be score, id or -id, not {sort!r}")
            if status not in ("all", "valid", "failed"):
                raise ValueError(f"status must be all, valid or failed, not {status!r}")
            a = self.arrays()
            mask = np.ones(a["id"].size, dtype=bool)
            if status != "all":
                mask &= a["valid"] if status == "valid" else ~a["valid"]
            if island >= 0:
                mask &= a["island"] == island
            if model:
                mask &= a["model"] == model
            if kind:
                mask &= a["kind"] == kind
            pos = np.flatnonzero(mask)
            if sort == "score":  # best first, failures last, ties by id
                pos = pos[np.lexsort((a["id"][pos], -a["fit"][pos]))]
            elif sort == "-id":
                pos = pos[::-1]
            page = pos[offset: offset + limit]
            return {"total": int(pos.size), "offset": offset, "limit": limit, "rows": [self._light(int(i)) for i in page],
                    "islands": self.summary()["islands"], "models": sorted(m["name"] for m in self.models()["models"] if m["programs"]),
                    "kinds": sorted({k for k in self.failures()["by_source"].get("evaluation", {})
                                    if k not in ("invalid", "no_objective")})}

    def program(self, pid: int, with_diff: bool = True) -> dict[str, Any]:
        with self._lock:
            self.index.refresh()
            row = self.index.program_row(pid)
            for key, default in (("metrics", {}), ("artifacts", {}), ("flags", []), ("features", {}), ("extra", {})):
                if key in row:
                    row[key] = loads(row[key], default)
            row["valid"] = bool(row.get("valid")) and row.get("score") is not None
            parent = None
            diff = None
            if row.get("parent_id") is not None:
                try:
                    p = self.index.program_row(row["parent_id"])
                    parent = {"id": p["id"], "score": p.get("score"), "valid": bool(p.get("valid"))}
                    if with_diff:
                        diff = "".join(difflib.unified_diff(
                            _lines(p.get("code")), _lines(row.get("code")),
                            f"program {p['id']} (parent)", f"program {pid}", n=3))
                except NotFound:
                    parent = None
            kids = self.index.children.get(pid, [])
            children = [{"id": c, "valid": self._light(self.index.pos[c])["valid"]} for c in kids[:MAX_CHILDREN_LISTED]]
            proposal = self.index.proposal_row(pid)
            if proposal is not None:
                proposal["messages"] = loads(proposal.get("messages"), [])
                proposal["extra"] = loads(proposal.get("extra"), {})
            return {"program": row, "parent": parent, "diff": diff if with_diff else None, "children": children,
                    "n_children": len(kids), "proposal": proposal, "objective": self.objective}

    def lineage(self, top: int = 30, max_nodes: int = 1500) -> dict[str, Any]:
        return self._cached(f"lineage:{top}:{max_nodes}", lambda: analysis.lineage(self, top, max_nodes))

    def archive(self) -> dict[str, Any]:
        return self._cached("archive", lambda: analysis.archive(self))

    def pareto(self) -> dict[str, Any]:
        return self._cached("pareto", lambda: analysis.pareto(self))

    def config(self) -> dict[str, Any]:
        with self._lock:
            self.index.refresh()
            meta = {k: v for k, v in self.index.meta.items() if k != "config"}
            return {"run_dir": str(self.run_dir), "config": _redact(self.index.meta.get("config")), "meta": _redact(meta)}

    def log_tail(self, lines: int = 200) -> dict[str, Any]:
        path = self.run_dir / LOG_NAME
        if not path.is_file():
            return {"lines": []}
        with path.open("rb") as fh:  # read only the end: the log of a long run is large
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
        out = text.splitlines()
        if size > 256 * 1024:
            out = out[1:]  # first line is probably cut
        return {"lines": out[-lines:]}
