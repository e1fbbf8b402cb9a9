// momento-tvm browser helper: a Momento disposable token that is always fresh.
//
//   import { TvmTokenSource } from "http://127.0.0.1:8700/client.js";  // or a vendored copy
//   const source = new TvmTokenSource({ url: "http://127.0.0.1:8700/token?profile=chat-reader" });
//   const { authToken, expiresAt } = await source.token();
//   const off = source.onRefresh(({ authToken }) => { /* rebuild the Momento client */ });
//   source.close();
//
// With Momento's Web SDK (@gomomento/sdk-web), the same page code runs against Momento and
// against `momento-tvm emulator` (whose gRPC-web URL serve adds to its answers as webEndpoint):
//
//   const credentials = CredentialProvider.fromDisposableToken(await source.credentialProps());
//   const topics = new TopicClient({ configuration: Configurations.Browser.v1(), credentialProvider: credentials });
//   source.onRefresh((token) => { /* build a client from credentialPropsOf(token), resubscribe */ });
//
// Served by `momento-tvm serve` at /client.js and shipped in the momento-tvm package
// (tvmcli/server/static/client.js). No dependencies; any Token Vending Machine answering
// {authToken, expiresAt} works, and one that adds `now` (its clock, epoch seconds), as
// `momento-tvm serve` does, works even when the browser's clock is wrong.

const DEFAULT_REFRESH_BEFORE_MS = 30_000;
// With no unexpired token to fall back on, how long token() keeps retrying before it rejects.
const NO_TOKEN_PATIENCE_MS = 30_000;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
// Never refresh sooner than this after an answer, so a server that hands out short-lived
// tokens cannot make the helper ask again and again.
const MIN_REFRESH_DELAY_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once for longer delays

/**
 * What CredentialProvider.fromDisposableToken(...) of @gomomento/sdk-web takes, from a token
 * answer: {authToken}, and when the answer names a webEndpoint (a TVM minting from
 * momento-tvm's emulator) endpointOverrides with that gRPC-web URL for every endpoint. Against
 * Momento the SDK finds the endpoints in the token itself.
 */
export function credentialPropsOf(token) {
  if (!token || typeof token.authToken !== "string") {
    throw new TypeError("credentialPropsOf needs a token answer {authToken, ...}");
  }
  const props = { authToken: token.authToken };
  const web = token.webEndpoint;
  if (typeof web === "string" && web !== "") {
    props.endpointOverrides = { cacheEndpoint: web, controlEndpoint: web, tokenEndpoint: web };
  }
  return props;
}

/** An error from the token server (`code` and `message` are its own) or from the helper. */
export class TvmTokenError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "TvmTokenError";
    this.code = code; // the server's error.code, or network_error, bad_response, closed
    this.status = status; // the HTTP status; 0 when there was no answer
  }
}

export class TvmTokenSource {
  #url;
  #headers;
  #refreshBeforeMs;
  #fetch;
  #current = null; // { token, anchor, lifeMs, refreshAtMs }: times in ms since anchor
  #inflight = null; // the one request cycle in flight, shared by every caller
  #timer = null;
  #sleeps = new Set();
  #abort = null;
  #listeners = new Set();
  #closed = false;

  /**
   * @param {object} options
   * @param {string} options.url  the token URL, e.g. http://127.0.0.1:8700/token?profile=chat-reader
   * @param {() => (object | Promise<object>)} [options.headers]  request headers, asked for
   *   before every request (so a sign-in token can change), e.g. an Authorization header
   * @param {number} [options.refreshBeforeMs]  refresh this long before expiry (default 30 s;
   *   halfway through the token's life for tokens shorter than twice that)
   * @param {typeof fetch} [options.fetch]  the fetch function (default: globalThis.fetch)
   */
  constructor({ url, headers, refreshBeforeMs = DEFAULT_REFRESH_BEFORE_MS, fetch } = {}) {
    if (!url) throw new TypeError("TvmTokenSource needs a url");
    if (!(refreshBeforeMs >= 0)) throw new TypeError("refreshBeforeMs must be 0 or more");
    this.#url = String(url);
    this.#headers = headers;
    this.#refreshBeforeMs = refreshBeforeMs;
    this.#fetch = fetch ?? ((...args) => globalThis.fetch(...args));
  }

