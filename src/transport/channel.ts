import { AllotError, CLIENT_REQUESTS, ErrorCode, PROTOCOL_VERSION, isOpaque, isRejected, refusal, speaksForOthers } from "../protocol/index.js";
import type { Bodies, ClientRef, Inbound, Message, MessageType, OpaqueMessage, Principal, Rejected, Role } from "../protocol/index.js";
import { newNonce } from "./authenticator.js";
import { realEntropy, realTimers } from "./timers.js";
import type { Cancel, Entropy, Timers } from "./timers.js";
import type { Authenticator, Transcript } from "./authenticator.js";
import { FrameError, MAX_FRAME_ENVELOPES, decodeFrame, encodeFrame } from "./codec.js";
import type { WireEnvelope } from "./codec.js";
import { DEFAULT_RATE_LOG, rateLimitedWarn } from "./rate-log.js";
import { SilenceDetector, silenceFor, tickFor } from "./silence.js";
import { onTick } from "./ticker.js";
import { CloseCode } from "./wire.js";
import type { Wire } from "./wire.js";

/** The part of a pino logger the transport uses. */
export interface Log {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Totals a node keeps over all its connections. */
export interface TrafficCounters {
  framesIn: number;
  framesOut: number;
  /** Bytes of the frames counted in framesIn and framesOut (the WebSocket payloads). */
  bytesIn: number;
  bytesOut: number;
  envelopesIn: number;
  envelopesOut: number;
  rejected: number;
  /** Connections closed for a frame over `maxFrameBytesBeforeHello` before their handshake. */
  closedOversizeBeforeHello: number;
  /** Times a connection stopped reading its peer because its outgoing buffer passed the soft cap. */
  readsPaused: number;
  /** Connections closed because their outgoing buffer passed the hard cap. */
  closedNotReading: number;
  /** Handshakes refused and messages refused admission (UNAUTHORIZED). */
  unauthorized: number;
  /** Connections closed because the peer fell silent (no frame, a ping unanswered: see silenceMs). */
  closedSilent: number;
  /** Answers that came after their request had timed out or its connection had given up on it. */
  lateAnswers: number;
}

export function createCounters(): TrafficCounters {
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, envelopesIn: 0, envelopesOut: 0, rejected: 0, closedOversizeBeforeHello: 0, readsPaused: 0, closedNotReading: 0, unauthorized: 0, closedSilent: 0, lateAnswers: 0 };
}

/** Outgoing bytes buffered for a peer past which the channel stops reading it (see ChannelOptions.pauseBufferedBytes). */
export const PAUSE_BUFFERED_BYTES = 1024 * 1024;
/** Outgoing bytes buffered for a peer past which the channel closes it (see ChannelOptions.closeBufferedBytes). */
export const CLOSE_BUFFERED_BYTES = 16 * 1024 * 1024;

/** Largest frame an accepted connection may send before its handshake completes. */
export const MAX_FRAME_BYTES_BEFORE_HELLO = 16 * 1024;

export interface ChannelOptions {
  /** This node's id and role, sent in `hello` and stamped as `from`. */
  node: string;
  role: Role;
  /** true on the side that dialled: it sends `hello` first. */
  dialer: boolean;
  maxFrameBytes: number;
  /**
   * Largest frame an accepted connection may send before its hello is accepted; a bigger one
   * closes the socket (1009) unread. Default MAX_FRAME_BYTES_BEFORE_HELLO (16 KiB).
   */
  maxFrameBytesBeforeHello?: number;
  /**
   * Backpressure: once this many bytes sent to the peer are still buffered (it does not read),
   * the channel stops reading the peer's frames, and reads again when half of it has drained.
   * Default PAUSE_BUFFERED_BYTES (1 MiB).
   */
  pauseBufferedBytes?: number;
  /** Past this many buffered bytes the connection is dropped (4004). Default CLOSE_BUFFERED_BYTES (16 MiB). */
  closeBufferedBytes?: number;
  /** Requests from the peer being handled at once; past it they are answered OVERLOADED. */
  maxInFlight: number;
  /** Deadline for a request that names none. */
  requestTimeoutMs: number;
  /** The accepting side closes a connection that has not said `hello` within this. */
  handshakeMs: number;
  /**
   * Idle time (no frame received) after which a ping is sent; 0 turns pings and silence
   * detection off. See SilenceDetector.
   */
  heartbeatMs: number;
  /**
   * A peer that sends nothing for this long while a ping of ours is unanswered is silent: the
   * channel closes (4002) and its pending requests fail UNREACHABLE. Default 3 × heartbeatMs.
   */
  silenceMs?: number;
  now: () => number;
  /** Handshake deadline, heartbeat, request sweep, drain watch and per-turn flush run on these. Default realTimers. */
  timers?: Timers;
  /** Where handshake nonces come from. Default realEntropy. */
  entropy?: Entropy;
  log: Log;
  counters?: TrafficCounters;
  /** Requests and notices from the peer (never replies: those settle `request` promises). */
  onMessage(m: Inbound, ch: Channel): void;
  /** Requests whose body this node passes on unread (forwarders); they arrive as OpaqueMessages. */
  opaque?(type: MessageType, ch: Channel): boolean;
  onClose?(ch: Channel, reason: AllotError): void;
  onHello?(ch: Channel): void;
  /**
   * Proves this node and verifies every peer in the handshake. Without one the node runs
   * without authentication: a peer is whoever its hello says (loopback only, by default).
   */
  auth?: Authenticator;
  /**
   * A peer was refused in the handshake (`closing`) or a message of its was refused admission:
   * for rate-limited logs. Without it, a refused handshake is logged at warn each time.
   */
  onRefused?(ch: Channel, err: AllotError, closing: boolean): void;
}

