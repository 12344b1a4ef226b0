// The operator's console: signs in, draws the fleet on the map from GET /v1/positions, then
// follows GET /v1/stream (positions, jobs, alert events), and wires the panels and the map
// modes (browse, new job, nearest drivers, draw a fence).
"use strict";

import { Api } from "./api.js";
import { Stream } from "./stream.js";
import { $, el } from "./dom.js";
import { createMap } from "./basemap.js";
import { VehicleStore, vehicleLayer, stateOf } from "./vehicles.js";
import { VehiclePanel } from "./vehicle_panel.js";
import { AlertsPanel } from "./alerts.js";
import { Dispatch } from "./dispatch.js";
import { Fences } from "./fences.js";

const STAFF = new Set(["admin", "dispatcher"]);
const WORLD = "-90,-180,90,180";

async function boot() {
  const settings = await (await fetch("/console/config.json", { credentials: "omit" })).json();
  $("version").textContent = `fleetd ${settings.version}`;
  const api = new Api();
  api.onSignedOut = () => window.location.reload();
  let user = null;
  try {
    user = await api.resume();
  } catch (_) {
    user = null;
  }
  if (!user) user = await login(api);
  if (!STAFF.has(user.role)) {
    $("login").hidden = false;
    $("login-error").textContent = "The console is for admins and dispatchers.";
    $("login-error").hidden = false;
    await api.logout();
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("user").textContent = user.username;
  $("logout").addEventListener("click", () => api.logout());
  await start(api, settings);
}

// Shows the form until a login succeeds.
function login(api) {
  $("login").hidden = false;
  $("login-username").focus();
  return new Promise((resolve) => {
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const error = $("login-error");
      error.hidden = true;
      $("login-submit").disabled = true;
      try {
        resolve(await api.login($("login-username").value, $("login-password").value));
      } catch (err) {
        error.textContent = err.status === 401 ? "Wrong username or password." : err.message;
        error.hidden = false;
      } finally {
        $("login-submit").disabled = false;
      }
    });
  });
}

