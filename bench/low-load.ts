// The raw chain beside the tiered path at one task in flight: the placement goes client → hop →
// hop → hop → hop (which answers, as a tier-2 does) and back through the same hops, then the run
// goes from the client to an echo server and back: the tiered path's hops and processes, with
// plain ws + msgpackr and nothing else. At one task in flight this is latency, not throughput.
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";
import { RawLink, packr } from "./raw-link.js";
import type { LoopOptions } from "./direct-link.js";

/** Placement hops, as on the tiered path: vip, tier-1, vip forward; tier-2 answers. */
export const RAW_HOPS = 4;

const script = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

/** A link to the raw echo server, whose requests and answers are `[id, body]`. */
async function echoLink(url: string): Promise<{ ws: WebSocket; run(id: number, body: unknown): Promise<unknown> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  const waiting = new Map<number, (body: unknown) => void>();
  ws.on("message", (data: Buffer) => {
    const [id, body] = packr.unpack(data) as [number, unknown];
    const done = waiting.get(id);
    waiting.delete(id);
    done?.(body);
  });
  ws.on("error", () => {});
  return {
    ws,
    run: (id, body) =>
      new Promise((resolve) => {
        waiting.set(id, resolve);
        ws.send(packr.pack([id, body]));
      }),
  };
}

/** The raw chain, `o.inFlight` tasks at a time (the row uses one). */
export async function rawHopChain(o: LoopOptions): Promise<Figure> {
  const procs: Proc[] = [];
  let first: RawLink | undefined;
  let echo: WebSocket | undefined;
  try {
    const server = await spawnReady([], script("raw-echo-server"));
    procs.push(server);
    // Started from the far end, so that each hop can connect to the next before it says ready.
    let next = await spawnReady(["answer", server.url], script("raw-hop"));
    procs.push(next);
    for (let h = 1; h < RAW_HOPS; h++) {
      next = await spawnReady(["forward", next.url], script("raw-hop"));
      procs.push(next);
    }
    const chain = await RawLink.open(next.url);
    first = chain;
    const link = await echoLink(server.url);
    echo = link.ws;
    const client = { id: o.benchId, addr: "" };
    const prefix = `raw-${Date.now().toString(36)}`;
    return await closedLoop(`raw chain: ws+msgpackr, client → ${RAW_HOPS} hops → client → echo server, ${o.inFlight} in flight`, o.inFlight, o.seconds, o.warmup, async (i) => {
      const id = `${prefix}-${i.toString(36)}`;
      const task = { id, key: id, app: "echo", deadline: Date.now() + 30_000, require: [], clientAttrs: {}, prefs: {}, payload: null };
      const placed = (await chain.request("place", { task, client })) as { taskId: string; ticket: string };
      return link.run(i, { taskId: placed.taskId, key: id, app: "echo", ticket: placed.ticket, payload: { i } });
    });
  } finally {
    first?.close();
    echo?.close();
    killAll(procs);
  }
}