/** Called once, with the error or the answer of a request. */
export type Answer = (err: AllotError | undefined, answer: Inbound | undefined) => void;
/** What `call` hands back: a read answer (never an `error` message: that arrives as `err`), or the error. */
export type Reply = (err: AllotError | undefined, answer: Message | undefined) => void;

interface Pending {
  done: Answer;
  /** Forwarded: the answer is relayed unread, whatever its type, error included. */
  raw: boolean;
  deadline: number;
  type: MessageType;
}

/** The backpressure caps of `opts` with their defaults; a RangeError names a bad pair. */
export function bufferCaps(opts: Pick<ChannelOptions, "pauseBufferedBytes" | "closeBufferedBytes">): [pause: number, close: number] {
  const pause = opts.pauseBufferedBytes ?? PAUSE_BUFFERED_BYTES;
  const close = opts.closeBufferedBytes ?? CLOSE_BUFFERED_BYTES;
  if (!Number.isInteger(pause) || !Number.isInteger(close) || pause < 1 || close <= pause) {
    throw new RangeError(`closeBufferedBytes (${close}) must be an integer above pauseBufferedBytes (${pause}), an integer >= 1`);
  }
  return [pause, close];
}

const SWEEP_MS = 20;
/** How often a paused channel looks whether its peer has read enough to be read again. */
const DRAIN_MS = 10;
/** Types the channel itself answers; never opaque. */
const CHANNEL_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["hello", "welcome", "auth", "ping", "pong", "error"]);
/** What a dialler with credentials sends before the handshake is done; the rest waits for it. */
const HANDSHAKE_TYPES: ReadonlySet<string> = new Set<string>(["hello", "auth", "error", "pong"]);
/** Envelopes per frame before it leaves without waiting for the end of the turn (16-256 measured within noise). */
const MAX_BATCH = Math.min(128, MAX_FRAME_ENVELOPES); // the receiving side refuses more than MAX_FRAME_ENVELOPES

/**
 * A multiplexed, correlated conversation over one wire: many requests in flight matched by id,
 * per-request deadlines, envelopes batched into one frame per event-loop turn, a handshake,
 * heartbeats and in-flight limits. Transport-agnostic: it sees only a Wire.
 */
export class Channel {
  /** The peer's node id and role as the handshake established them ("" until it completes). */
  peerId = "";
  peerRole: Role | "" = "";
  /** Who the peer proved to be (or, without authentication, said it is); undefined until the handshake completes. */
  principal: Principal | undefined;
  readonly remoteAddress: string;
  closed = false;
  framesIn = 0;
  framesOut = 0;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Of `pending`, this side's own link upkeep (hello, auth, heartbeat pings): not work, so not `inFlight`. */
  private upkeep = 0;
  private readonly answering = new Set<number>();
  private queue: WireEnvelope[] = [];
  private flushScheduled = false;
  private stopSweep: (() => void) | undefined;
  private stopHeartbeat: (() => void) | undefined;
  private handshakeTimer: Cancel | undefined;
  private readonly timers: Timers;
  /** Fed by every frame received; decides when to ping and when the peer is silent. */
  private readonly detector: SilenceDetector;
  /** Set while the peer is not read (backpressure): frames that were already read wait here, in order. */
  private parked: Uint8Array[] | undefined;
  private stopDrainWatch: (() => void) | undefined;
  private readonly pauseAt: number;
  private readonly closeAt: number;
  /** Warnings about this peer, at most a few a second, with a count of the ones dropped. */
  private readonly warn: (obj: object, msg: string) => void;
  /** Handshake progress: none yet, the acceptor waiting for the dialler's proof, or done. */
  private stage: "new" | "proving" | "done" = "new";
  private transcript: Transcript | undefined;
  /** A dialler with credentials holds its requests until it has seen the acceptor's proof. */
  private held: WireEnvelope[] | undefined;

