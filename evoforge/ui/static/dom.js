"use strict";
// DOM and API helpers.  Everything that comes from the run (code, LLM replies,
// evaluator output) is untrusted, so it only ever enters the page as text nodes.

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {}

async function api(path) {
  let resp;
  try {
    resp = await fetch(path, { cache: "no-store" });
  } catch (err) {
    throw new ApiError(`the evoforge server is not reachable (${err.message})`);
  }
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) throw new ApiError((body && body.error) || `${path}: HTTP ${resp.status}`);
  return body;
}

function fmtTime(ts) {
  if (!ts) return "–";
  return new Date(ts * 1000).toLocaleString();
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function fmtAgo(ts) {
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 90) return `${s.toFixed(0)} s ago`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min ago`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(0)} days ago`;
}

function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

function fmtCost(c) { return c === null || c === undefined ? "–" : `$${c < 10 ? c.toFixed(4) : c.toFixed(2)}`; }

function section(title, ...body) {
  return h("section", { class: "card" }, h("h2", {}, title), ...body);
}

function kvTable(rows) {
  return h("table", { class: "kv" }, h("tbody", {}, rows.filter(r => r).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, v instanceof Node ? v : (v === null || v === undefined ? "–" : String(v)))))));
}

function codeBlock(text, cls) {
  const pre = h("pre", { class: `code ${cls || ""}` });
  const lines = (text || "").split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();  // a final newline is not a line
  const frag = document.createDocumentFragment();
  lines.forEach((line, i) => frag.appendChild(h("span", { class: "ln", "data-n": i + 1 }, line + (i < lines.length - 1 ? "\n" : ""))));
  pre.appendChild(frag);
  return pre;
}

function diffBlock(text) {
  const pre = h("pre", { class: "code diff" });
  for (const line of (text || "").split("\n")) {
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---")) cls = "d-file";
    else if (line.startsWith("@@")) cls = "d-hunk";
    else if (line.startsWith("+")) cls = "d-add";
    else if (line.startsWith("-")) cls = "d-del";
    pre.appendChild(h("span", { class: cls }, line + "\n"));
  }
  return pre;
}

function link(text, hash) { return h("a", { href: hash }, text); }

window.Dom = { h, api, ApiError, fmtTime, fmtAgo, fmtDuration, fmtInt, fmtCost, section, kvTable, codeBlock, diffBlock, link };
