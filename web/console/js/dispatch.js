// Dispatch on the map: a click creates a job at that point (POST /v1/dispatch/jobs) whose
// state follows the stream's `job` events live (pending → offered → assigned …); another
// mode shows the nearest available drivers around a clicked point.
"use strict";

import { el, $, clock, shortId } from "./dom.js";

const COLOURS = {
  pending: "#94a3b8", offered: "#f59e0b", assigned: "#22c55e", picked_up: "#16a34a",
  completed: "#64748b", cancelled: "#ef4444", unassigned: "#ef4444",
};
const FINAL = new Set(["completed", "cancelled", "unassigned"]);

export class Dispatch {
  constructor(api, map, store, onSelectVehicle) {
    this.api = api;
    this.map = map;
    this.store = store;
    this.onSelectVehicle = onSelectVehicle;
    this.jobs = new Map(); // id -> {job, marker, li}
    // The newest stream event of jobs not (yet) on the list: a job this console creates can be
    // offered before the POST that created it has answered, and that event must not be lost.
    this.early = new Map(); // id -> event
    this.list = $("jobs-list");
    this.nearestLayer = L.layerGroup().addTo(map);
  }

  // Unfinished jobs, on (re)connection: transitions missed while disconnected are re-read.
  async reload() {
    const jobs = await this.api.all("/v1/dispatch/jobs", 500).catch(() => []);
    for (const job of jobs) if (!FINAL.has(job.state) || this.jobs.has(job.id)) this.upsert(job);
  }

  async create(latlng) {
    const body = { pickup: { lat: round(latlng.lat), lon: wrap(latlng.lng) } };
    const created = await this.api.post("/v1/dispatch/jobs", body, true);
    const job = await this.api.get(`/v1/dispatch/jobs/${created.id}`);
    this.upsert(job);
    const early = this.early.get(job.id);
    this.early.delete(job.id);
    if (early) await this.event(early);
    return this.jobs.get(job.id).job;
  }

  // A `job` stream event: its state now; the job itself re-read for its vehicle.
  async event(e) {
    const known = this.jobs.get(e.job_id);
    if (!known) {
      this.early.set(e.job_id, e);
      if (this.early.size > 256) this.early.delete(this.early.keys().next().value);
    }
    // Other operators' jobs matter once a vehicle is on them.
    if (!known && e.state !== "assigned" && e.state !== "picked_up") return;
    if (known) {
      known.job.state = e.state;
      this.render(known);
    }
    const job = await this.api.get(`/v1/dispatch/jobs/${e.job_id}`).catch(() => null);
    if (job && (known || !FINAL.has(job.state))) this.upsert(job);
  }

  upsert(job) {
    let entry = this.jobs.get(job.id);
    const previous = entry ? entry.job : null;
    if (!entry) {
      const marker = L.circleMarker([job.pickup.lat, job.pickup.lon], { radius: 7, weight: 2, color: "#0f172a", fillOpacity: 1 })
        .addTo(this.map);
      entry = { marker, li: el("li", { "data-job-id": job.id }) };
      this.jobs.set(job.id, entry);
      this.list.prepend(entry.li);
    }
    entry.job = job;
    // The vehicle's colour follows its job.
    if (previous && previous.vehicle_id && previous.vehicle_id !== job.vehicle_id) {
      this.store.setJob(previous.vehicle_id, null, null);
    }
    if (job.vehicle_id) {
      const on = job.state === "assigned" || job.state === "picked_up";
      this.store.setJob(job.vehicle_id, on ? job.id : null, on ? job.state : null);
    }
    this.render(entry);
  }

  render(entry) {
    const job = entry.job;
    entry.marker.setStyle({ fillColor: COLOURS[job.state] || "#94a3b8" });
    entry.marker.bindTooltip(`job ${shortId(job.id)}: ${job.state}`);
    const vehicle = job.vehicle_id ? el("a", { href: "#", text: job.vehicle_id }) : null;
    if (vehicle) {
      vehicle.addEventListener("click", (ev) => {
        ev.preventDefault();
        this.onSelectVehicle(job.vehicle_id);
      });
    }
    const cancel = FINAL.has(job.state) ? null : el("button", { type: "button", class: "job-cancel", text: "Cancel" });
    if (cancel) {
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          this.upsert(await this.api.post(`/v1/dispatch/jobs/${job.id}/cancel`, null, true));
        } catch (e) {
          cancel.disabled = false;
          cancel.title = e.message;
        }
      });
    }
    const parts = [
      el("span", { text: `${shortId(job.id)} · ` }),
      el("span", { class: "job-state", "data-state": job.state, text: job.state }),
    ];
    if (vehicle) parts.push(" · ", vehicle);
    parts.push(el("div", { class: "muted", text: `${job.pickup.lat.toFixed(4)}, ${job.pickup.lon.toFixed(4)} · ${clock(Date.parse(job.created_at))}` }));
    if (cancel) parts.push(el("div", { class: "row" }, cancel));
    entry.li.replaceChildren(...parts);
  }

  async nearest(latlng) {
    const lat = round(latlng.lat);
    const lon = wrap(latlng.lng);
    this.nearestLayer.clearLayers();
    const list = $("nearest-list");
    $("nearest-panel").hidden = false;
    list.replaceChildren(el("li", { class: "muted", text: "searching…" }));
    L.circleMarker([lat, lon], { radius: 5, color: "#f8fafc", fillColor: "#0ea5e9", fillOpacity: 1 }).addTo(this.nearestLayer);
    let answer;
    try {
      answer = await this.api.get(`/v1/dispatch/nearest?lat=${lat}&lon=${lon}&k=5`);
    } catch (e) {
      list.replaceChildren(el("li", { class: "error", text: e.message }));
      return;
    }
    list.replaceChildren();
    for (const n of answer.items) {
      L.polyline([[lat, lon], [n.lat, n.lon]], { color: "#0ea5e9", weight: 2, dashArray: "4 4", interactive: false }).addTo(this.nearestLayer);
      const a = el("a", { href: "#", text: n.vehicle_id });
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        this.onSelectVehicle(n.vehicle_id);
      });
      list.append(el("li", { "data-vehicle-id": n.vehicle_id }, a, ` · ${(n.distance_m / 1000).toFixed(2)} km · driver ${shortId(n.driver_id)}`));
    }
    if (!answer.items.length) list.append(el("li", { class: "muted", text: "No available driver within the search radius." }));
  }
}

function round(x) {
  return Math.round(x * 1e6) / 1e6;
}

// A longitude from a map that may show world copies, back into -180..180.
export function wrap(lon) {
  const w = ((((lon + 180) % 360) + 360) % 360) - 180;
  return round(w === -180 && lon > 0 ? 180 : w);
}