  constructor(
    private readonly wire: Wire,
    private readonly opts: ChannelOptions,
  ) {
    this.remoteAddress = wire.remoteAddress;
    this.timers = opts.timers ?? realTimers;
    const tickMs = tickFor(opts.heartbeatMs);
    this.detector = new SilenceDetector({ pingMs: opts.heartbeatMs, silenceMs: opts.heartbeatMs > 0 ? silenceFor(opts.heartbeatMs, opts.silenceMs) : 0, tickMs }, opts.now());
    this.warn = rateLimitedWarn(opts.log, { ...DEFAULT_RATE_LOG, now: opts.now });
    [this.pauseAt, this.closeAt] = bufferCaps(opts);
    wire.setHandlers({ frame: (b) => this.onFrame(b), close: (code, reason) => this.onWireClose(code, reason) });
    if (opts.dialer) {
      const nonce = newNonce(opts.entropy ?? realEntropy);
      if (opts.auth) this.held = [];
      this.request("hello", { node: opts.node, role: opts.role, nonce }, opts.handshakeMs).then(
        (m) => {
          if (m.type === "welcome") this.welcomed(m.body, nonce);
        },
        (err: AllotError) =>
          // Refused: what waits on this connection fails for the same reason, not as a lost link to retry.
          err.code === ErrorCode.UNAUTHORIZED
            ? this.close(CloseCode.unauthorized, `handshake refused: ${err.message}`, new AllotError(ErrorCode.UNAUTHORIZED, `${this.remoteAddress} refused this node: ${err.message}`, { retryable: false }))
            : this.close(CloseCode.handshakeTimeout, `handshake failed: ${err.message}`),
      );
      // hello leaves in a frame of its own: batched with what follows it in this turn, it could
      // pass the accepting side's limit on a frame before hello.
      this.flushNow();
    } else {
      this.handshakeTimer = this.timers.after(opts.handshakeMs, () => this.close(CloseCode.handshakeTimeout, "no hello within handshake deadline"));
    }
    if (opts.heartbeatMs > 0) {
      // Checked often (every 100 ms at most), so a silent peer is found near silenceMs after its last frame.
      this.stopHeartbeat = onTick(tickMs, () => this.heartbeat(), this.timers);
    }
  }

  /** Requests this side has sent and not yet had answered. */
  get inFlight(): number {
    return this.pending.size - this.upkeep;
  }

  /**
   * Whether an answer sent now can still reach the peer: false once either end began to close,
   * even while frames that arrived before the close are still being handled.
   */
  get open(): boolean {
    return !this.closed && this.wire.open;
  }

  /**
   * Whether this process has just come back from a stall (SIGSTOP, a long GC) and has not read
   * its sockets since: a close the peer sent meanwhile may still be unread. Never true without
   * heartbeats (nothing ticks to tell).
   */
  get stalled(): boolean {
    return this.opts.heartbeatMs > 0 && this.detector.stalled(this.opts.now());
  }

  /** Sends a request and resolves with its answer; an `error` answer rejects with the rebuilt AllotError. */
  request<T extends MessageType>(type: T, body: Bodies[T], timeoutMs = this.opts.requestTimeoutMs): Promise<Message> {
    // Not raw, so the answer is a read message (an `error` answer arrives as err).
    return new Promise<Message>((resolve, reject) => this.post(type, body, timeoutMs, false, (err, m) => (err ? reject(err) : resolve(m as Message))));
  }

  /**
   * Sends a request and calls `done` with its answer, or its error (an `error` answer rebuilt as
   * an AllotError): `request` without a promise, for a caller that does this per task.
   */
  call<T extends MessageType>(type: T, body: Bodies[T], timeoutMs: number, done: Reply): void {
    this.post(type, body, timeoutMs, false, done as Answer);
  }

