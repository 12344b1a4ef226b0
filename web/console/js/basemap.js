// The map and its basemap: a configured raster tile server (console.tile_url) when there is
// one, else the vendored Natural Earth country outlines (world-atlas, TopoJSON) drawn on a
// canvas: no request leaves fleetd.
"use strict";

const ATLAS = "/vendor/world-atlas-2.0.2/countries-50m.json";

function text(s) {
  const d = document.createElement("div");
  d.textContent = s;
  return d.innerHTML;
}

// Natural Earth cuts shapes at the antimeridian, but a ring may still step from 180 to -180
// (Russia, Fiji): drawn as is, that step is a line across the whole map. Each ring is made
// continuous instead (longitudes beyond ±180 are fine for Leaflet).
function unwrapRing(ring) {
  let shift = 0;
  return ring.map(([lon, lat], i) => {
    if (i > 0) {
      const prev = ring[i - 1][0];
      if (lon - prev > 180) shift -= 360;
      else if (prev - lon > 180) shift += 360;
    }
    return [lon + shift, lat];
  });
}

function unwrapped(collection) {
  for (const f of collection.features) {
    const g = f.geometry;
    if (!g) continue;
    if (g.type === "Polygon") g.coordinates = g.coordinates.map(unwrapRing);
    else if (g.type === "MultiPolygon") g.coordinates = g.coordinates.map((p) => p.map(unwrapRing));
  }
  return collection;
}

export async function createMap(element, settings) {
  const map = L.map(element, {
    preferCanvas: true,
    worldCopyJump: false,
    minZoom: 2,
    maxZoom: settings.tile_url ? settings.tile_max_zoom : 18,
    zoomSnap: 0.5,
    attributionControl: true,
  }).setView([20, 0], 2);
  map.attributionControl.setPrefix(false);
  L.control.scale({ imperial: false }).addTo(map);
  if (settings.tile_url) {
    L.tileLayer(settings.tile_url, {
      maxZoom: settings.tile_max_zoom,
      // Plain text: the configured attribution is never markup.
      attribution: text(settings.tile_attribution || ""),
      crossOrigin: false,
    }).addTo(map);
    return map;
  }
  map.attributionControl.addAttribution("Natural Earth");
  const response = await fetch(ATLAS, { credentials: "omit" });
  if (!response.ok) throw new Error(`basemap: HTTP ${response.status}`);
  const topo = await response.json();
  const land = unwrapped(topojson.feature(topo, topo.objects.countries));
  const renderer = L.canvas({ padding: 0.5 });
  L.geoJSON(land, {
    renderer,
    interactive: false,
    style: { color: "#64748b", weight: 0.6, fillColor: "#e2e8f0", fillOpacity: 1 },
  }).addTo(map);
  return map;
}