async function start(api, settings) {
  const mapEl = $("map");
  const map = await createMap(mapEl, settings);
  const store = new VehicleStore(settings);
  const layer = vehicleLayer(store).addTo(map);
  const alerts = new AlertsPanel(api, (id) => select(id));
  const panel = new VehiclePanel(api, map, store, layer, alerts);
  const dispatch = new Dispatch(api, map, store, (id) => select(id));
  const fences = new Fences(api, map);
  let mode = "browse";

  function select(id) {
    const v = store.byId.get(id);
    if (v) map.panTo([v.lat, v.lon]);
    panel.show(id);
  }

  layer.on("drawn", ({ shown }) => {
    mapEl.dataset.vehicles = String(store.byId.size);
    mapEl.dataset.shown = String(shown);
    $("vehicle-count").textContent = `${store.byId.size} vehicles` + (shown !== store.byId.size ? ` (${shown} shown)` : "");
  });
  store.onChange = (changed) => {
    layer.schedule();
    if (changed === null) refreshTypes(store);
    if (panel.id && (changed === null || changed.some((v) => v.id === panel.id))) panel.refresh();
  };
  // Vehicles go offline by the clock alone.
  setInterval(() => layer.schedule(), 5000);

  async function snapshot() {
    const answer = await api.get("/v1/positions");
    store.load(answer.items);
    return answer.items.length;
  }

  const count = await snapshot();
  if (count) fitTo(map, store);
  fences.reload();
  alerts.reload();

  // Time spent applying the stream's positions (read by the bench script).
  let updates = { ms: 0, items: 0 };
  const stream = new Stream(api, `bbox=${WORLD}&jobs=true&events=alert.*`, {
    onOpen: async () => {
      // What happened while (dis)connecting: the positions, jobs and alerts as they are now.
      await Promise.all([snapshot().catch(() => 0), dispatch.reload(), alerts.reload()]);
    },
    onEvent: (name, data) => {
      if (name === "positions") {
        const started = performance.now();
        store.update(data.items);
        updates.ms += performance.now() - started;
        updates.items += data.items.length;
      }
      else if (name === "job") dispatch.event(data);
      else if (name === "event") alerts.reload();
      else if (name === "lagged" || name === "resync") {
        snapshot().catch(() => 0);
        dispatch.reload();
      }
    },
    onStatus: (state, text) => {
      const s = $("stream-status");
      s.dataset.state = state;
      s.textContent = text;
    },
  });
  stream.start();

  // Map modes.
  const buttons = document.querySelectorAll("[data-mode]");
  const setMode = (m) => {
    mode = m;
    for (const b of buttons) b.classList.toggle("active", b.dataset.mode === m);
    mapEl.classList.toggle("picking", m !== "browse");
    if (m === "circle" || m === "polygon") fences.start(m);
    else fences.cancel();
    if (m !== "nearest") {
      dispatch.nearestLayer.clearLayers();
      $("nearest-panel").hidden = true;
    }
  };
  for (const b of buttons) b.addEventListener("click", () => setMode(b.dataset.mode));
  fences.onDone = () => setMode("browse");

  map.on("click", async (e) => {
    if (mode === "browse") {
      const v = layer.hit(e.containerPoint);
      if (v) panel.show(v.id);
      else panel.hide();
    } else if (mode === "job") {
      try {
        await dispatch.create(e.latlng);
      } catch (err) {
        $("jobs-list").prepend(el("li", { class: "error", text: `job: ${err.message}` }));
      }
    } else if (mode === "nearest") {
      dispatch.nearest(e.latlng);
    } else {
      fences.click(e.latlng);
    }
  });

  // Filters.
  const apply = () => {
    store.filter = { text: $("filter-text").value.trim(), type: $("filter-type").value, state: $("filter-state").value };
    layer.schedule();
  };
  for (const id of ["filter-text", "filter-type", "filter-state"]) $(id).addEventListener("input", apply);

  // What tests and the bench script read (nothing here changes fleetd's state).
  window.fleetdConsole = {
    map,
    vehicleCount: () => store.byId.size,
    shown: () => layer.shown,
    vehicle: (id) => {
      const v = store.byId.get(id);
      return v ? { lat: v.lat, lon: v.lon, ts: new Date(v.tsMs).toISOString(), state: stateOf(v, Date.now(), settings), job_id: v.job_id || null } : null;
    },
    job: (id) => (dispatch.jobs.has(id) ? dispatch.jobs.get(id).job : null),
    lastTrack: () => panel.lastTrack,
    // The vehicle layer's drawing time, and the time applying positions, since the last call.
    drawStats: () => {
      const s = layer.stats;
      const u = updates;
      layer.stats = { draws: 0, totalMs: 0, maxMs: 0 };
      updates = { ms: 0, items: 0 };
      return { draws: s.draws, meanMs: s.draws ? s.totalMs / s.draws : 0, maxMs: s.maxMs, updateMs: u.ms, updateItems: u.items };
    },
    // As a click on the vehicle's dot.
    select: (id) => select(id),
    streamState: () => $("stream-status").dataset.state,
  };
  document.body.dataset.ready = "true";
}

function refreshTypes(store) {
  const select = $("filter-type");
  const current = select.value;
  const types = store.types();
  select.replaceChildren(el("option", { value: "", text: "all types" }), ...types.map((t) => el("option", { value: t, text: t })));
  select.value = types.includes(current) ? current : "";
}

function fitTo(map, store) {
  const points = [];
  for (const v of store.byId.values()) points.push([v.lat, v.lon]);
  if (points.length === 1) map.setView(points[0], 13);
  else map.fitBounds(L.latLngBounds(points), { padding: [30, 30], maxZoom: 14 });
}

boot().catch((e) => {
  document.body.dataset.error = e.message;
  const err = $("login-error");
  $("login").hidden = false;
  err.textContent = `The console could not start: ${e.message}`;
  err.hidden = false;
});