  /**
   * Sends another node's message on as a request of this channel (forwarding hops). An opaque
   * body goes on as the bytes it came in, and the header client with it; the answer comes back
   * unread, errors included. A callback, not a promise: a forwarder does this for every message,
   * on every hop.
   */
  forward(m: Inbound, timeoutMs: number, done: Answer): void {
    this.post(m.type, isOpaque(m) ? m.raw : m.body, timeoutMs, true, done, m.client);
  }

  /** Sends a request whose answer comes back unread, errors too: for a hop that only relays it. */
  requestUnread<T extends MessageType>(type: T, body: Bodies[T], timeoutMs: number, done: Answer): void {
    this.post(type, body, timeoutMs, true, done);
  }

  private post(type: MessageType, body: unknown, timeoutMs: number, raw: boolean, done: Answer, client?: ClientRef): void {
    if (this.closed) {
      const err = new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.label()} is closed`);
      queueMicrotask(() => done(err, undefined));
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, { done, deadline: this.opts.now() + timeoutMs, type, raw });
    if (isUpkeep(type)) this.upkeep++;
    this.stopSweep ??= onTick(SWEEP_MS, () => this.sweep(), this.timers);
    this.enqueue(type, id, 0, body, client);
  }

  /** Sends a notice: no answer, no deadline (only types in NOTICE_TYPES). */
  notify<T extends MessageType>(type: T, body: Bodies[T]): void {
    this.enqueue(type, 0, 0, body);
  }

  /** Answers request `to` with a reply that came from another node, unchanged. */
  relay(to: Inbound, answer: Inbound): void {
    this.answerWith(to, answer.type, isOpaque(answer) ? answer.raw : answer.body);
  }

  /** Answers request `to` with a message. */
  reply<T extends MessageType>(to: Inbound | Rejected, type: T, body: Bodies[T]): void {
    this.answerWith(to, type, body);
  }

  private answerWith(to: Inbound | Rejected, type: MessageType, body: unknown): void {
    if (to.id === 0 && to.re === 0) {
      if (type === "error") this.enqueue(type, 0, 0, body); // what a notice caused comes back as one
      return;
    }
    if (this.answering.delete(to.id) || type === "error" || type === "pong" || type === "welcome") this.enqueue(type, this.nextId++, to.id, body);
  }

  replyError(to: Inbound | Rejected, err: AllotError): void {
    this.reply(to, "error", err.toWire());
  }

  /** Closes the connection; requests awaiting an answer fail with `err` (default UNREACHABLE). */
  close(code: number = CloseCode.normal, reason = "closed", err?: AllotError): void {
    if (this.closed) return;
    this.flush();
    this.wire.close(code, reason);
    this.shutdown(err ?? new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.label()} closed: ${reason}`));
  }

  /**
   * Drops the connection as a dead process would: nothing queued is sent, no close handshake
   * (the peer sees 1006); requests awaiting an answer fail UNREACHABLE.
   */
  abort(reason = "aborted"): void {
    if (this.closed) return;
    this.queue = [];
    this.wire.close(CloseCode.abnormal, reason);
    this.shutdown(new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.label()} aborted: ${reason}`));
  }

  label(): string {
    return this.peerId || this.remoteAddress;
  }

  private greeted(node: string, role: Role, principal: Principal): void {
    this.stage = "done";
    this.peerId = node;
    this.peerRole = role;
    this.principal = principal;
    this.opts.onHello?.(this);
  }

  /** Refuses the peer in the handshake: UNAUTHORIZED, then the socket closes. */
  private refuse(to: Inbound | undefined, err: AllotError): void {
    if (this.opts.counters) this.opts.counters.unauthorized++;
    if (this.opts.onRefused) this.opts.onRefused(this, err, true);
    else this.opts.log.warn({ peer: this.label(), addr: this.remoteAddress, err: err.message }, "peer refused");
    if (to) this.replyError(to, err);
    else this.sendNotice(err);
    this.close(CloseCode.unauthorized, err.message, err);
  }

  /** The dialler's side: the acceptor answered hello; with credentials, check its proof and send ours. */
  private welcomed(b: Bodies["welcome"], nonce: Uint8Array): void {
    const auth = this.opts.auth;
    if (!auth) {
      if (b.proof) return this.refuse(undefined, new AllotError(ErrorCode.UNAUTHORIZED, `${b.node} requires a credential, and this node has none`, { retryable: false }));
      return this.greeted(b.node, b.role, { id: b.node, roles: [b.role], verified: false });
    }
    if (!b.proof || !b.nonce) return this.refuse(undefined, new AllotError(ErrorCode.UNAUTHORIZED, `${b.node} offered no credential, and this node requires one`, { retryable: false }));
    const t: Transcript = { dialerNonce: nonce, acceptorNonce: b.nonce, dialerId: this.opts.node, acceptorId: b.node };
    const p = auth.verify(b.proof, t, "acceptor", { id: b.node, role: b.role });
    if (p instanceof AllotError) return this.refuse(undefined, p);
    this.request("auth", { proof: auth.prove(t, "dialer") }, this.opts.handshakeMs).catch((err: AllotError) =>
      this.close(CloseCode.unauthorized, `handshake refused: ${err.message}`, new AllotError(ErrorCode.UNAUTHORIZED, `${b.node} refused this node: ${err.message}`, { retryable: false })),
    );
    // The proof leaves in a frame of its own and what was held follows it: in one frame, a
    // large backlog would pass the acceptor's limit on a frame before the handshake is done.
    this.flushNow();
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) this.enqueue(e[1] as MessageType, e[2], e[3], e[5]);
    this.greeted(b.node, b.role, p);
  }

  /** The acceptor's side: a hello opens the handshake, once per connection. */
  private onHelloMsg(m: Extract<Message, { type: "hello" }>): void {
    if (this.stage !== "new") return this.refuse(m, new AllotError(ErrorCode.UNAUTHORIZED, "hello again on an open connection", { retryable: false }));
    const auth = this.opts.auth;
    if (!auth) {
      this.endHandshakeTimer();
      this.greeted(m.body.node, m.body.role, { id: m.body.node, roles: [m.body.role], verified: false });
      return this.reply(m, "welcome", { node: this.opts.node, role: this.opts.role });
    }
    if (!m.body.nonce) return this.refuse(m, new AllotError(ErrorCode.UNAUTHORIZED, "this node requires a credential: hello carried no challenge", { retryable: false }));
    const t: Transcript = { dialerNonce: m.body.nonce, acceptorNonce: newNonce(this.opts.entropy ?? realEntropy), dialerId: m.body.node, acceptorId: this.opts.node };
    this.transcript = t;
    this.stage = "proving";
    this.peerHello = m.body;
    this.reply(m, "welcome", { node: this.opts.node, role: this.opts.role, nonce: t.acceptorNonce, proof: auth.prove(t, "acceptor") });
  }

  private peerHello: Bodies["hello"] | undefined;

  /** The acceptor's side: the dialler's proof, answering our challenge. */
  private onAuth(m: Extract<Message, { type: "auth" }>): void {
    const auth = this.opts.auth;
    const t = this.transcript;
    const hello = this.peerHello;
    if (this.stage !== "proving" || !auth || !t || !hello) return this.refuse(m, new AllotError(ErrorCode.UNAUTHORIZED, "auth out of turn", { retryable: false }));
    const p = auth.verify(m.body.proof, t, "dialer", { id: hello.node, role: hello.role });
    if (p instanceof AllotError) return this.refuse(m, p);
    this.endHandshakeTimer();
    this.transcript = undefined;
    this.peerHello = undefined;
    this.greeted(hello.node, hello.role, p);
    this.enqueue("ack", this.nextId++, m.id, {}); // never admitted, so not among the requests being answered
  }

  private endHandshakeTimer(): void {
    this.handshakeTimer?.();
    this.handshakeTimer = undefined;
  }

  private enqueue(type: MessageType, id: number, re: number, body: unknown, client?: ClientRef): void {
    if (this.closed) return;
    const e: WireEnvelope = client === undefined ? [PROTOCOL_VERSION, type, id, re, this.opts.node, body] : [PROTOCOL_VERSION, type, id, re, this.opts.node, body, client];
    if (this.held && !HANDSHAKE_TYPES.has(type)) {
      this.held.push(e);
      return;
    }
    this.queue.push(e);
    // A full batch leaves at once, so the peer starts on it while this side is still producing:
    // with two processes on two cores, one giant frame per turn would make them take turns.
    if (this.queue.length >= MAX_BATCH) {
      const batch = this.queue;
      this.queue = [];
      this.writeBatch(batch);
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.timers.defer(() => this.flush());
    }
  }

  /**
   * Writes everything queued so far as one frame now, instead of at the end of the event-loop
   * turn: an actor calls it after a batch, saving a loop iteration of latency per hop.
   */
  flushNow(): void {
    if (this.queue.length === 0 || this.closed) return;
    const batch = this.queue;
    this.queue = [];
    this.writeBatch(batch);
  }

  /** Writes everything queued this turn as one frame: system calls, not encoding, dominate here. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0 || this.closed) return;
    const batch = this.queue;
    this.queue = [];
    this.writeBatch(batch);
  }

  private writeBatch(batch: WireEnvelope[]): void {
    let frame: Uint8Array;
    try {
      frame = encodeFrame(batch, this.opts.now());
    } catch (err) {
      // A body that cannot be encoded must cost only its own envelope: this runs from a timer,
      // where a throw would end the process.
      const why = err instanceof Error ? err.message : String(err);
      return this.splitOrRefuse(batch, (type) => {
        this.warn({ peer: this.label(), type, err: why }, "message could not be encoded");
        return new AllotError(ErrorCode.INTERNAL, `${type} could not be encoded: ${why}`, { retryable: false });
      });
    }
    if (frame.length <= this.opts.maxFrameBytes) {
      this.framesOut++;
      const c = this.opts.counters;
      if (c) {
        c.framesOut++;
        c.bytesOut += frame.length;
        c.envelopesOut += batch.length;
      }
      this.wire.send(frame);
      this.checkBuffered();
      return;
    }
    const size = frame.length;
    this.splitOrRefuse(batch, (type) => new AllotError(ErrorCode.BAD_FRAME, `${type} of ${size} bytes exceeds the ${this.opts.maxFrameBytes}-byte frame limit`, { retryable: false }));
  }

  /**
   * Writes a batch that could not go as one frame in halves; a single envelope is answered with
   * `refusal` instead (a request of ours fails with it), so the culprit costs only itself.
   */
  private splitOrRefuse(batch: WireEnvelope[], refusal: (type: string) => AllotError): void {
    if (batch.length > 1) {
      const mid = batch.length >> 1;
      this.writeBatch(batch.slice(0, mid));
      this.writeBatch(batch.slice(mid));
      return;
    }
    const [, type, id, re] = batch[0] as WireEnvelope;
    const err = refusal(type);
    if (re > 0) this.writeBatch([[PROTOCOL_VERSION, "error", id, re, this.opts.node, err.toWire()]]);
    else this.settle(id, undefined, err);
  }

  /** Backpressure: past the soft cap stop reading the peer, past the hard cap drop it. */
  private checkBuffered(): void {
    const buffered = this.wire.bufferedAmount;
    if (buffered <= this.pauseAt || this.closed) return;
    if (buffered > this.closeAt) {
      if (this.opts.counters) this.opts.counters.closedNotReading++;
      this.warn({ peer: this.label(), addr: this.remoteAddress, buffered }, "peer does not read; closing");
      // Not close(): flushing more into a buffer the peer does not read would only grow it.
      const reason = `peer does not read: ${buffered} bytes buffered`;
      this.wire.close(CloseCode.notReading, reason);
      this.shutdown(new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.label()} closed: ${reason}`));
      return;
    }
    if (this.parked) return;
    if (this.opts.counters) this.opts.counters.readsPaused++;
    this.opts.log.debug({ peer: this.label(), buffered }, "peer reads slowly; pausing");
    this.parked = [];
    this.wire.pause();
    this.stopDrainWatch = onTick(DRAIN_MS, () => this.drainCheck(), this.timers);
  }

  private drainCheck(): void {
    if (this.closed || this.wire.bufferedAmount > this.pauseAt >> 1) return;
    this.stopDrainWatch?.();
    this.stopDrainWatch = undefined;
    const parked = this.parked ?? [];
    this.parked = undefined;
    this.wire.resume();
    // Handling a parked frame may fill the buffer again: onFrame then parks the rest anew, in order.
    for (const b of parked) {
      if (this.closed) return;
      this.onFrame(b);
    }
  }

  private onFrame(bytes: Uint8Array): void {
    // Any frame at all shows the peer alive: the traffic that flows anyway is the heartbeat.
    this.detector.lastHeard = this.opts.now();
    // Paused: the socket is no longer read, but what ws had already read still arrives.
    if (this.parked) {
      this.parked.push(bytes);
      return;
    }
    this.framesIn++;
    // A stranger gets a few KB of our attention until it has said who it is.
    const beforeHello = this.opts.maxFrameBytesBeforeHello ?? MAX_FRAME_BYTES_BEFORE_HELLO;
    if (!this.opts.dialer && this.peerId === "" && bytes.length > beforeHello) {
      if (this.opts.counters) this.opts.counters.closedOversizeBeforeHello++;
      this.warn({ addr: this.remoteAddress, bytes: bytes.length }, "frame before hello too big; closing");
      this.close(CloseCode.tooBig, `frame of ${bytes.length} bytes before hello exceeds ${beforeHello}`);
      return;
    }
    if (bytes.length > this.opts.maxFrameBytes) {
      this.sendNotice(new AllotError(ErrorCode.BAD_FRAME, `frame of ${bytes.length} bytes exceeds ${this.opts.maxFrameBytes}`));
      return;
    }
    let items: Array<Message | OpaqueMessage | Rejected>;
    try {
      items = decodeFrame(bytes, this.opaqueFilter, this.opts.now());
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.warn({ peer: this.label(), addr: this.remoteAddress, err: err.message }, "bad frame");
      this.sendNotice(new AllotError(ErrorCode.BAD_FRAME, err.message));
      return;
    }
    const c = this.opts.counters;
    if (c) {
      c.framesIn++;
      c.bytesIn += bytes.length;
      c.envelopesIn += items.length;
    }
    for (const item of items) {
      if (this.closed) return;
      if (isRejected(item)) this.onRejected(item);
      else this.onMessage(item);
    }
  }

  private onRejected(r: Rejected): void {
    if (this.opts.counters) this.opts.counters.rejected++;
    this.warn({ peer: this.label(), code: r.error.code, err: r.error.message }, "rejected message");
    if (r.re > 0) this.settle(r.re, undefined, r.error);
    else if (r.id > 0) this.enqueue("error", this.nextId++, r.id, r.error.toWire());
    else this.sendNotice(r.error);
  }

  /** Leaves undecoded the answers to forwarded requests and the requests the node forwards. */
  private readonly opaqueFilter = (type: MessageType, re: number): boolean => {
    if (re > 0) return this.pending.get(re)?.raw === true;
    const p = this.principal;
    if (CHANNEL_TYPES.has(type) || p === undefined) return false;
    // A client's own request stays unread too: its client is stamped in the header (see admit).
    return this.opts.opaque?.(type, this) === true;
  };

  private onMessage(m: Inbound): void {
    if (m.re > 0) {
      this.settle(m.re, m, undefined);
      return;
    }
    if (isOpaque(m)) return this.admit(m);
    if (m.type === "error") {
      this.warn({ peer: this.label(), code: m.body.code, err: m.body.message }, "peer reported an error");
      return;
    }
    if (m.type === "ping") return this.reply(m, "pong", {});
    if (m.type === "hello") {
      if (this.opts.dialer) return this.refuse(m, new AllotError(ErrorCode.UNAUTHORIZED, "hello to the side that dialled", { retryable: false }));
      return this.onHelloMsg(m);
    }
    if (m.type === "auth") {
      if (this.opts.dialer) return this.refuse(m, new AllotError(ErrorCode.UNAUTHORIZED, "auth to the side that dialled", { retryable: false }));
      return this.onAuth(m);
    }
    this.admit(m);
  }

  /**
   * The one place a message is let through to the role: only after the handshake, only a type
   * the peer's principal may send (and a report only for its own id), and a client's request
   * names the client the handshake verified.
   */
  private admit(m: Inbound): void {
    const p = this.principal;
    if (p === undefined) {
      if (this.opts.dialer && !this.opts.auth) return this.deliver(m); // a peer we dialled, before its welcome, as before
      // With credentials, anything before the proof ends the connection; without, a hello may still follow.
      const err = new AllotError(ErrorCode.UNAUTHORIZED, this.stage === "proving" ? "prove who you are first (auth)" : "say hello first", { retryable: false });
      return this.opts.auth ? this.refuse(m, err) : this.replyError(m, err);
    }
    const no = refusal(p, this.opts.role, m.type, isOpaque(m) ? undefined : m.body);
    if (no) {
      if (this.opts.counters) this.opts.counters.unauthorized++;
      if (this.opts.onRefused) this.opts.onRefused(this, no, false);
      else this.opts.log.debug({ peer: this.label(), type: m.type, err: no.message }, "message refused");
      return this.replyError(m, no);
    }
    if (CLIENT_REQUESTS.has(m.type)) this.stampClient(m, p);
    this.deliver(m);
  }

  /**
   * Who a request of CLIENT_REQUESTS is for. From a client itself: the id it proved and the
   * address it is seen at, in the header (whatever header or body it sent), so the hops after
   * this one carry it on without decoding the body. From a forwarder: the header client it
   * carried, or (none) the body's. A read body is made to name that client, so the role reads
   * one place.
   */
  private stampClient(m: Inbound, p: Principal): void {
    if (!speaksForOthers(p)) m.client = { id: p.id, addr: this.remoteAddress };
    const c = m.client;
    if (c === undefined || isOpaque(m)) return;
    if (m.type === "task.place" || m.type === "task.placeBatch" || m.type === "lease.request" || m.type === "lease.release") {
      m.body.client.id = c.id;
      m.body.client.addr = c.addr;
    }
  }

  private deliver(m: Inbound): void {
    if (m.id === 0) return this.opts.onMessage(m, this); // a notice: nothing will answer it
    if (this.answering.size >= this.opts.maxInFlight) {
      return this.replyError(m, new AllotError(ErrorCode.OVERLOADED, `more than ${this.opts.maxInFlight} requests in flight on this connection`));
    }
    // A second request under an id still in flight would count once against the limit and leave
    // one of the two unanswered: the peer is told, and the first keeps the id.
    if (this.answering.has(m.id)) {
      // Sent past answerWith, which would take the id off the first request and leave it unanswered.
      return this.enqueue("error", this.nextId++, m.id, new AllotError(ErrorCode.INVALID, `request id ${m.id} is already in flight on this connection`).toWire());
    }
    this.answering.add(m.id);
    this.opts.onMessage(m, this);
  }

  private settle(id: number, m: Inbound | undefined, err: AllotError | undefined): void {
    const p = this.pending.get(id);
    if (!p) {
      // Its request timed out already: the caller has its TIMEOUT and has moved on.
      if (m !== undefined) {
        if (this.opts.counters) this.opts.counters.lateAnswers++;
        this.warn({ peer: this.label(), re: id, type: m.type }, "answer to a request no longer waited for; dropped");
      }
      return;
    }
    this.pending.delete(id);
    if (isUpkeep(p.type)) this.upkeep--;
    if (err) p.done(err, undefined);
    else if (m && p.raw) p.done(undefined, m);
    else if (m?.type === "error" && !isOpaque(m)) p.done(AllotError.fromWire(m.body), undefined);
    else if (m) p.done(undefined, m);
  }

  private sendNotice(err: AllotError): void {
    this.enqueue("error", 0, 0, err.toWire());
  }

  private sweep(): void {
    const now = this.opts.now();
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        if (isUpkeep(p.type)) this.upkeep--;
        p.done(new AllotError(ErrorCode.TIMEOUT, `${p.type} to ${this.label()} got no answer in time`), undefined);
      }
    }
    if (this.pending.size === 0 && this.stopSweep !== undefined) {
      this.stopSweep();
      this.stopSweep = undefined;
    }
  }

  private heartbeat(): void {
    if (this.closed) return;
    const now = this.opts.now();
    // While we do not read the peer (backpressure), its silence would be ours.
    const verdict = this.detector.tick(now, this.parked !== undefined);
    if (verdict === "ping") {
      this.detector.pinged(now);
      // The verdict is the detector's; this deadline only bounds the pending entry.
      this.request("ping", {}, this.detector.silenceMs * 4).then(
        () => this.detector.answered(),
        () => this.detector.answered(),
      );
    } else if (verdict === "silent") {
      if (this.opts.counters) this.opts.counters.closedSilent++;
      const quiet = this.detector.quietFor(now);
      this.warn({ peer: this.label(), addr: this.remoteAddress, silentMs: quiet }, "peer silent; closing");
      this.close(CloseCode.heartbeatTimeout, `peer silent for ${quiet} ms`, new AllotError(ErrorCode.UNREACHABLE, `${this.label()} fell silent: nothing heard for ${quiet} ms`));
    }
  }

  private onWireClose(code: number, reason: string): void {
    this.shutdown(new AllotError(ErrorCode.UNREACHABLE, `connection to ${this.label()} lost (${code}${reason ? ` ${reason}` : ""})`));
  }

  private shutdown(err: AllotError): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSweep?.();
    this.stopSweep = undefined;
    this.stopHeartbeat?.();
    this.stopHeartbeat = undefined;
    this.handshakeTimer?.();
    this.handshakeTimer = undefined;
    this.stopDrainWatch?.();
    this.stopDrainWatch = undefined;
    this.parked = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.upkeep = 0;
    this.answering.clear();
    this.queue = [];
    for (const p of pending) p.done(err, undefined);
    this.opts.onClose?.(this, err);
  }
}

/** Requests a channel makes to keep its link up, not on any caller's behalf. */
function isUpkeep(type: MessageType): boolean {
  return type === "ping" || type === "hello" || type === "auth";
}
