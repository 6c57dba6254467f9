import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import type { ServerStatusRow } from "../../src/protocol/index.js";
import { rawHandshake } from "../helpers/credentials.js";
import { authedProbe } from "../helpers/authed-probe.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

// Hostile probes of one app server that holds a valid credential (it may report for its own id)
// against a real tier-2 with honest servers: what it sends must cost the others nothing.

const { track, raws, keys, authed } = authedProbe();
const rows = (n: RunningNode): ServerStatusRow[] => n.stats().servers as ServerStatusRow[];

/** A raw connection proven as app server `id`. */
async function rawApp(url: string, id: string): Promise<RawClient> {
  const r = await RawClient.open(url, id);
  raws.push(r);
  const { answer } = await rawHandshake(r, "app", keys.issue(["app"], id), keys.pub);
  if (answer.type !== "ack") throw new Error(`handshake as ${id} answered ${answer.type}`);
  return r;
}

const report = (id: string, attrs: Record<string, string>) => ({ server: { id, url: "ws://127.0.0.1:1", apps: ["echo"], capacity: 10, power: 1, load: 0, attrs, version: [1, 1] } });

describe("probe: one app server at the protocol's bounds", () => {
  it("a report near the frame limit does not keep the honest servers' entries from a tier-2's peer", async () => {
    const a = await track(startNode({ ...authed("tier2", "pp-t2a"), role: "tier2" }));
    // Alone, its entry fits a frame (it came in one); with the others in one peer.sync it did not, and the whole message failed.
    const evil = await rawApp(a.url, "pp-evil");
    expect((await evil.call("server.report", report("pp-evil", { big: "x".repeat(4_000_000) }), 10_000)).type).toBe("ack");
    for (let i = 0; i < 20; i++) {
      const h = await rawApp(a.url, `pp-h${i}`);
      expect((await h.call("server.report", report(`pp-h${i}`, { region: "eu", note: "y".repeat(10_000) }), 10_000)).type).toBe("ack");
    }
    // A peer that comes up now is sent the whole table.
    const b = await track(startNode({ ...authed("tier2", "pp-t2b"), role: "tier2", peers: [a.url] }));
    await eventually(() => rows(b).length === 21, 10_000, "the peer to hold every entry");
    expect(rows(b).map((r) => r.id).sort()).toEqual(rows(a).map((r) => r.id).sort());
  }, 30_000);
});
