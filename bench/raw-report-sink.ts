// The periodic-report baseline: a plain ws + msgpackr server that takes Allot-format frames (an
// array of [v, type, id, re, from, body-bytes] envelopes), decodes each body, keeps the newest
// body per sender in a Map, and answers only what needs an answer (hello, requests). It does
// what an allocator must do at the least, with no Allot code, as the yardstick for its cost.
import { Packr } from "msgpackr";
import { WebSocketServer } from "ws";

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const latest = new Map<string, unknown>();
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("error", () => {});
  ws.on("message", (data: Buffer) => {
    const out: unknown[] = [];
    for (const [v, type, id, re, from, body] of packr.unpack(data) as Array<[number, string, number, number, string, Buffer]>) {
      const b = packr.unpack(body) as Record<string, unknown>;
      if (re !== 0) continue;
      if (type === "hello") out.push([v, "welcome", 1, id, "sink", packr.pack({ node: "sink", role: "tier2" })]);
      else {
        latest.set(from, b);
        if (id !== 0) out.push([v, "ack", 1, id, "sink", packr.pack({})]);
      }
    }
    if (out.length > 0) ws.send(packr.pack(out));
  });
});
wss.on("listening", () => {
  const a = wss.address();
  process.stdout.write(`ready raw sink ws://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}\n`);
});
