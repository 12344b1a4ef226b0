// The live vehicles: a store fed by GET /v1/positions and the stream's `positions` events,
// the state each is drawn in, and one canvas layer that draws them all (10,000 vehicles
// updating every second stay smooth: no DOM element per vehicle, each vehicle's pixel
// position cached per zoom level, one redraw per animation frame at most).
"use strict";

export const COLOURS = {
  moving: "#22c55e",
  parked: "#3b82f6",
  offline: "#9ca3af",
  job: "#f59e0b",
  maintenance: "#a855f7",
};
export const STATES = Object.keys(COLOURS);

// The state a vehicle is drawn in, first match wins: in maintenance (registry status), offline
// (latest position older than staleness_s), on a job (assigned or picked up), moving (speed
// at least moving_kmh), parked.
export function stateOf(v, nowMs, settings) {
  if (v.status === "under_maintenance") return "maintenance";
  if (nowMs - v.tsMs > settings.staleness_s * 1000) return "offline";
  if (v.job_id) return "job";
  if (v.speed_kmh != null && v.speed_kmh >= settings.moving_kmh) return "moving";
  return "parked";
}

export class VehicleStore {
  constructor(settings) {
    this.settings = settings;
    this.byId = new Map();
    this.filter = { text: "", type: "", state: "" };
    this.onChange = () => {};
  }

  // The snapshot replaces everything (vehicles gone from the live index disappear).
  load(items) {
    const next = new Map();
    for (const it of items) {
      const v = this.byId.get(it.vehicle_id) || { id: it.vehicle_id, px: null };
      Object.assign(v, {
        lat: it.lat, lon: it.lon, tsMs: Date.parse(it.ts), speed_kmh: it.speed_kmh,
        heading_deg: it.heading_deg, driver_id: it.driver_id, plate: it.plate,
        type: it.type, status: it.status, job_id: it.job_id, job_state: it.job_state,
      });
      v.px = null;
      next.set(v.id, v);
    }
    this.byId = next;
    this.onChange(null);
  }

  // A `positions` event: only strictly newer readings move a vehicle.
  update(items) {
    const changed = [];
    for (const it of items) {
      const tsMs = Date.parse(it.ts);
      let v = this.byId.get(it.vehicle_id);
      if (!v) {
        v = { id: it.vehicle_id, px: null, tsMs: -Infinity };
        this.byId.set(v.id, v);
      }
      if (tsMs <= v.tsMs) continue;
      Object.assign(v, { lat: it.lat, lon: it.lon, tsMs, speed_kmh: it.speed_kmh, heading_deg: it.heading_deg });
      v.px = null;
      changed.push(v);
    }
    if (changed.length) this.onChange(changed);
  }

  setJob(vehicleId, jobId, jobState) {
    const v = this.byId.get(vehicleId);
    if (!v) return;
    v.job_id = jobId;
    v.job_state = jobState;
    this.onChange([v]);
  }

  matches(v, nowMs) {
    const f = this.filter;
    if (f.type && v.type !== f.type) return false;
    if (f.state && stateOf(v, nowMs, this.settings) !== f.state) return false;
    if (f.text) {
      const t = f.text.toLowerCase();
      if (!v.id.toLowerCase().includes(t) && !(v.plate || "").toLowerCase().includes(t)) return false;
    }
    return true;
  }

  types() {
    const s = new Set();
    for (const v of this.byId.values()) if (v.type) s.add(v.type);
    return [...s].sort();
  }
}

