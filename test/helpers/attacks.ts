import { once } from "node:events";
import { WebSocket } from "ws";
import { PROTOCOL_VERSION, isRejected } from "../../src/protocol/index.js";
import { decodeFrame, encodeFrame } from "../../src/transport/codec.js";
import type { WireEnvelope } from "../../src/transport/codec.js";
import { within } from "./raw-client.js";

/** A msgpack array32 header claiming `n` elements, then `n` nils: `dd 00 3d 09 00` + 4,000,000 × `c0` at n = 4e6 (the wedge frame). */
export function nilBomb(n: number): Uint8Array {
  const b = Buffer.alloc(5 + n, 0xc0);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

/** A raw peer that says hello, then stops reading its socket while it sends requests; counts the answers it gets once it reads again. */
export class NonReader {
  answers = 0;
  closed = false;
  private readonly waiters = new Set<() => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      try {
        this.answers += decodeFrame(data).filter((m) => !isRejected(m) && m.type === "status").length;
      } catch {
        // not ours to judge here
      }
      for (const w of [...this.waiters]) w();
    });
    ws.on("close", () => {
      this.closed = true;
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(url: string): Promise<NonReader> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await within(once(ws, "open"), 5000, "the socket to open");
    const r = new NonReader(ws);
    ws.send(encodeFrame([[PROTOCOL_VERSION, "hello", 1, 0, "non-reader", { node: "non-reader", role: "client" }]]));
    return r;
  }

  /** Stops reading, then sends `n` status.get requests in frames of 256. */
  flood(n: number): void {
    this.ws.pause();
    for (let sent = 0; sent < n; ) {
      const batch: WireEnvelope[] = [];
      for (; batch.length < 256 && sent < n; sent++) batch.push([PROTOCOL_VERSION, "status.get", 2 + sent, 0, "non-reader", {}]);
      this.ws.send(encodeFrame(batch));
    }
  }

  resume(): void {
    this.ws.resume();
  }

  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!cond()) return;
          this.waiters.delete(check);
          resolve();
        };
        this.waiters.add(check);
        check();
      }),
      timeoutMs,
      what,
    );
  }

  close(): void {
    this.ws.terminate();
  }
}

