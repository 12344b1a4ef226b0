// Small DOM helpers: elements built with textContent only (never innerHTML with data), so
// nothing fleetd returns can become markup.
"use strict";

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.includes("-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

export function $(id) {
  return document.getElementById(id);
}

// A definition list from [label, value] pairs (values rendered as text; null as "—").
export function facts(pairs) {
  const dl = el("dl");
  for (const [k, v] of pairs) {
    dl.append(el("dt", { text: k }), el("dd", { text: v === null || v === undefined || v === "" ? "—" : String(v) }));
  }
  return dl;
}

export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export function shortId(id) {
  return String(id).slice(0, 8);
}
