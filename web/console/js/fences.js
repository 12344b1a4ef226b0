// Geofences on the map: every fence drawn (circles and polygons), and, for staff, new ones
// drawn by clicking: a circle is its centre then a point on its edge, a polygon its corners
// then "Close polygon"; then a name and Save (POST /v1/geofences).
"use strict";

import { $ } from "./dom.js";
import { wrap } from "./dispatch.js";

export class Fences {
  constructor(api, map) {
    this.api = api;
    this.map = map;
    this.layer = L.layerGroup().addTo(map);
    this.draft = null;
    this.onDone = () => {};
    $("fence-save").addEventListener("click", () => this.save());
    $("fence-cancel").addEventListener("click", () => this.cancel());
    $("fence-finish").addEventListener("click", () => this.finishPolygon());
  }

  async reload() {
    const fences = await this.api.all("/v1/geofences", 5000).catch(() => []);
    this.layer.clearLayers();
    for (const f of fences) this.draw(f);
    this.count = fences.length;
    this.map.getContainer().dataset.fences = String(fences.length);
  }

  draw(f) {
    const style = { color: "#0ea5e9", weight: 2, fillOpacity: 0.08 };
    let shape;
    if (f.center) {
      shape = L.circle([f.center.lat, f.center.lon], { ...style, radius: f.radius_m });
    } else if (f.geometry) {
      shape = L.geoJSON(f.geometry, { style });
    } else {
      return;
    }
    shape.bindTooltip(f.name, { sticky: true });
    shape.addTo(this.layer);
  }

  // Starts drawing `kind` ("circle" or "polygon").
  start(kind) {
    this.cancel();
    this.draft = { kind, points: [], shape: null, radius: null, closed: false };
    $("fence-panel").hidden = false;
    $("fence-finish").hidden = kind !== "polygon";
    $("fence-error").hidden = true;
    $("fence-name").value = "";
    this.describe();
  }

  describe() {
    const d = this.draft;
    let text;
    if (d.kind === "circle") {
      text = !d.points.length ? "Click the centre." : d.radius === null ? "Click a point on the edge." : `Circle of ${Math.round(d.radius)} m.`;
    } else {
      text = d.closed ? `Polygon of ${d.points.length} corners.` : `Click the corners (${d.points.length} so far), then Close polygon.`;
    }
    $("fence-shape").textContent = text;
  }

  click(latlng) {
    const d = this.draft;
    if (!d) return;
    if (d.kind === "circle") {
      if (!d.points.length) d.points.push(latlng);
      else d.radius = Math.max(1, this.map.distance(d.points[0], latlng));
    } else if (!d.closed) {
      d.points.push(latlng);
    }
    this.redraw();
  }

  finishPolygon() {
    const d = this.draft;
    if (!d || d.kind !== "polygon") return;
    if (d.points.length < 3) {
      this.error("A polygon needs at least 3 corners.");
      return;
    }
    d.closed = true;
    this.redraw();
  }

  redraw() {
    const d = this.draft;
    if (d.shape) d.shape.remove();
    const style = { color: "#f97316", weight: 2, dashArray: "5 5", fillOpacity: 0.1, interactive: false };
    if (d.kind === "circle" && d.points.length) {
      d.shape = L.circle(d.points[0], { ...style, radius: d.radius || 1 }).addTo(this.map);
    } else if (d.kind === "polygon" && d.points.length) {
      d.shape = (d.closed ? L.polygon(d.points, style) : L.polyline(d.points, style)).addTo(this.map);
    }
    this.describe();
  }

  body(name) {
    const d = this.draft;
    if (d.kind === "circle") {
      if (!d.points.length || d.radius === null) return null;
      const c = d.points[0];
      return { name, center: { lat: c.lat, lon: wrap(c.lng) }, radius_m: Math.round(d.radius) };
    }
    if (!d.closed) return null;
    const ring = d.points.map((p) => [wrap(p.lng), p.lat]);
    ring.push(ring[0]);
    return { name, geometry: { type: "Polygon", coordinates: [ring] } };
  }

  async save() {
    const name = $("fence-name").value.trim();
    if (!this.draft) return;
    if (!name) return this.error("Give the fence a name.");
    const body = this.body(name);
    if (!body) return this.error(this.draft.kind === "circle" ? "Click the centre, then the edge." : "Close the polygon first.");
    try {
      const f = await this.api.post("/v1/geofences", body, true);
      this.draw(f);
      this.cancel();
      this.onDone(f);
    } catch (e) {
      this.error(e.message);
    }
  }

  error(text) {
    const e = $("fence-error");
    e.textContent = text;
    e.hidden = false;
  }

  cancel() {
    if (this.draft && this.draft.shape) this.draft.shape.remove();
    this.draft = null;
    $("fence-panel").hidden = true;
  }
}