// A Leaflet layer drawing the store on one canvas over the map.
export function vehicleLayer(store) {
  return new (L.Layer.extend({
    initialize() {
      this.store = store;
      this.selected = null;
      this.frame = 0;
      this.shown = 0;
      this.zoom = null;
      // Time spent drawing, for the bench script.
      this.stats = { draws: 0, totalMs: 0, maxMs: 0 };
    },

    onAdd(map) {
      this.map = map;
      this.canvas = L.DomUtil.create("canvas", "fleetd-vehicles leaflet-zoom-hide");
      map.getPanes().overlayPane.appendChild(this.canvas);
      map.on("move zoomend resize viewreset", this.schedule, this);
      this.schedule();
    },

    onRemove(map) {
      map.off("move zoomend resize viewreset", this.schedule, this);
      this.canvas.remove();
    },

    schedule() {
      if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
    },

    // The vehicle's pixel position at the current zoom, in the map's world pixels.
    pixel(v, zoom) {
      if (!v.px || this.zoom !== zoom) v.px = this.map.project([v.lat, v.lon], zoom);
      return v.px;
    },

    draw() {
      this.frame = 0;
      const started = performance.now();
      const map = this.map;
      const size = map.getSize();
      const ratio = window.devicePixelRatio || 1;
      const canvas = this.canvas;
      if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
        canvas.width = size.x * ratio;
        canvas.height = size.y * ratio;
        canvas.style.width = size.x + "px";
        canvas.style.height = size.y + "px";
      }
      const topLeft = map.containerPointToLayerPoint([0, 0]);
      L.DomUtil.setPosition(canvas, topLeft);
      const zoom = map.getZoom();
      const origin = map.getPixelOrigin().add(topLeft);
      const world = 256 * Math.pow(2, zoom);
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      const radius = zoom < 5 ? 2.5 : zoom < 10 ? 3.5 : 5;
      const paths = {};
      for (const s of STATES) paths[s] = new Path2D();
      const now = Date.now();
      const settings = this.store.settings;
      let shown = 0;
      const offsets = [0, -world, world];
      for (const v of this.store.byId.values()) {
        if (!this.store.matches(v, now)) continue;
        shown++;
        const p = this.pixel(v, zoom);
        const path = paths[stateOf(v, now, settings)];
        for (const dx of offsets) {
          const x = p.x + dx - origin.x;
          const y = p.y - origin.y;
          if (x < -radius || y < -radius || x > size.x + radius || y > size.y + radius) continue;
          path.moveTo(x + radius, y);
          path.arc(x, y, radius, 0, 2 * Math.PI);
        }
      }
      this.zoom = zoom;
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(15,23,42,0.8)";
      for (const s of STATES) {
        ctx.fillStyle = COLOURS[s];
        ctx.fill(paths[s]);
        if (radius >= 3.5) ctx.stroke(paths[s]);
      }
      const sel = this.selected && this.store.byId.get(this.selected);
      if (sel) {
        const p = this.pixel(sel, zoom);
        ctx.beginPath();
        ctx.arc(p.x - origin.x, p.y - origin.y, radius + 5, 0, 2 * Math.PI);
        ctx.lineWidth = 2.5;
        ctx.strokeStyle = "#f8fafc";
        ctx.stroke();
      }
      this.shown = shown;
      const ms = performance.now() - started;
      this.stats.draws++;
      this.stats.totalMs += ms;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      this.fire("drawn", { shown });
    },

    // The shown vehicle nearest a container point, within `tolerance` pixels.
    hit(containerPoint, tolerance = 8) {
      const zoom = this.map.getZoom();
      const origin = this.map.getPixelOrigin();
      const at = this.map.containerPointToLayerPoint(containerPoint);
      const world = 256 * Math.pow(2, zoom);
      const now = Date.now();
      let best = null;
      let bestD = tolerance * tolerance;
      for (const v of this.store.byId.values()) {
        if (!this.store.matches(v, now)) continue;
        const p = this.pixel(v, zoom);
        for (const dx of [0, -world, world]) {
          const x = p.x + dx - origin.x - at.x;
          const y = p.y - origin.y - at.y;
          const d = x * x + y * y;
          if (d <= bestD) {
            bestD = d;
            best = v;
          }
        }
      }
      return best;
    },
  }))();
}
