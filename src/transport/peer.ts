import { AllotError, ErrorCode } from "../protocol/index.js";
import type { Bodies, Inbound, Message, MessageType } from "../protocol/index.js";
import { Channel } from "./channel.js";
import type { Answer, Reply } from "./channel.js";
import type { ChannelOptions } from "./channel.js";
import { realTimers } from "./timers.js";
import type { Cancel, Timers } from "./timers.js";
import type { Transport } from "./wire.js";

export interface PeerOptions {
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Injected so backoff jitter is reproducible in tests. */
  random: () => number;
  /** Called on every (re)connection, e.g. to register again. */
  onOpen?(ch: Channel): void;
  /** Called when an open connection is lost or a (re)connection attempt fails. */
  onDown?(peer: Peer): void;
  /** Called once, when the peer is closed for good. */
  onClosed?(peer: Peer): void;
}

export const DEFAULT_PEER: Omit<PeerOptions, "random"> = { backoffMinMs: 50, backoffMaxMs: 2000 };

type State = "connecting" | "open" | "down" | "closed";

/** A dial failure in one short line: OpenSSL's "…:SSL routines:FUNC:REASON:file:line…" becomes "TLS: REASON". */
export function failureReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const ssl = /:SSL routines:[^:]*:([^:]+):/.exec(text);
  return ssl?.[1] !== undefined ? `TLS: ${ssl[1]}` : text.trim();
}

/**
 * A long-lived outbound connection to one URL that reconnects with jittered exponential backoff.
 * While a (re)connection is being attempted, requests wait for it; while backing off after a
 * failure they fail fast with UNREACHABLE, so a caller can try another member of the set.
 */
export class Peer {
  state: State = "connecting";
  private channel: Channel | undefined;
  private attempt = 0;
  private waiters: Array<{ resolve(c: Channel): void; reject(e: AllotError): void }> = [];
  private timer: Cancel | undefined;
  /** Why the last dial failed (a refused connection, a certificate that did not verify), for the UNREACHABLE message. */
  private lastFailure: string | undefined;

  constructor(
    readonly url: string,
    private readonly transport: Transport,
    private readonly channelOptions: Omit<ChannelOptions, "dialer">,
    private readonly opts: PeerOptions,
  ) {
    this.dial();
  }

  /** The channel options' timers: connect waits and backoff run on the node's clock. */
  private get timers(): Timers {
    return this.channelOptions.timers ?? realTimers;
  }

  /** The connected channel, once the connection is open. */
  get current(): Channel | undefined {
    return this.state === "open" ? this.channel : undefined;
  }

  request<T extends MessageType>(type: T, body: Bodies[T], timeoutMs?: number): Promise<Message> {
    const ch = this.current;
    if (ch) return ch.request(type, body, timeoutMs);
    return this.ready(timeoutMs ?? this.channelOptions.requestTimeoutMs).then((c) => c.request(type, body, timeoutMs));
  }

  /** `request` with a callback: waits for a connection being opened as `request` does, without a promise per call once open. */
  call<T extends MessageType>(type: T, body: Bodies[T], timeoutMs: number, done: Reply): void {
    const ch = this.current;
    if (ch) return ch.call(type, body, timeoutMs, done);
    this.ready(timeoutMs).then(
      (c) => c.call(type, body, timeoutMs, done),
      (err: unknown) => done(AllotError.from(err), undefined),
    );
  }

  forward(m: Inbound, timeoutMs: number, done: Answer): void {
    const ch = this.current;
    if (ch) return ch.forward(m, timeoutMs, done);
    this.ready(timeoutMs).then(
      (c) => c.forward(m, timeoutMs, done),
      (err: unknown) => done(AllotError.from(err), undefined),
    );
  }

  requestUnread<T extends MessageType>(type: T, body: Bodies[T], timeoutMs: number, done: Answer): void {
    const ch = this.current;
    if (ch) return ch.requestUnread(type, body, timeoutMs, done);
    this.ready(timeoutMs).then(
      (c) => c.requestUnread(type, body, timeoutMs, done),
      (err: unknown) => done(AllotError.from(err), undefined),
    );
  }

  /** Resolves with an open channel, waiting for a connection attempt in progress. */
  ready(timeoutMs: number): Promise<Channel> {
    if (this.state === "open" && this.channel) return Promise.resolve(this.channel);
    if (this.state !== "connecting") return Promise.reject(this.unreachable());
    return new Promise<Channel>((resolve, reject) => {
      // The wait's timer is cancelled once the wait is settled, so none is left behind.
      const w = {
        resolve(c: Channel) {
          cancel();
          resolve(c);
        },
        reject(e: AllotError) {
          cancel();
          reject(e);
        },
      };
      this.waiters.push(w);
      const cancel = this.timers.after(timeoutMs, () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AllotError(ErrorCode.TIMEOUT, `no connection to ${this.url} within ${timeoutMs} ms`));
      });
    });
  }

  close(): void {
    this.end(false);
  }

  /** Closes for good without a goodbye: the connection is dropped as by a dead process (Channel.abort). */
  abort(): void {
    this.end(true);
  }

  private end(abrupt: boolean): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.opts.onClosed?.(this);
    this.timer?.();
    this.timer = undefined;
    if (abrupt) this.channel?.abort("node killed");
    else this.channel?.close();
    this.failWaiters(new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.url} closed`));
  }

  private unreachable(): AllotError {
    return new AllotError(ErrorCode.UNREACHABLE, `${this.url} is unreachable (reconnecting)${this.lastFailure === undefined ? "" : `: ${this.lastFailure}`}`);
  }

  private failWaiters(err: AllotError): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private dial(): void {
    this.state = "connecting";
    this.transport.connect(this.url).then(
      (wire) => {
        if (this.state === "closed") return wire.close();
        const ch = new Channel(wire, {
          ...this.channelOptions,
          dialer: true,
          onClose: (c, reason) => {
            this.channelOptions.onClose?.(c, reason);
            if (this.channel === c && this.state !== "closed") this.retry();
          },
        });
        this.channel = ch;
        this.state = "open";
        this.attempt = 0;
        this.lastFailure = undefined;
        for (const w of this.waiters.splice(0)) w.resolve(ch);
        this.opts.onOpen?.(ch);
      },
      (err: unknown) => {
        if (this.state === "closed") return;
        this.channelOptions.log.debug({ url: this.url, err: String(err) }, "connect failed");
        this.lastFailure = failureReason(err);
        this.failWaiters(this.unreachable());
        this.retry();
      },
    );
  }

  private retry(): void {
    this.state = "down";
    this.opts.onDown?.(this);
    if (this.state !== "down") return; // closed by onDown
    const ceiling = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** this.attempt++);
    const delay = ceiling / 2 + (this.opts.random() * ceiling) / 2;
    this.timer = this.timers.after(delay, () => this.dial());
  }
}
