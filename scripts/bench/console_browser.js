// The browser half of scripts/bench/console.sh: signs in to the console in Debian's headless
// Chromium (driven by playwright-core), waits for the simulated fleet, then per round measures
// the frame rate while panning the live map, and the time to load and draw one vehicle's
// 86,400-reading day. Prints one JSON document.
//
//   node console_browser.js BASE_URL USER PASSWORD VEHICLES ROUNDS PAN_SECONDS DAY
"use strict";

const { chromium } = require("playwright-core");

const [base, user, password, vehiclesArg, roundsArg, panArg, day] = process.argv.slice(2);
const vehicles = Number(vehiclesArg);
const rounds = Number(roundsArg);
const panSeconds = Number(panArg);

function log(...args) {
  console.error("[console-bench]", ...args);
}

// Drags the map back and forth with the mouse for `seconds` (as a user pans: "move" events
// during the drag, "moveend" at its end) while the page counts its animation frames.
async function pan(page, seconds) {
  await page.evaluate(() => {
    const c = window.fleetdConsole;
    c.drawStats();
    window.benchFrames = { frames: 0, worst: 0, last: performance.now(), start: performance.now(), on: true };
    const step = (now) => {
      const f = window.benchFrames;
      if (!f.on) return;
      f.frames++;
      f.worst = Math.max(f.worst, now - f.last);
      f.last = now;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  const box = await page.locator("#map").boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const t0 = Date.now();
  let dir = 1;
  while (Date.now() - t0 < seconds * 1000) {
    await page.mouse.move(cx - dir * 150, cy - dir * 80);
    await page.mouse.down();
    // 300 px in 60 steps: a drag of about a second.
    for (let i = 1; i <= 60; i++) {
      await page.mouse.move(cx - dir * 150 + dir * 5 * i, cy - dir * 80 + dir * (8 / 3) * i);
    }
    await page.mouse.up();
    dir = -dir;
  }
  return page.evaluate(() => {
    const f = window.benchFrames;
    f.on = false;
    const elapsed = (performance.now() - f.start) / 1000;
    const c = window.fleetdConsole;
    const s = c.drawStats();
    return { fps: f.frames / elapsed, worst_frame_ms: f.worst, frames: f.frames,
      layer_draws: s.draws, layer_draw_mean_ms: s.meanMs, layer_draw_max_ms: s.maxMs,
      positions_applied: s.updateItems, applying_ms_per_s: s.updateMs / elapsed,
      drawing_ms_per_s: (s.meanMs * s.draws) / elapsed, vehicles_shown: c.shown() };
  });
}

async function loadDay(page) {
  await page.evaluate(() => document.getElementById("vehicle-close") && document.getElementById("vehicle-close").click());
  await page.evaluate(() => window.fleetdConsole.select("day-1"));
  await page.waitForSelector("#vehicle-day");
  await page.fill("#vehicle-day", day);
  await page.dispatchEvent("#vehicle-day", "change");
  await page.waitForFunction(() => {
    const t = window.fleetdConsole.lastTrack();
    return t && t.points === 86400;
  }, null, { timeout: 60000 });
  return page.evaluate(() => window.fleetdConsole.lastTrack());
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on("pageerror", (e) => log("page error:", e.message));
  await page.goto(`${base}/console`);
  await page.fill("#login-username", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("body[data-ready=true]", { timeout: 60000 });
  log(`waiting for ${vehicles} live vehicles on the map`);
  await page.waitForFunction((n) => window.fleetdConsole.vehicleCount() >= n, vehicles, { timeout: 300000, polling: 1000 });
  // Fit the fleet's region (the first snapshot may have come before most vehicles).
  await page.evaluate(() => {
    const c = window.fleetdConsole;
    c.map.setView([52.515, 13.42], 11, { animate: false });
  });
  const results = [];
  for (let r = 1; r <= rounds; r++) {
    const panning = await pan(page, panSeconds);
    const track = await loadDay(page);
    const round = { round: r, vehicles: await page.evaluate(() => window.fleetdConsole.vehicleCount()), panning, track };
    log(JSON.stringify(round));
    results.push(round);
  }
  await page.screenshot({ path: process.env.SCREENSHOT || ".run/console-bench/console.png" });
  // The same panning with the fleet silent (fleet-sim stopped): what the live updates and
  // the load of ingesting them cost the frame rate.
  let silent = null;
  if (process.env.SIM_PID) {
    process.kill(Number(process.env.SIM_PID), "SIGTERM");
    await page.waitForTimeout(5000);
    silent = [];
    for (let r = 1; r <= rounds; r++) {
      const panning = await pan(page, panSeconds);
      log(JSON.stringify({ silent_round: r, panning }));
      silent.push({ round: r, panning });
    }
  }
  await browser.close();
  console.log(JSON.stringify({ vehicles, pan_seconds: panSeconds, rounds: results, silent }, null, 2));
})().catch((e) => {
  log("failed:", e.message);
  process.exit(1);
});
