// GET /v1/stream read with fetch() so that the access token travels in the Authorization
// header (EventSource cannot send one, and a token never goes into a URL). Parses the
// Server-Sent Events framing, and reconnects with backoff: each (re)connection calls
// `onOpen`, so the caller reloads what it may have missed.
"use strict";

// Splits a text/event-stream body into events: {event, data, id}.
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
  }

  push(text) {
    this.buffer += text;
    let end;
    while ((end = this.boundary()) !== null) {
      const block = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end.length);
      this.block(block);
    }
  }

  boundary() {
    const m = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
    return m ? { index: m.index, length: m[0].length } : null;
  }

  block(block) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length) this.onEvent({ event, data: data.join("\n"), id });
  }
}

export class Stream {
  // handlers: {onOpen(), onEvent(name, json), onStatus(state, text)}
  constructor(api, query, handlers) {
    this.api = api;
    this.query = query;
    this.handlers = handlers;
    this.abort = null;
    this.stopped = false;
    this.backoff = 1000;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async loop() {
    while (!this.stopped) {
      let ended = null;
      try {
        ended = await this.once();
      } catch (e) {
        if (this.stopped) return;
        this.handlers.onStatus("down", `stream down: ${e.message}`);
      }
      if (this.stopped) return;
      if (ended === "token_expired" || ended === "token_revoked" || ended === "unauthorized") {
        try {
          await this.api.refresh();
          this.backoff = 1000;
          continue;
        } catch (_) {
          this.api.signedOut();
          return;
        }
      }
      await new Promise((r) => setTimeout(r, this.backoff));
      this.backoff = Math.min(this.backoff * 2, 15000);
    }
  }

  // One connection; resolves with the `end` reason (or null when the server closed).
  async once() {
    this.abort = new AbortController();
    const response = await fetch("/v1/stream?" + this.query, {
      headers: { ...this.api.headers(true), Accept: "text/event-stream" },
      signal: this.abort.signal,
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 401) return "unauthorized";
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    this.backoff = 1000;
    this.handlers.onStatus("live", "live");
    await this.handlers.onOpen();
    let ended = null;
    const parser = new SseParser(({ event, data }) => {
      let json;
      try {
        json = JSON.parse(data);
      } catch (_) {
        return;
      }
      if (event === "end") ended = json.reason || "end";
      else this.handlers.onEvent(event, json);
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    this.handlers.onStatus("down", ended ? `stream ended (${ended}), reconnecting` : "reconnecting");
    return ended;
  }
}