  /**
   * The current token, { authToken, expiresAt, ... } as the server answered it. Cached while it
   * has more than refreshBeforeMs left; otherwise every caller waits for the same one request.
   */
  async token() {
    if (this.#closed) throw closedError();
    const current = this.#current;
    if (current && this.#elapsedSince(current.anchor) < current.refreshAtMs) return current.token;
    return this.#refresh();
  }

  /**
   * The current token as CredentialProvider.fromDisposableToken(...) takes it:
   * {authToken, endpointOverrides?} (see credentialPropsOf). Fresh, as token() is.
   */
  async credentialProps() {
    return credentialPropsOf(await this.token());
  }

  /** Call `listener(token)` with every new token after the first; returns a function that
   * removes it. */
  onRefresh(listener) {
    if (typeof listener !== "function") throw new TypeError("onRefresh needs a function");
    const entry = { listener }; // an entry per call: the same function may be added twice
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Stop: no more timers or requests; pending and later token() calls reject (code "closed"). */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
    for (const sleep of this.#sleeps) sleep.cancel();
    this.#sleeps.clear();
    this.#listeners.clear();
  }

  #refresh() {
    if (this.#inflight === null) {
      clearTimeout(this.#timer); // the timer only starts refreshes; it must not follow a failed one
      this.#timer = null;
      const cycle = this.#requestUntilAnswered();
      this.#inflight = cycle;
      cycle.then(
        () => this.#settled(cycle),
        () => this.#settled(cycle),
      );
    }
    return this.#inflight;
  }

  #settled(cycle) {
    if (this.#inflight === cycle) this.#inflight = null;
  }

  // One cycle: ask, and on 429/503, 5xx or a network error ask again later, until the current
  // token expires (or for NO_TOKEN_PATIENCE_MS when there is none); the last try is at that
  // moment, then the cycle gives up. A Retry-After beyond it gives up at once. 401, 403 and
  // other refusals end the cycle at once: asking again would be refused again, so nothing more
  // is asked until the app calls token() again.
  async #requestUntilAnswered() {
    const started = this.#clockReading();
    const current = this.#current;
    const tokenLeftMs = current ? current.lifeMs - this.#elapsedSince(current.anchor) : 0;
    const deadlineMs = tokenLeftMs > 0 ? tokenLeftMs : NO_TOKEN_PATIENCE_MS;
    for (let attempt = 0; ; attempt += 1) {
      if (this.#closed) throw closedError();
      const headers = await this.#headersNow(); // the app's own error, if any, ends the cycle
      if (this.#closed) throw closedError();
      const anchor = this.#clockReading();
      let failure;
      let waitMs;
      let told = false; // the server said when: never come back sooner
      try {
        this.#abort = new AbortController();
        const response = await this.#fetch(this.#url, {
          headers: { Accept: "application/json", ...headers },
          cache: "no-store",
          signal: this.#abort.signal,
        });
        if (response.ok) return this.#accept(await readToken(response), anchor);
        failure = await errorOf(response);
        if (response.status === 429 || response.status === 503) {
          waitMs = retryAfterMs(response);
          told = waitMs !== null;
          waitMs ??= backoffMs(attempt);
        } else if (response.status >= 500) {
          waitMs = backoffMs(attempt);
        } else {
          throw failure;
        }
      } catch (error) {
        if (this.#closed) throw closedError();
        if (error instanceof TvmTokenError) throw error;
        failure = new TvmTokenError(
          "network_error",
          `cannot reach the token server: ${error?.message ?? error}`,
        );
        waitMs = backoffMs(attempt);
      } finally {
        this.#abort = null;
      }
      const leftMs = deadlineMs - this.#elapsedSince(started);
      if (leftMs <= 0 || (told && waitMs > leftMs)) throw failure;
      await this.#sleep(Math.min(waitMs, leftMs));
    }
  }

  async #headersNow() {
    const headers = typeof this.#headers === "function" ? await this.#headers() : this.#headers;
    if (headers instanceof Headers) return Object.fromEntries(headers.entries());
    return headers ?? {};
  }

  #accept(body, anchor) {
    // With the server's `now`, the token has expiresAt - now seconds left, counted from when
    // the request was sent, less the up to one second `now` was rounded down by. Without it,
    // only the browser's clock can say.
    const lifeMs = Number.isFinite(body.now)
      ? (body.expiresAt - body.now - 1) * 1000
      : body.expiresAt * 1000 - anchor.wall;
    const { now: _, ...token } = body;
    Object.freeze(token);
    const earlyBy = Math.min(this.#refreshBeforeMs, lifeMs / 2);
    const refreshAtMs = Math.max(
      this.#elapsedSince(anchor) + MIN_REFRESH_DELAY_MS,
      lifeMs - earlyBy,
    );
    const previous = this.#current;
    this.#current = { token, anchor, lifeMs, refreshAtMs };
    this.#schedule();
    if (previous && previous.token.authToken !== token.authToken) {
      for (const { listener } of [...this.#listeners]) {
        try {
          listener(token);
        } catch (error) {
          report(error);
        }
      }
    }
    return token;
  }

  #schedule() {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    const current = this.#current;
    const delay = current.refreshAtMs - this.#elapsedSince(current.anchor);
    this.#timer = setTimeout(() => this.#onTimer(), Math.min(Math.max(delay, 0), MAX_TIMER_MS));
  }

  #onTimer() {
    this.#timer = null;
    const current = this.#current;
    if (this.#closed || current === null) return;
    if (this.#elapsedSince(current.anchor) < current.refreshAtMs) {
      this.#schedule(); // woken early (a delay too long for setTimeout)
      return;
    }
    this.#refresh().catch(() => {}); // the token() calls waiting on it see the error
  }

  #sleep(ms) {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(closedError());
        return;
      }
      const sleep = {
        timer: setTimeout(() => {
          this.#sleeps.delete(sleep);
          resolve();
        }, ms),
        cancel: () => {
          clearTimeout(sleep.timer);
          reject(closedError());
        },
      };
      this.#sleeps.add(sleep);
    });
  }

  // Two clocks, read together: performance.now() may stand still while the computer sleeps
  // and Date.now() may jump or be wrong. Whichever says more time has passed wins, so a token
  // is never believed to live longer than it does; the wall clock's error cancels out, since
  // only differences are used.
  #clockReading() {
    return { mono: performance.now(), wall: Date.now() };
  }

  #elapsedSince(anchor) {
    return Math.max(performance.now() - anchor.mono, Date.now() - anchor.wall);
  }
}

