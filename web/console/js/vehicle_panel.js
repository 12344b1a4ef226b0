// The selected vehicle: latest position, speed, OBD values, driver, open alerts, and a day's
// (today by default, any other picked) trips and stops with the day's path and a replay slider.
"use strict";

import { el, $, facts, ago, clock, shortId } from "./dom.js";
import { stateOf } from "./vehicles.js";
import { loadTrack, drawDay } from "./track.js";

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

// "2026-12-07" for a local date.
function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export class VehiclePanel {
  constructor(api, map, store, layer, alerts) {
    this.api = api;
    this.map = map;
    this.store = store;
    this.layer = layer;
    this.alerts = alerts;
    this.root = $("vehicle-panel");
    this.id = null;
    this.drawn = null;
    this.renderer = L.canvas({ padding: 0.3 });
    this.generation = 0;
    // Performance of the last day drawn (read by the bench script).
    this.lastTrack = null;
  }

  hide() {
    this.clearDay();
    this.factsEl = null;
    this.id = null;
    this.layer.selected = null;
    this.layer.schedule();
    this.root.hidden = true;
    this.root.replaceChildren();
    $("hint").hidden = false;
  }

  clearDay() {
    if (this.drawn) {
      if (this.drawn.replay.stop) this.drawn.replay.stop();
      this.drawn.group.remove();
      this.drawn = null;
    }
  }

  // Shows vehicle `id` and its day starting at local midnight `dayStart` (default: today).
  async show(id, dayStart = startOfToday()) {
    const generation = ++this.generation;
    this.dayStart = dayStart;
    this.factsEl = null;
    this.clearDay();
    this.id = id;
    this.layer.selected = id;
    this.layer.schedule();
    $("hint").hidden = true;
    this.root.hidden = false;
    this.root.replaceChildren(el("h2", { text: `Vehicle ${id}` }), el("p", { class: "muted", text: "loading…" }));
    const enc = encodeURIComponent(id);
    const from = dayStart;
    const end = new Date(dayStart);
    end.setDate(end.getDate() + 1);
    const to = new Date(Math.min(end.getTime(), Date.now() + 60000));
    const window = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const [position, alerts, trips, stops] = await Promise.all([
      this.api.get(`/v1/vehicles/${enc}/position`).catch(() => null),
      this.api.all(`/v1/alerts?vehicle_id=${enc}`, 200).catch(() => []),
      this.api.all(`/v1/vehicles/${enc}/trips?${window}`, 1000).catch(() => []),
      this.api.all(`/v1/vehicles/${enc}/stops?${window}`, 1000).catch(() => []),
    ]);
    if (generation !== this.generation) return;
    this.position = position;
    this.openAlerts = alerts.filter((a) => a.status !== "resolved");
    this.trips = trips;
    this.stops = stops;
    this.render();
    const started = performance.now();
    const track = await loadTrack(this.api, id, from.toISOString(), to.toISOString()).catch(() => null);
    if (generation !== this.generation || !track) return;
    const loaded = performance.now();
    this.drawn = drawDay(this.map, track, trips, stops, this.renderer);
    this.root.append(this.drawn.replay);
    // Wait for the canvas to paint before stopping the clock.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      this.lastTrack = { points: track.length, loadMs: loaded - started, totalMs: performance.now() - started };
      this.root.dataset.trackPoints = String(track.length);
    }));
  }

  // Re-renders the live facts when the selected vehicle moved (only them: the day picker and
  // the buttons stay as they are under the user's hands).
  refresh() {
    if (this.id && !this.root.hidden && this.factsEl) {
      const next = facts(this.rows());
      this.factsEl.replaceWith(next);
      this.factsEl = next;
    }
  }

  rows() {
    const v = this.store.byId.get(this.id);
    const p = this.position;
    const obd = p && p.obd ? p.obd : {};
    const now = Date.now();
    const state = v ? stateOf(v, now, this.store.settings) : "unknown";
    return [
      ["State", state],
      ["Plate", v && v.plate],
      ["Type", v && v.type],
      ["Position", v ? `${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}` : null],
      ["Reported", v ? `${clock(v.tsMs)} (${ago(now - v.tsMs)})` : null],
      ["Speed", v && v.speed_kmh != null ? `${v.speed_kmh.toFixed(0)} km/h` : null],
      ["Heading", v && v.heading_deg != null ? `${v.heading_deg.toFixed(0)}°` : null],
      ["Driver", v && v.driver_id ? shortId(v.driver_id) : p && p.driver_id ? shortId(p.driver_id) : null],
      ["Job", v && v.job_id ? `${shortId(v.job_id)} (${v.job_state})` : null],
      ["RPM", obd.rpm],
      ["Coolant", obd.coolant_c != null ? `${obd.coolant_c} °C` : null],
      ["Fuel", obd.fuel_pct != null ? `${obd.fuel_pct} %` : null],
      ["Odometer", obd.odometer_km != null ? `${obd.odometer_km} km` : null],
      ["DTC", obd.dtc && obd.dtc.length ? obd.dtc.join(" ") : null],
    ];
  }

  render() {
    const close = el("button", { type: "button", id: "vehicle-close", text: "Close" });
    close.addEventListener("click", () => this.hide());
    const alerts = el("ul", { class: "list", id: "vehicle-alerts" });
    for (const a of this.openAlerts) alerts.append(this.alerts.item(a));
    if (!this.openAlerts.length) alerts.append(el("li", { class: "muted", text: "No open alerts." }));
    const day = el("input", { type: "date", id: "vehicle-day", value: isoDay(this.dayStart), max: isoDay(new Date()), "aria-label": "Day" });
    day.addEventListener("change", () => {
      const [y, m, d] = day.value.split("-").map(Number);
      if (y && m && d) this.show(this.id, new Date(y, m - 1, d));
    });
    const trips = el("ul", { class: "list", id: "vehicle-trips" });
    for (const t of this.trips) {
      trips.append(el("li", { "data-trip-id": String(t.id), text: `${clock(Date.parse(t.start.ts))}–${clock(Date.parse(t.end.ts))} · ${(t.distance_m / 1000).toFixed(1)} km · max ${t.max_speed_kmh.toFixed(0)} km/h` }));
    }
    if (!this.trips.length) trips.append(el("li", { class: "muted", text: "No trips that day." }));
    const replay = this.drawn ? this.drawn.replay : null;
    this.factsEl = facts(this.rows());
    this.root.replaceChildren(
      el("div", { class: "row" }, el("h2", { text: `Vehicle ${this.id}` }), close),
      this.factsEl,
      el("h2", { text: "Open alerts" }), alerts,
      el("div", { class: "row" }, el("h2", { text: `${this.trips.length} trips, ${this.stops.length} stops on` }), day), trips,
    );
    if (replay) this.root.append(replay);
  }
}
