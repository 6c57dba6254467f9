// The raw master/slave chain's plumbing: a plain ws + msgpackr request/reply link (one send per
// message, nothing batched) and a listening helper. No Allot code: this is the yardstick.
import { Packr } from "msgpackr";
import { WebSocket, WebSocketServer } from "ws";

export const packr = new Packr({ useRecords: false });

/** A request is `[id, kind, body]`, its answer `[id, body]`. */
export type Answer = (body: unknown) => void;

export class RawLink {
  private next = 1;
  private readonly waiting = new Map<number, Answer>();
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const [id, body] = packr.unpack(data) as [number, unknown];
      const done = this.waiting.get(id);
      this.waiting.delete(id);
      done?.(body);
    });
    ws.on("error", () => {});
  }

  static async open(url: string): Promise<RawLink> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    return new RawLink(ws);
  }

  send(kind: string, body: unknown, done: Answer): void {
    const id = this.next++;
    this.waiting.set(id, done);
    this.ws.send(packr.pack([id, kind, body]));
  }

  request(kind: string, body: unknown): Promise<unknown> {
    return new Promise((resolve) => this.send(kind, body, resolve));
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Listens on a free loopback port; `serve(kind, body, reply)` handles each request. Prints the
 * `ready raw ID URL` line once `beforeReady` (if any) is done.
 */
export function listen(id: string, serve: (kind: string, body: unknown, reply: Answer, url: string) => void, beforeReady?: (url: string) => Promise<void>): void {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  let url = "";
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      const [rid, kind, body] = packr.unpack(data) as [number, string, unknown];
      serve(kind, body, (answer) => ws.send(packr.pack([rid, answer])), url);
    });
  });
  wss.on("listening", () => {
    const a = wss.address();
    url = `ws://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`;
    void (beforeReady ?? (() => Promise.resolve()))(url).then(() => process.stdout.write(`ready raw ${id} ${url}\n`));
  });
  process.on("SIGTERM", () => process.exit(0));
}
