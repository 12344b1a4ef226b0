// The /v1 API from the browser: login, the access token kept in memory (the refresh token in
// sessionStorage, for this tab only), JSON requests with the error envelope turned into
// exceptions, and one transparent refresh when the access token has expired.
"use strict";

const REFRESH_KEY = "fleetd.refresh";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A random Idempotency-Key (crypto.randomUUID needs a secure context; this does not).
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Api {
  constructor() {
    this.token = null;
    this.user = null;
    this.onSignedOut = () => {};
    this.refreshing = null;
  }

  async login(username, password) {
    const body = await this.send("POST", "/v1/auth/token", { username, password }, false);
    this.accept(body);
    this.user = await this.get("/v1/me");
    return this.user;
  }

  // Signs in again from this tab's refresh token, if there is one.
  async resume() {
    if (!sessionStorage.getItem(REFRESH_KEY)) return null;
    await this.refresh();
    this.user = await this.get("/v1/me");
    return this.user;
  }

  accept(body) {
    this.token = body.access_token;
    if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  }

  // One refresh at a time; concurrent callers share it.
  refresh() {
    if (!this.refreshing) {
      const token = sessionStorage.getItem(REFRESH_KEY);
      this.refreshing = (async () => {
        try {
          if (!token) throw new ApiError(401, "unauthorized", "signed out");
          const body = await this.send("POST", "/v1/auth/refresh", { refresh_token: token }, false);
          this.accept(body);
        } catch (e) {
          this.forget();
          throw e;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  forget() {
    this.token = null;
    this.user = null;
    sessionStorage.removeItem(REFRESH_KEY);
  }

  async logout() {
    try {
      if (this.token) await this.send("POST", "/v1/auth/logout", null, true);
    } catch (_) {
      // Signed out locally either way.
    }
    this.forget();
    this.onSignedOut();
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body, idempotent = false) {
    return this.request("POST", path, body, idempotent ? idempotencyKey() : null);
  }

  // With the access token; on 401, one refresh and one retry (the same Idempotency-Key).
  async request(method, path, body = null, key = null) {
    try {
      return await this.send(method, path, body, true, key);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401 || !sessionStorage.getItem(REFRESH_KEY)) {
        if (e instanceof ApiError && e.status === 401) this.signedOut();
        throw e;
      }
    }
    try {
      await this.refresh();
    } catch (e) {
      this.signedOut();
      throw e;
    }
    return this.send(method, path, body, true, key);
  }

  signedOut() {
    this.forget();
    this.onSignedOut();
  }

  headers(auth) {
    const h = { Accept: "application/json" };
    if (auth && this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async send(method, path, body, auth, key = null) {
    const headers = this.headers(auth);
    if (body !== null && body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === null || body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", `fleetd is unreachable (${e.message})`);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    if (!response.ok) {
      const err = json && json.error ? json.error : {};
      throw new ApiError(response.status, err.code || "http_" + response.status,
        err.message || `${method} ${path}: HTTP ${response.status}`);
    }
    return json;
  }

  // Every item of a paginated list (at most `max` items).
  async all(path, max = 10000) {
    const items = [];
    let cursor = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page = await this.get(path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return items;
  }
}
