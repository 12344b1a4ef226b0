// A vehicle's day on the map: its stored readings (GET /v1/vehicles/{id}/track, every page)
// drawn as one path, its trips over it and its stops as dots, and a replay slider moving a
// marker along the readings.
"use strict";

import { el, clock } from "./dom.js";

const PAGE = 10000;
// The window is read in slices fetched at once (a browser opens up to 6 connections to one
// host): a day at one reading a second is 12 slices of 7,200 readings, one page each.
const SLICE_MS = 2 * 3600 * 1000;

// Every reading of [fromMs, toMs), oldest first, as pages of the track route.
async function loadSlice(api, id, fromMs, toMs) {
  const points = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), limit: String(PAGE) });
    if (cursor) q.set("cursor", cursor);
    const page = await api.get(`/v1/vehicles/${encodeURIComponent(id)}/track?${q}`);
    points.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return points;
}

// Every reading of the window, oldest first, in flat typed arrays.
export async function loadTrack(api, id, fromIso, toIso) {
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  const slices = [];
  for (let t = from; t < to; t += SLICE_MS) slices.push(loadSlice(api, id, t, Math.min(t + SLICE_MS, to)));
  const pages = await Promise.all(slices);
  const n = pages.reduce((sum, p) => sum + p.length, 0);
  const track = { lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speed: new Array(n), length: n };
  let i = 0;
  for (const page of pages) {
    for (const p of page) {
      track.lat[i] = p.lat;
      track.lon[i] = p.lon;
      track.ts[i] = Date.parse(p.ts);
      track.speed[i] = p.speed_kmh;
      i++;
    }
  }
  return track;
}

// The index of the last reading at or before `ms` (binary search), or -1.
export function indexAt(track, ms) {
  let lo = 0, hi = track.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (track.ts[mid] <= ms) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function latlngs(track, from = 0, to = track.length) {
  const out = new Array(Math.max(0, to - from));
  for (let i = from; i < to; i++) out[i - from] = [track.lat[i], track.lon[i]];
  return out;
}

// Draws the track, its trips and stops on `map`; returns the layer group and the replay UI.
export function drawDay(map, track, trips, stops, renderer) {
  const group = L.layerGroup().addTo(map);
  if (track.length) {
    L.polyline(latlngs(track), { renderer, color: "#475569", weight: 2, interactive: false }).addTo(group);
  }
  for (const t of trips) {
    const a = indexAt(track, Date.parse(t.start.ts));
    const b = indexAt(track, Date.parse(t.end.ts));
    if (a >= 0 && b > a) {
      L.polyline(latlngs(track, a, b + 1), { renderer, color: "#2563eb", weight: 4, opacity: 0.8, interactive: false }).addTo(group);
    }
  }
  for (const s of stops) {
    L.circleMarker([s.lat, s.lon], { renderer, radius: 6, color: "#f8fafc", weight: 2, fillColor: "#ef4444", fillOpacity: 1 })
      .bindTooltip(`stop ${clock(Date.parse(s.start_ts))}–${clock(Date.parse(s.end_ts))}`)
      .addTo(group);
  }
  const replay = replayControls(map, group, track, renderer);
  return { group, replay };
}

function replayControls(map, group, track, renderer) {
  const wrap = el("div", { class: "replay", id: "replay" });
  if (!track.length) {
    wrap.append(el("span", { class: "muted", text: "No readings that day." }));
    return wrap;
  }
  const marker = L.circleMarker([track.lat[0], track.lon[0]], {
    renderer, radius: 8, color: "#0f172a", weight: 2, fillColor: "#facc15", fillOpacity: 1,
  }).addTo(group);
  const label = el("span", { id: "replay-time" });
  const slider = el("input", { type: "range", id: "replay-slider", min: "0", max: String(track.length - 1), value: "0", "aria-label": "Replay" });
  let timer = null;
  const show = (i) => {
    marker.setLatLng([track.lat[i], track.lon[i]]);
    const v = track.speed[i];
    label.textContent = `${clock(track.ts[i])} · ${v == null ? "—" : v.toFixed(0) + " km/h"} · ${i + 1}/${track.length}`;
  };
  slider.addEventListener("input", () => show(Number(slider.value)));
  const play = el("button", { type: "button", id: "replay-play", text: "Play" });
  play.addEventListener("click", () => {
    if (timer) {
      clearInterval(timer);
      timer = null;
      play.textContent = "Play";
      return;
    }
    play.textContent = "Pause";
    // 60x real time: a reading a second plays as 60 readings a second.
    timer = setInterval(() => {
      const i = Math.min(Number(slider.value) + 6, track.length - 1);
      slider.value = String(i);
      show(i);
      if (i === track.length - 1) play.click();
    }, 100);
  });
  show(0);
  wrap.append(el("div", { class: "row" }, play, label), slider);
  wrap.stop = () => timer && clearInterval(timer);
  return wrap;
}
