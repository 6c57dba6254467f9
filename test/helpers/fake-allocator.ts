import { Channel, createWsTransport } from "../../src/transport/index.js";
import type { Listener } from "../../src/transport/index.js";
import type { Bodies, Message, ServerReport } from "../../src/protocol/index.js";
import { signTicket } from "../../src/actors/runtime/ticket.js";

/**
 * An allocator by hand, for tests that drive an app server's expects directly: the app server
 * joins it (its URL in `join`), it acks the reports and keeps the newest, and signs tickets with
 * the key that report carries, as a tier-2 would.
 */
export class FakeAllocator {
  report: ServerReport | undefined;
  /** Every message the app server sent on its own (requests and notices, not answers), in order. */
  readonly heard: Message[] = [];
  private ch: Channel | undefined;
  private seq = 0;

  private constructor(private readonly listener: Listener) {}

  get url(): string {
    return this.listener.url;
  }

  static async start(): Promise<FakeAllocator> {
    const transport = createWsTransport();
    let self: FakeAllocator | undefined;
    const listener = await transport.listen("127.0.0.1:0", (wire) => {
      const ch = new Channel(wire, {
        node: "fake-t2",
        role: "tier2",
        dialer: false,
        maxFrameBytes: 4 * 1024 * 1024,
        maxInFlight: 1024,
        requestTimeoutMs: 5000,
        handshakeMs: 5000,
        heartbeatMs: 0,
        now: Date.now,
        log: { warn() {}, debug() {} },
        onMessage: (m, c) => {
          if ("raw" in m) return;
          const msg = m as Message;
          self?.heard.push(msg);
          if (msg.type === "server.report" && self) {
            self.report = msg.body.server;
            self.ch = c;
            c.reply(msg, "ack", {});
          } else if (msg.type === "server.load") c.reply(msg, "ack", {});
        },
      });
      void ch;
    });
    self = new FakeAllocator(listener);
    return self;
  }

  /** Announces a ticket this allocator signed for task `n` of `client`, expiring at `expiresAt`. */
  expect(n: number, expiresAt = Date.now() + 60_000, client = "c"): Promise<Message> {
    return this.announce(n, this.sign(n, expiresAt, client), expiresAt, client);
  }

  /** A ticket for task `n` (key `k${n}`) of `client`, signed but not announced: a run may bring it first. */
  sign(n: number, expiresAt = Date.now() + 60_000, client = "c"): string {
    const r = this.report;
    if (!r?.ticketKey) throw new Error("the app server has not reported to the fake allocator yet");
    return signTicket(r.ticketKey, { taskId: `t${n}`, key: `k${n}`, serverId: r.id, client, expiresAt, issuer: "ZmFrZS10MkAw", seq: ++this.seq });
  }

  /** Announces `ticket` (from `sign`) for task `n` of `client`. */
  announce(n: number, ticket: string, expiresAt = Date.now() + 60_000, client = "c"): Promise<Message> {
    const ch = this.ch;
    if (!ch) throw new Error("the app server has not reported to the fake allocator yet");
    return ch.request("task.expect", { taskId: `t${n}`, key: `k${n}`, ticket, client: { id: client, addr: "" }, expiresAt });
  }

  /** Closes the app server's link (the listener stays): it dials again and registers anew. */
  dropLink(): void {
    this.ch?.close();
  }

  /** The expect of task `n` (key `k${n}`) of `client` with `ticket` (default: one signed now), for a batch. */
  expectOf(n: number, ticket = this.sign(n), client = "c", expiresAt = Date.now() + 60_000): Bodies["task.expect"] {
    return { taskId: `t${n}`, key: `k${n}`, ticket, client: { id: client, addr: "" }, expiresAt };
  }

  /** Announces several tickets in one `task.expectBatch`. */
  expectBatch(expects: Array<Bodies["task.expect"]>): Promise<Message> {
    const ch = this.ch;
    if (!ch) throw new Error("the app server has not reported to the fake allocator yet");
    return ch.request("task.expectBatch", { expects });
  }

  async close(): Promise<void> {
    this.ch?.close();
    await this.listener.close();
  }
}
