// The alerts panel: unresolved alerts, newest first, with acknowledge and resolve; reloaded
// when the stream carries an alert.* event, on reconnection, and every 30 s.
"use strict";

import { el, $, clock } from "./dom.js";

export class AlertsPanel {
  constructor(api, onSelectVehicle) {
    this.api = api;
    this.onSelectVehicle = onSelectVehicle;
    this.list = $("alerts-list");
    this.count = $("alerts-count");
    this.items = [];
    this.loading = null;
    this.again = false;
    setInterval(() => this.reload(), 30000);
  }

  // One load at a time; a request meanwhile loads once more afterwards.
  reload() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        const [open, acked] = await Promise.all([
          this.api.all("/v1/alerts?status=open", 1000),
          this.api.all("/v1/alerts?status=acknowledged", 1000),
        ]);
        this.items = [...open, ...acked].sort((a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at));
        this.render();
      } catch (e) {
        this.list.replaceChildren(el("li", { class: "error", text: `alerts: ${e.message}` }));
      } finally {
        this.loading = null;
        if (this.again) {
          this.again = false;
          this.reload();
        }
      }
    })();
    return this.loading;
  }

  // Keyed: an alert whose status and count did not change keeps its element, so a reload
  // never swaps a button from under the pointer.
  render() {
    this.count.textContent = String(this.items.length);
    const previous = this.rendered || new Map();
    this.rendered = new Map();
    const items = this.items.map((a) => {
      const key = `${a.status}/${a.count}`;
      const kept = previous.get(a.id);
      const li = kept && kept.key === key ? kept.li : this.item(a);
      this.rendered.set(a.id, { key, li });
      return li;
    });
    this.list.replaceChildren(...items);
    if (!this.items.length) this.list.append(el("li", { class: "muted", text: "No open alerts." }));
  }

  // One alert with its actions (also used by the vehicle panel).
  item(a) {
    const subject = el("a", { href: "#", text: a.subject_id });
    subject.addEventListener("click", (e) => {
      e.preventDefault();
      if (a.subject_type === "vehicle") this.onSelectVehicle(a.subject_id);
    });
    const row = el("div", { class: "row" });
    if (a.status === "open") row.append(this.action(a, "acknowledge", "Acknowledge"));
    row.append(this.action(a, "resolve", "Resolve"));
    return el("li", { "data-alert-id": a.id, "data-status": a.status },
      el("strong", { text: a.kind }), " · ", subject,
      el("div", { class: "muted", text: `${a.status} · opened ${clock(Date.parse(a.opened_at))} · seen ${a.count}×` }),
      row);
  }

  action(a, verb, label) {
    const b = el("button", { type: "button", class: `alert-${verb}`, text: label });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await this.api.post(`/v1/alerts/${a.id}/${verb}`, null, true);
      } catch (e) {
        b.disabled = false;
        b.title = e.message;
        return;
      }
      this.reload();
    });
    return b;
  }
}
