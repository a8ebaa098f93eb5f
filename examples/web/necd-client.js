// necd-client.js: a dependency-free browser client for necd's WebSocket bridge.
//
// The bridge at ws(s)://HOST/ws?token=TOKEN carries necd's socket protocol exactly, one
// JSON object per text message (docs/protocol.md). This file follows the events with
// `watch` and reconnects the way NECClient does: it waits 0.1 s, doubling to 5 s, and asks
// again with `since` the last seq it handed out, so no stored event is lost or repeated
// across necd restarts and dropped connections. Requests (status, lookup, redeem, charge,
// refund...) each go on a short connection of their own, as NECClient's do.
//
//   import { NECDClient } from "./necd-client.js";
//   const necd = new NECDClient("ws://127.0.0.1:8734/ws", { token: "..." });
//   necd.addEventListener("tap", (e) => show(e.detail));
//   necd.addEventListener("connection", (e) => showState(e.detail.state));
//   necd.start();
//
// Copy it into a till's web app as it is: an ES module for current browsers, no build step.

/** The protocol major version this client speaks. */
export const PROTOCOL_MAJOR = 1;

/** Why a request failed. `code` is one of the names below; `message` is for a person. */
export class NECDError extends Error {
  /**
   * @param {"refused"|"cannot_connect"|"closed"|"incompatible"|"no_banner"|"answer_lost"} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "NECDError";
    this.code = code;
  }
}

/**
 * A card number, UID or pupil reference as necd's logs show it: 12 characters or more keep
 * their first six and last four (`633597******5674`), shorter ones only their last two.
 * @param {string|undefined} value
 * @returns {string|undefined}
 */
export function mask(value) {
  if (typeof value !== "string") return value;
  const chars = Array.from(value);
  if (chars.length >= 12) return chars.slice(0, 6).join("") + "******" + chars.slice(-4).join("");
  if (chars.length <= 2) return "*".repeat(chars.length);
  return "*".repeat(chars.length - 2) + chars.slice(-2).join("");
}

/**
 * Follows necd's events over the WebSocket bridge and sends it requests.
 *
 * Events (listen with addEventListener; each CustomEvent's `detail` is the message object):
 * - `tap` (TAP and IDENTIFY), `payment`, `voided`: stored events, each exactly once, in
 *   seq order, across reconnections;
 * - `reader`: a reader came, went or became unavailable (live only, not replayed);
 * - `message`: every object necd sent on the watching connection, as it came;
 * - `connection`: `detail.state` is `connecting`, `watching` (the WATCH answer came;
 *   `detail.since`), `lost` (an open connection dropped; `detail.reason`), `failed` (no
 *   connection was made: necd is down, or it refused this page's token or origin, which a
 *   browser cannot tell apart; `detail.attempts` in a row), or `stopped`;
 * - `incompatible`: necd speaks another protocol major version; the client stops.
 */
export class NECDClient extends EventTarget {
  /**
   * @param {string} url the bridge, `ws://host:port/ws` (a `token` query already in it is kept)
   * @param {object} [options]
   * @param {string} [options.token] the shared secret, added to the URL as `?token=`
   * @param {number} [options.since] the seq of the last event already handled (persist it)
   * @param {number} [options.initialDelay] first wait before reconnecting, ms (100)
   * @param {number} [options.maximumDelay] longest wait, ms (5000)
   * @param {number} [options.requestTimeout] how long a request waits for its answer, ms (10000)
   */
  constructor(url, options = {}) {
    super();
    const target = new URL(url, globalThis.location?.href);
    if (options.token !== undefined) target.searchParams.set("token", options.token);
    this.url = target.toString();
    this.initialDelay = options.initialDelay ?? 100;
    this.maximumDelay = options.maximumDelay ?? 5000;
    this.requestTimeout = options.requestTimeout ?? 10000;
    /** The seq of the last stored event handed out; null until the first WATCH answer. */
    this.lastSeq = Number.isInteger(options.since) ? options.since : null;
    /** The VERSION banner of the current (or last) watching connection. */
    this.banner = null;
    /** Objects received on watching connections since this client was made. */
    this.messagesReceived = 0;
    this._socket = null;
    this._running = false;
    this._delay = this.initialDelay;
    this._failures = 0;
    this._timer = null;
  }

  /** Connects and follows events until stop(); reconnects whenever the connection drops. */
  start() {
    if (this._running) return;
    this._running = true;
    this._connect();
  }

  /** Closes the watching connection and stops reconnecting. start() resumes after lastSeq. */
  stop() {
    this._running = false;
    clearTimeout(this._timer);
    this._timer = null;
    const socket = this._socket;
    this._socket = null;
    if (socket) socket.close();
    this._tell("connection", { state: "stopped" });
  }