async function readToken(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (
    body === null ||
    typeof body !== "object" ||
    typeof body.authToken !== "string" ||
    body.authToken === "" ||
    !Number.isFinite(body.expiresAt)
  ) {
    throw new TvmTokenError(
      "bad_response",
      "the answer is not {authToken, expiresAt}: is the url a token URL?",
      response.status,
    );
  }
  return body;
}

async function errorOf(response) {
  let error = null;
  try {
    error = (await response.json())?.error;
  } catch {
    // not JSON (a proxy's page, say): the status says enough
  }
  const code = typeof error?.code === "string" ? error.code : `http_${response.status}`;
  const message =
    typeof error?.message === "string"
      ? error.message
      : `the token server answered ${response.status}`;
  return new TvmTokenError(code, message, response.status);
}

// Retry-After in seconds (what `momento-tvm serve` sends) or as an HTTP date; a little jitter
// on top, never less, so many browsers told the same second do not return in the same instant.
// Cross-origin pages can read it only when the server exposes it (serve does).
function retryAfterMs(response) {
  const value = response.headers.get("Retry-After");
  if (value === null) return null;
  let ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms)) return null;
  ms = Math.max(ms, 0);
  return ms + Math.random() * Math.min(1_000, ms / 10 + 100);
}

// Exponential with "equal jitter": between half and all of 1 s, 2 s, 4 s ... 30 s.
function backoffMs(attempt) {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

function closedError() {
  return new TvmTokenError("closed", "the token source was closed");
}

function report(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else setTimeout(() => {
    throw error;
  });
}