  /** Connection attempts in a row that never opened (necd down, or it refused this page). */
  get failedAttempts() {
    return this._failures;
  }

  /** True while the watching connection has had its WATCH answer. */
  get watching() {
    return this._socket !== null && this._socket.watching === true;
  }

  _tell(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _connect() {
    this._tell("connection", { state: "connecting" });
    const socket = new WebSocket(this.url);
    socket.watching = false;
    this._socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (message) => {
      if (this._socket !== socket) return;
      this._receive(socket, message.data);
    };
    socket.onclose = (closing) => {
      if (this._socket !== socket) return;
      this._socket = null;
      if (!this._running) return;
      if (opened) {
        this._failures = 0;
        this._tell("connection", { state: "lost", reason: socket.necdProblem ?? `closed (${closing.code})` });
      } else {
        this._failures += 1;
        this._tell("connection", { state: "failed", attempts: this._failures });
      }
      this._retryLater();
    };
  }

  _retryLater() {
    const wait = this._delay;
    this._delay = Math.min(this._delay * 2, this.maximumDelay);
    // Backoff between reconnection attempts, not polling: 0.1 s doubling to 5 s.
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._running) this._connect();
    }, wait);
  }

  _receive(socket, data) {
    let object;
    try {
      object = JSON.parse(data);
    } catch {
      return; // Not JSON: a later version's problem, never this client's end.
    }
    if (object === null || typeof object !== "object" || typeof object.class !== "string") return;
    this.messagesReceived += 1;
    this._tell("message", object);
    if (!socket.bannerSeen) {
      socket.bannerSeen = true;
      if (object.class !== "VERSION") {
        socket.necdProblem = "no VERSION banner";
        socket.close();
        return;
      }
      if (object.proto_major !== PROTOCOL_MAJOR) {
        this._running = false;
        this._socket = null;
        socket.close();
        this._tell("incompatible", object);
        return;
      }
      this.banner = object;
      const watch = { cmd: "watch", enable: true };
      if (this.lastSeq !== null) watch.since = this.lastSeq;
      socket.send(JSON.stringify(watch));
      return;
    }
    this._handle(socket, object);
  }

  _handle(socket, object) {
    switch (object.class) {
      case "WATCH":
        // Lower than asked only when necd's journal was replaced: resume from there.
        if (Number.isInteger(object.since) && (this.lastSeq === null || object.since < this.lastSeq)) {
          this.lastSeq = object.since;
        } else if (this.lastSeq === null) {
          // No `since`: nothing was stored yet, so every event to come is after 0.
          this.lastSeq = 0;
        }
        socket.watching = true;
        this._delay = this.initialDelay;
        this._tell("connection", { state: "watching", since: this.lastSeq });
        return;
      case "READER":
        this._tell("reader", object);
        return;
      case "ERROR":
        // necd is shutting down, or could not replay: reconnect (onclose retries). Not as the
        // close's reason, which a browser limits to 123 bytes.
        socket.necdProblem = object.message;
        socket.close();
        return;
      default:
        break;
    }
    const type = { TAP: "tap", IDENTIFY: "tap", PAYMENT: "payment", VOIDED: "voided" }[object.class];
    if (!Number.isInteger(object.seq)) {
      // A tap declined `unavailable` that necd could not store: sent live once, never
      // replayed, nothing to resume after; the till must still show it.
      if (type === "tap") this._tell(type, object);
      return;
    }
    // Any class with a seq moves the resume point, a class a later version adds too.
    // necd never repeats an event; this guards a resume after an odd restart.
    if (this.lastSeq !== null && object.seq <= this.lastSeq) return;
    this.lastSeq = object.seq;
    if (type) this._tell(type, object);
  }

  // Requests. Each opens its own connection, reads the banner, sends one request and
  // resolves with the answer; an ERROR answer rejects with code "refused".

  /** `{"cmd":"status"}`: the daemon's health. */
  status() {
    return this.request({ cmd: "status" });
  }

  /** `{"cmd":"readers"}`: every reader the daemon knows. */
  readers() {
    return this.request({ cmd: "readers" });
  }

  /** `{"cmd":"lookup"}`: the decision a card (ISRN or UID hex) would get now; redeems nothing. */
  lookup(card) {
    return this.request({ cmd: "lookup", card });
  }

  /** `{"cmd":"void"}`: cancels the lunch redeemed by event `seq`. */
  void(seq) {
    return this.request({ cmd: "void", seq });
  }

  /**
   * `{"cmd":"redeem"}`: serves a pupil by hand; resolves with the manual TAP event. Never
   * sent twice once it may have reached necd (a second lunch request would be declined and
   * hide the first answer): a lost answer rejects with code "answer_lost"; the outcome is
   * then among the events.
   */
  redeem(pupil, lane) {
    const request = { cmd: "redeem", pupil };
    if (lane !== undefined) request.lane = lane;
    return this._deliver(request, false);
  }

  /**
   * `{"cmd":"charge"}`: charges `amount` pence; resolves with the PAYMENT event (see its
   * `decision`). The request, with its txn, is made once and sent again unchanged while
   * connections fail, which necd answers with the first charge's event: never a second charge.
   * @param {string} pupil
   * @param {number} amount whole pence, 1 to 100000
   * @param {{txn?: string, lane?: string, attempts?: number}} [options] txn: keep it to refund
   */
  charge(pupil, amount, options = {}) {
    const request = { cmd: "charge", pupil, amount, txn: options.txn ?? newTransactionID() };
    if (options.lane !== undefined) request.lane = options.lane;
    return this._deliver(request, true, options.attempts);
  }

  /**
   * `{"cmd":"refund"}`: refunds the charge made as `txn`. Sent again while connections fail
   * (necd refuses a second refund); a refusal after a lost answer rejects with
   * "answer_lost", since the first may have been made: look among the events.
   */
  refund(txn, options = {}) {
    return this._deliver({ cmd: "refund", txn }, true, options.attempts);
  }

  async _deliver(request, resendingAfterLoss, attempts = 5) {
    let delay = this.initialDelay;
    let mayHaveBeenDone = false;
    for (let attempt = 1; ; attempt += 1) {
      const progress = { sent: false };
      try {
        return await this.request(request, progress);
      } catch (error) {
        if (error.code === "refused") {
          if (mayHaveBeenDone) throw lost(request);
          throw error;
        }
        if (error.code === "incompatible") throw error;
        if (progress.sent) {
          if (!resendingAfterLoss) throw lost(request);
          mayHaveBeenDone = true;
        }
        if (attempt >= Math.max(attempts, 1)) throw mayHaveBeenDone ? lost(request) : error;
      }
      // Backoff before sending the same request again: 0.1 s doubling to 5 s.
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, this.maximumDelay);
    }
  }

  /**
   * Sends any request object on a connection of its own and resolves with its answer.
   * Events on that connection are skipped, except the one a redeem, charge or refund is
   * answered with.
   * @param {object} request a request with a `cmd`
   * @param {{sent: boolean}} [progress] set to sent once the request is written
   */
  request(request, progress = { sent: false }) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      let settled = false;
      const finish = (outcome, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.onclose = null;
        socket.close();
        outcome(value);
      };
      const timer = setTimeout(
        () => finish(reject, new NECDError("closed", `no answer to ${request.cmd} within ${this.requestTimeout} ms`)),
        this.requestTimeout,
      );
      let opened = false;
      let bannerSeen = false;
      socket.onopen = () => {
        opened = true;
      };
      socket.onclose = () => {
        if (!opened) finish(reject, new NECDError("cannot_connect", `cannot connect to ${this.url}: necd is down, or refused this page's token or origin`));
        else finish(reject, new NECDError("closed", `necd closed the connection before answering ${request.cmd}`));
      };
      socket.onmessage = (message) => {
        let object;
        try {
          object = JSON.parse(message.data);
        } catch {
          return;
        }
        if (object === null || typeof object !== "object") return;
        if (!bannerSeen) {
          bannerSeen = true;
          if (object.class !== "VERSION") return finish(reject, new NECDError("no_banner", "necd did not start with a VERSION banner"));
          if (object.proto_major !== PROTOCOL_MAJOR) {
            return finish(reject, new NECDError("incompatible", `necd speaks protocol ${object.proto_major}, this client ${PROTOCOL_MAJOR}`));
          }
          socket.send(JSON.stringify(request));
          progress.sent = true;
          return;
        }
        if (isAnswer(object, request)) {
          if (object.class === "ERROR") finish(reject, new NECDError("refused", object.message));
          else finish(resolve, object);
        }
      };
    });
  }
}

/** Whether `object` answers `request` (and is not an event this connection never asked for). */
function isAnswer(object, request) {
  switch (object.class) {
    case "TAP":
      return request.cmd === "redeem";
    case "PAYMENT":
      return request.cmd === "charge" || request.cmd === "refund";
    case "IDENTIFY":
    case "VOIDED":
    case "READER":
      return false;
    default:
      return true;
  }
}

function lost(request) {
  return new NECDError(
    "answer_lost",
    `the connection to necd failed after the ${request.cmd} request was sent: it may have been carried out; see the events`,
  );
}

/** A transaction id no other call makes: `necdjs-` and 128 random bits in hex. */
export function newTransactionID() {
  // getRandomValues, unlike randomUUID, works on a plain-http page that is not localhost.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "necdjs-" + Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
