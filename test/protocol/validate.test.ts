import { describe, expect, it } from "vitest";
import { ErrorCode, PROTOCOL_VERSION, isRejected, toMessage } from "../../src/protocol/index.js";
import type { ErrorCode as Code, Message, MessageType, Rejected, ServerReport, Task } from "../../src/protocol/index.js";

/** The wire form of one envelope, as decodeFrame hands it to toMessage. */
const wire = (type: unknown, body: unknown, id = 7, re = 0, v: unknown = PROTOCOL_VERSION, from: unknown = "n1"): unknown[] => [
  v,
  type,
  id,
  re,
  from,
  body,
];

const task = (over: Record<string, unknown> = {}): Task & Record<string, unknown> => ({
  id: "t1",
  key: "k1",
  app: "echo",
  deadline: 1_700_000_000_000,
  require: [{ key: "region", op: "=", value: "eu" }],
  clientAttrs: { tier: "gold" },
  prefs: { gpu: true },
  payload: { n: 1, list: [1, "two", null, false], nested: { deep: [{ x: 1.5 }] } },
  ...over,
});

const report = (over: Record<string, unknown> = {}): ServerReport & Record<string, unknown> => ({
  id: "s1",
  url: "ws://127.0.0.1:4000",
  apps: ["echo", "hash"],
  capacity: 4,
  power: 2.5,
  load: 1,
  attrs: { region: "eu", gpu: true, cores: 8 },
  version: [1, 3],
  ...over,
});

const VALID: { [K in MessageType]: Record<string, unknown> } = {
  hello: { node: "a1", role: "app" },
  welcome: { node: "d2", role: "tier2" },
  auth: { proof: { claim: { roles: ["app"], id: "a1", expires: 1, key: new Uint8Array(32) }, claimSig: new Uint8Array(64), sig: new Uint8Array(64) } },
  ping: {},
  pong: {},
  ack: {},
  error: { code: "NO_SERVER", message: "none fits", retryable: true },
  "task.place": {
    task: task({
      require: [
        { key: "region", op: "=", value: "eu" },
        { key: "cores", op: "in", value: [8, "16", true] },
      ],
      prefer: [
        { key: "region", op: "in", value: ["eu", "us"], weight: 2 },
        { key: "power", op: ">=", value: 4, weight: 0.5 },
        { key: "label", op: "!=", value: "canary", weight: 0 },
      ],
    }),
    client: { id: "c1", addr: "127.0.0.1:5555" },
    avoid: ["s-silent", "s-gone"],
  },
  "task.placed": { taskId: "t1", serverId: "s1", serverUrl: "ws://127.0.0.1:4000", ticket: "K1" },
  "task.expect": { taskId: "t1", key: "k1", ticket: "K1", client: { id: "c1", addr: "127.0.0.1:5555" }, expiresAt: 1_700_000_000_500 },
  "task.expected": { load: 2, version: [1, 4] },
  "task.run": { taskId: "t1", key: "k1", app: "echo", ticket: "K1", payload: [1, { a: "b" }], deadline: 1_700_000_000_900, attempt: 2 },
  "task.cancel": { taskId: "t1", ticket: "K1" },
  "task.result": { taskId: "t1", serverId: "s1", result: { digest: "abc" }, cached: false },
  "server.report": { server: report(), relay: true },
  "server.load": { id: "s1", load: 2, version: [1, 7], relay: true },
  "status.get": {},
  "server.drain": { id: "app-1" },
  "server.leave": { id: "app-1" },
  "attrs.set": { table: "server", id: "s1", attrs: { region: "us", gpu: true, power: 8, capacity: 16 } },
  "attrs.unset": { table: "client", id: "c1", keys: ["region", "power"] },
  "peer.sync": { servers: [report(), report({ id: "s2" })], slaves: [report({ id: "sl1", apps: ["slave"] })] },
  "peer.keys": { keys: [{ client: "c1", key: "k1", server: "s1", ttlMs: 300_000 }] },
  status: { role: "master", node: "d2", deadRetentionMs: 300_000, servers: [{ ...report(), status: "suspect", reserved: 1, ageMs: 1500 }], slaves: [{ ...report({ id: "sl1" }), status: "alive", reserved: 0, ageMs: 3 }] },
  "placement.explain": { task: task(), client: "c1" },
  explanation: {
    app: "echo",
    policy: "most-idle",
    offering: 3,
    live: 2,
    eligible: 1,
    removedBy: { status: 1, "region=eu": 1, full: 0 },
    maxScore: 1,
    candidates: [{ id: "s1", rank: 1, score: 1, load: 0, reserved: 0, capacity: 4, free: 4, power: 1, idlePower: 1, chosen: true }],
    chosen: "s1",
    reason: "server s1 wins",
    retryable: false,
  },
  "slave.picked": { taskId: "t1", slaveId: "sl1", slaveUrl: "ws://127.0.0.1:4100", pick: "P1" },
  "task.submit": { task: task(), pick: "P1" },
  "server.request": { task: task(), client: { id: "c1", addr: "127.0.0.1:5555" }, metrics: { queue: 3, cost: 2.5, version: [7, 9] }, pick: "P1" },
  "task.placeBatch": { tasks: [{ task: task() }, { task: task({ id: "t2" }), avoid: ["s1"] }], client: { id: "c1", addr: "127.0.0.1:5555" } },
  "task.placedBatch": { results: [{ taskId: "t1", serverId: "s1", serverUrl: "ws://127.0.0.1:4000", ticket: "T" }, { taskId: "t2", error: { code: "NO_SERVER", message: "none fits", retryable: false } }] },
  "task.expectBatch": { expects: [{ taskId: "t1", key: "k1", ticket: "T", client: { id: "c1", addr: "" }, expiresAt: 1_700_000_000_000 }] },
  "task.expectedBatch": { load: 2, version: [1, 2], refused: [{ at: 0, error: { code: "OVERLOADED", message: "full", retryable: true } }] },
  "lease.request": { class: { app: "echo", require: [], clientAttrs: {}, prefs: {} }, slots: 4, ttlMs: 60_000, client: { id: "c1", addr: "" }, renew: ["L1"] },
  "lease.granted": { leases: [{ leaseId: "L1", serverId: "s1", serverUrl: "ws://127.0.0.1:4000", slots: 4, ticket: "T", expiresAt: 1_700_000_000_000 }] },
  "lease.grant": { leaseId: "L1", client: { id: "c1", addr: "" }, slots: 4, ticket: "T", expiresAt: 1_700_000_000_000 },
  "lease.revoke": { leaseId: "L1" },
  "lease.release": { leases: ["L1"], client: { id: "c1", addr: "" } },
  "server.requestBatch": {
    requests: [
      { task: task(), client: { id: "c1", addr: "127.0.0.1:5555" }, metrics: { queue: 3, version: [7, 9] }, pick: "P1" },
      { task: task({ id: "t2" }), client: { id: "c2", addr: "" }, metrics: { queue: 4, cost: 1, version: [7, 10] }, avoid: ["s1"] },
    ],
  },
  "server.placedBatch": {
    results: [
      { taskId: "t1", serverId: "s1", serverUrl: "ws://127.0.0.1:4000", ticket: "K1", announce: true },
      { taskId: "t2", error: { code: "NO_SERVER", message: "all at capacity", retryable: true } },
    ],
  },
};

function accepted(raw: unknown): Message {
  const out = toMessage(raw);
  if (isRejected(out)) throw new Error(`expected a message, got ${out.error.code}: ${out.error.message}`);
  return out;
}

function rejected(raw: unknown, code: Code): Rejected {
  const out = toMessage(raw);
  if (!isRejected(out)) throw new Error(`expected a rejection with ${code}, got a ${out.type} message`);
  expect(out.error.code).toBe(code);
  return out;
}

/** `depth` arrays wrapped around a number. */
function nested(depth: number): unknown {
  let x: unknown = 0;
  for (let i = 0; i < depth; i++) x = [x];
  return x;
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe("protocol/validate", () => {
  describe("toMessage", () => {
    it.each(Object.entries(VALID))("accepts a valid %s envelope and keeps its body", (type, body) => {
      const m = accepted(wire(type, body, 9, 4));
      expect(m).toEqual({ v: PROTOCOL_VERSION, type, id: 9, re: 4, from: "n1", body });
    });

    it("accepts ping, pong, error, server.report and server.load without ids (notices), and no other type", () => {
      for (const type of ["ping", "pong", "error", "server.report", "server.load"] as const) {
        const m = accepted(wire(type, VALID[type], 0, 0));
        expect([m.id, m.re]).toEqual([0, 0]);
      }
      for (const type of ["task.place", "task.run", "attrs.set", "peer.sync"] as const) {
        const r = toMessage(wire(type, VALID[type], 0, 0));
        expect(isRejected(r) && r.error.code).toBe("BAD_FRAME");
      }
    });

    it("accepts an answer whose own id is 0 when it answers a request", () => {
      const m = accepted(wire("ack", {}, 0, 12));
      expect([m.id, m.re]).toEqual([0, 12]);
    });

    it("accepts a null-prototype body and payload", () => {
      const body = Object.assign(Object.create(null) as Record<string, unknown>, VALID["task.run"]);
      body.payload = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
      expect(accepted(wire("task.run", body)).type).toBe("task.run");
    });

    it("accepts bytes in a payload", () => {
      const m = accepted(wire("task.run", { ...VALID["task.run"], payload: { bin: new Uint8Array([1, 2, 3]) } }));
      expect(m.type === "task.run" && m.body.payload).toEqual({ bin: new Uint8Array([1, 2, 3]) });
    });

    it("accepts a payload nested well within the depth limit", () => {
      expect(accepted(wire("task.run", { ...VALID["task.run"], payload: nested(16) })).type).toBe("task.run");
    });

    it.each([
      ["a string", "hello"],
      ["null", null],
      ["an object", { v: 1, type: "ping" }],
      ["a 5-array", [PROTOCOL_VERSION, "ping", 1, 0, "n1"]],
      ["an 8-array", [PROTOCOL_VERSION, "ping", 1, 0, "n1", {}, ["c1", ""], "extra"]],
    ])("rejects %s with BAD_FRAME", (_what, raw) => {
      const r = rejected(raw, ErrorCode.BAD_FRAME);
      expect([r.id, r.re]).toEqual([0, 0]);
    });

    it("rejects a request without a positive integer id with BAD_FRAME", () => {
      for (const rid of [0, -1, 1.5, "7", null]) rejected(wire("hello", VALID.hello, rid as number), ErrorCode.BAD_FRAME);
    });

    it("rejects another protocol version with VERSION_MISMATCH and keeps the ids to answer it", () => {
      for (const v of [PROTOCOL_VERSION + 1, 0, "1", null]) {
        const r = rejected(wire("hello", VALID.hello, 42, 5, v), ErrorCode.VERSION_MISMATCH);
        expect([r.id, r.re]).toEqual([42, 5]);
        expect(r.error.message).toContain(String(PROTOCOL_VERSION));
      }
    });

    it("rejects an unknown type with UNKNOWN_TYPE and keeps the id", () => {
      for (const type of ["task.nope", "", "__proto__", "toString", "constructor", 42, null]) {
        const r = rejected(wire(type, {}, 31), ErrorCode.UNKNOWN_TYPE);
        expect(r.id).toBe(31);
      }
    });

    it("rejects a sender that is not a string with INVALID", () => {
      const r = rejected(wire("hello", VALID.hello, 3, 0, PROTOCOL_VERSION, 17), ErrorCode.INVALID);
      expect(r.error.message).toContain("from");
      rejected(wire("hello", VALID.hello, 3, 0, PROTOCOL_VERSION, "x".repeat(257)), ErrorCode.INVALID);
    });

    it("rejects a body that is not a plain object with INVALID", () => {
      for (const body of [null, [], "body", 1, new Date(0)]) {
        const r = rejected(wire("ping", body), ErrorCode.INVALID);
        expect(r.error.message).toContain("body");
        expect(r.id).toBe(7);
      }
    });

    it.each<[string, MessageType, Record<string, unknown>, string]>([
      ["hello without node", "hello", { role: "app" }, "node"],
      ["hello with an empty node", "hello", { node: "", role: "app" }, "node"],
      ["hello with an unknown role", "hello", { node: "a", role: "boss" }, "role"],
      ["hello with a short nonce", "hello", { node: "a", role: "app", nonce: new Uint8Array(8) }, "nonce"],
      ["auth whose claim names both an id and a prefix", "auth", { proof: { claim: { roles: ["app"], id: "a", idPrefix: "b", expires: 1, key: new Uint8Array(32) }, claimSig: new Uint8Array(64), sig: new Uint8Array(64) } }, "proof.claim"],
      ["auth whose claim grants an unknown role", "auth", { proof: { claim: { roles: ["root"], id: "a", expires: 1, key: new Uint8Array(32) }, claimSig: new Uint8Array(64), sig: new Uint8Array(64) } }, "proof.claim.roles[0]"],
      ["welcome with a numeric node", "welcome", { node: 5, role: "vip" }, "node"],
      ["error with an unknown code", "error", { code: "NOPE", message: "m", retryable: false }, "code"],
      ["error with a string retryable", "error", { code: "INTERNAL", message: "m", retryable: "no" }, "retryable"],
      ["error without message", "error", { code: "INTERNAL", retryable: false }, "message"],
      ["task.place without task", "task.place", { client: { id: "c", addr: "a" } }, "task"],
      ["task.place with avoid not an array", "task.place", { task: task(), client: { id: "c", addr: "a" }, avoid: "s1" }, "avoid: expected an array of at most 16 server ids"],
      ["task.place with 17 servers to avoid", "task.place", { task: task(), client: { id: "c", addr: "a" }, avoid: Array.from({ length: 17 }, (_, i) => `s${i}`) }, "avoid"],
      ["task.place with an empty id to avoid", "task.place", { task: task(), client: { id: "c", addr: "a" }, avoid: ["s1", ""] }, "avoid[1]"],
      ["task.submit with a numeric id to avoid", "task.submit", { task: task(), pick: "p", avoid: [5] }, "avoid[0]"],
      ["task.place without task.id", "task.place", { task: task({ id: undefined }), client: { id: "c", addr: "a" } }, "task.id"],
      ["task.place with a string deadline", "task.place", { task: task({ deadline: "soon" }), client: { id: "c", addr: "a" } }, "task.deadline"],
      ["task.place with an infinite deadline", "task.place", { task: task({ deadline: Infinity }), client: { id: "c", addr: "a" } }, "task.deadline"],
      ["task.place with require not an array", "task.place", { task: task({ require: {} }), client: { id: "c", addr: "a" } }, "task.require"],
      ["task.place with 65 constraints", "task.place", { task: task({ require: new Array(65).fill({ key: "a", op: "=", value: 1 }) }), client: { id: "c", addr: "a" } }, "task.require"],
      ["task.place with a bad op", "task.place", { task: task({ require: [{ key: "a", op: "~", value: 1 }] }), client: { id: "c", addr: "a" } }, "task.require[0].op"],
      ["task.place with an object constraint value", "task.place", { task: task({ require: [{ key: "a", op: "=", value: {} }] }), client: { id: "c", addr: "a" } }, "task.require[0].value"],
      ["task.place with an empty constraint key", "task.place", { task: task({ require: [{ key: "", op: "=", value: 1 }] }), client: { id: "c", addr: "a" } }, "task.require[0].key"],
      ["task.place with a constraint that is not an object", "task.place", { task: task({ require: ["region=eu"] }), client: { id: "c", addr: "a" } }, "task.require[0]: expected an object"],
      ["task.place with in and a single value", "task.place", { task: task({ require: [{ key: "region", op: "in", value: "eu" }] }), client: { id: "c", addr: "a" } }, "task.require[0].value: expected a list of 1 to 256 values for in"],
      ["task.place with in and an empty list", "task.place", { task: task({ require: [{ key: "region", op: "in", value: [] }] }), client: { id: "c", addr: "a" } }, "task.require[0].value"],
      ["task.place with in and 257 values", "task.place", { task: task({ require: [{ key: "n", op: "in", value: new Array(257).fill(1) }] }), client: { id: "c", addr: "a" } }, "task.require[0].value"],
      ["task.place with in and an object in its list", "task.place", { task: task({ require: [{ key: "region", op: "in", value: ["eu", { a: 1 }] }] }), client: { id: "c", addr: "a" } }, "task.require[0].value[1]"],
      ["task.place with in and a NaN in its list", "task.place", { task: task({ require: [{ key: "n", op: "in", value: [1, NaN] }] }), client: { id: "c", addr: "a" } }, "task.require[0].value[1]"],
      ["task.place with = and a list", "task.place", { task: task({ require: [{ key: "region", op: "=", value: ["eu"] }] }), client: { id: "c", addr: "a" } }, "task.require[0].value: expected a string, finite number or boolean (a list only with in)"],
      ["task.place with prefer not an array", "task.place", { task: task({ prefer: { region: "eu" } }), client: { id: "c", addr: "a" } }, "task.prefer: expected an array of at most 64 preferences"],
      ["task.place with 65 preferences", "task.place", { task: task({ prefer: new Array(65).fill({ key: "a", op: "=", value: 1, weight: 1 }) }), client: { id: "c", addr: "a" } }, "task.prefer"],
      ["task.place with a preference without a weight", "task.place", { task: task({ prefer: [{ key: "a", op: "=", value: 1 }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].weight: expected a finite number"],
      ["task.place with a string weight", "task.place", { task: task({ prefer: [{ key: "a", op: "=", value: 1, weight: "2" }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].weight: expected a finite number"],
      ["task.place with an infinite weight", "task.place", { task: task({ prefer: [{ key: "a", op: "=", value: 1, weight: Infinity }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].weight: expected a finite number"],
      ["task.place with a NaN weight", "task.place", { task: task({ prefer: [{ key: "a", op: "=", value: 1, weight: NaN }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].weight: expected a finite number"],
      ["task.place with a negative weight", "task.place", { task: task({ prefer: [{ key: "a", op: "=", value: 1, weight: -1 }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].weight: expected a number >= 0"],
      ["task.place with a preference's bad op", "task.place", { task: task({ prefer: [{ key: "a", op: "~", value: 1, weight: 1 }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].op: expected = != >= <= > < in"],
      ["task.place with a preference's in and a single value", "task.place", { task: task({ prefer: [{ key: "a", op: "in", value: 1, weight: 1 }] }), client: { id: "c", addr: "a" } }, "task.prefer[0].value"],
      ["task.submit with a preference's empty key", "task.submit", { task: task({ prefer: [{ key: "", op: "=", value: 1, weight: 1 }] }), pick: "P" }, "task.prefer[0].key"],
      ["server.request with in and a non-array", "server.request", { task: task({ require: [{ key: "a", op: "in", value: true }] }), client: { id: "c1", addr: "" }, metrics: { queue: 0, version: [1, 1] } }, "task.require[0].value"],
      ["task.place with an object attribute", "task.place", { task: task({ clientAttrs: { zone: { a: 1 } } }), client: { id: "c", addr: "a" } }, "task.clientAttrs.zone"],
      ["task.place with a NaN preference", "task.place", { task: task({ prefs: { speed: NaN } }), client: { id: "c", addr: "a" } }, "task.prefs.speed"],
      ["task.place with an empty attribute key", "task.place", { task: task({ prefs: { "": 1 } }), client: { id: "c", addr: "a" } }, "task.prefs"],
      ["task.place without client.addr", "task.place", { task: task(), client: { id: "c" } }, "client.addr"],
      ["task.placed with a 257-char ticket", "task.placed", { ...VALID["task.placed"], ticket: "k".repeat(257) }, "ticket"],
      ["task.expect without expiresAt", "task.expect", { ...VALID["task.expect"], expiresAt: undefined }, "expiresAt"],
      ["task.expected with a negative load", "task.expected", { load: -1, version: [1, 1] }, "load"],
      ["task.expected with a fractional load", "task.expected", { load: 1.5, version: [1, 1] }, "load"],
      ["task.expected with a 1-element version", "task.expected", { load: 1, version: [1] }, "version"],
      ["task.expected with a negative incarnation", "task.expected", { load: 1, version: [-1, 0] }, "version[0]"],
      ["task.run without app", "task.run", { ...VALID["task.run"], app: undefined }, "app"],
      ["task.result with a numeric cached", "task.result", { ...VALID["task.result"], cached: 1 }, "cached"],
      ["server.request without metrics", "server.request", { task: task(), client: { id: "c1", addr: "" } }, "metrics"],
      ["server.request with a negative queue", "server.request", { task: task(), client: { id: "c1", addr: "" }, metrics: { queue: -1, version: [1, 1] } }, "metrics.queue"],
      ["server.request with a negative cost", "server.request", { task: task(), client: { id: "c1", addr: "" }, metrics: { queue: 0, cost: -2, version: [1, 1] } }, "metrics.cost"],
      ["task.submit without a pick", "task.submit", { task: task() }, "pick"],
      ["slave.picked with an empty slave id", "slave.picked", { taskId: "t1", slaveId: "", slaveUrl: "ws://x", pick: "P" }, "slaveId"],
      ["peer.sync with a bad slave entry", "peer.sync", { servers: [], slaves: [report({ capacity: 0 })] }, "slaves[0].capacity"],
      ["peer.keys with a negative ttl", "peer.keys", { keys: [{ client: "c1", key: "k1", server: "s1", ttlMs: -1 }] }, "keys[0].ttlMs"],
      ["peer.keys with a ttl past a day", "peer.keys", { keys: [{ client: "c1", key: "k1", server: "s1", ttlMs: 86_400_001 }] }, "keys[0].ttlMs"],
      ["peer.keys with an empty client", "peer.keys", { keys: [{ client: "", key: "k1", server: "s1", ttlMs: 1 }] }, "keys[0].client"],
      ["peer.keys with too many entries", "peer.keys", { keys: Array.from({ length: 1001 }, () => ({ client: "c", key: "k", server: "s", ttlMs: 1 })) }, "keys"],
      ["server.report with a string relay flag", "server.report", { server: report(), relay: "yes" }, "relay"],
      ["server.report without apps", "server.report", { server: report({ apps: [] }) }, "server.apps"],
      ["server.report with an empty app name", "server.report", { server: report({ apps: ["echo", ""] }) }, "server.apps[1]"],
      ["server.report with capacity 0", "server.report", { server: report({ capacity: 0 }) }, "server.capacity"],
      ["server.report with a fractional capacity", "server.report", { server: report({ capacity: 2.5 }) }, "server.capacity"],
      ["server.report with power 0", "server.report", { server: report({ power: 0 }) }, "server.power"],
      ["server.report with a string load", "server.report", { server: report({ load: "1" }) }, "server.load"],
      ["server.report without version", "server.report", { server: report({ version: undefined }) }, "server.version"],
      ["server.report with a string seq", "server.report", { server: report({ version: [1, "2"] }) }, "server.version[1]"],
      ["server.report with negative failures", "server.report", { server: report({ failures: -1 }) }, "server.failures"],
      ["server.report with fractional failures", "server.report", { server: report({ failures: 0.5 }) }, "server.failures"],
      ["server.report with failures past the bound", "server.report", { server: report({ failures: 1_000_001 }) }, "server.failures"],
      ["server.load without an id", "server.load", { load: 1, version: [1, 2] }, "id"],
      ["server.load with a negative load", "server.load", { id: "s1", load: -1, version: [1, 2] }, "load"],
      ["server.load with a fractional load", "server.load", { id: "s1", load: 1.5, version: [1, 2] }, "load"],
      ["server.load without version", "server.load", { id: "s1", load: 1 }, "version"],
      ["server.load with a string relay flag", "server.load", { id: "s1", load: 1, version: [1, 2], relay: "yes" }, "relay"],
    ])("rejects %s with INVALID naming the field", (_what, type, body, field) => {
      const r = rejected(wire(type, body, 11), ErrorCode.INVALID);
      expect(r.error.message).toContain(`${type}: ${field}`);
      expect(r.id).toBe(11);
    });

    const changedProto: Record<string, unknown> = {};
    // Assigning to __proto__ swaps the prototype rather than adding a key.
    (changedProto as { __proto__: object }).__proto__ = { polluted: true };

    it.each<[string, unknown]>([
      ["a Date", new Date(0)],
      ["a RegExp", /x/],
      ["a Map", new Map([["a", 1]])],
      ["a Set", new Set([1])],
      ["a class instance", new Point(1, 2)],
      ["an object whose prototype was changed through __proto__", changedProto],
      ["an object literal with a __proto__ prototype", { __proto__: { evil: 1 }, a: 1 }],
      ["an Error", new Error("x")],
      ["a function", () => 1],
      ["undefined", undefined],
      ["NaN", NaN],
      ["a bigint", 10n],
      ["a symbol", Symbol("s")],
      ["a Date inside an array", [1, new Date(0)]],
      ["a Map inside an object", { a: { b: new Map() } }],
      ["a hole in an array", [1, , 3]],
    ])("rejects a payload holding %s with INVALID", (_what, payload) => {
      const r = rejected(wire("task.run", { ...VALID["task.run"], payload }), ErrorCode.INVALID);
      expect(r.error.message).toContain("payload");
      rejected(wire("task.place", { task: task({ payload }), client: { id: "c", addr: "a" } }), ErrorCode.INVALID);
      const res = rejected(wire("task.result", { ...VALID["task.result"], result: payload }), ErrorCode.INVALID);
      expect(res.error.message).toContain("result");
    });

    it("rejects an over-deep payload with INVALID", () => {
      for (const depth of [40, 1000]) {
        const r = rejected(wire("task.run", { ...VALID["task.run"], payload: nested(depth) }), ErrorCode.INVALID);
        expect(r.error.message).toMatch(/nested/);
      }
      rejected(wire("task.result", { ...VALID["task.result"], result: { a: nested(64) } }), ErrorCode.INVALID);
    });

    it("rejects a cyclic payload with INVALID instead of recursing forever", () => {
      const cyc: Record<string, unknown> = { a: 1 };
      cyc.self = cyc;
      rejected(wire("task.run", { ...VALID["task.run"], payload: cyc }), ErrorCode.INVALID);
    });

    it("drops unknown fields at every level of a checked body", () => {
      const m = accepted(
        wire("task.place", {
          task: task({ extra: 1, require: [{ key: "a", op: "=", value: 1, note: "x" }] }),
          client: { id: "c1", addr: "a", secret: "s" },
          junk: true,
        }),
      );
      if (m.type !== "task.place") throw new Error("wrong type");
      expect(Object.keys(m.body).sort()).toEqual(["client", "task"]);
      expect(Object.keys(m.body.task).sort()).toEqual(["app", "clientAttrs", "deadline", "id", "key", "payload", "prefs", "require"]);
      expect(m.body.task.require).toEqual([{ key: "a", op: "=", value: 1 }]);
      const p = accepted(wire("task.place", { task: task({ prefer: [{ key: "a", op: "in", value: [1], weight: 2, note: "x" }] }), client: { id: "c1", addr: "a" } }));
      if (p.type !== "task.place") throw new Error("wrong type");
      expect(p.body.task.prefer).toEqual([{ key: "a", op: "in", value: [1], weight: 2 }]);
      expect(m.body.client).toEqual({ id: "c1", addr: "a" });
    });

    it("drops unknown fields of a server report and hands back a fresh body", () => {
      const body = { server: report({ admin: true }), other: 1 };
      const m = accepted(wire("server.report", body));
      if (m.type !== "server.report") throw new Error("wrong type");
      expect(m.body).toEqual({ server: report() });
      expect(m.body).not.toBe(body);
      expect(m.body.server).not.toBe(body.server);
    });

    it("gives empty bodies for ping, pong and ack whatever they carried", () => {
      for (const type of ["ping", "pong", "ack"] as const) expect(accepted(wire(type, { x: 1 })).body).toEqual({});
    });

    it("keeps or rejects an attribute named __proto__, never drops it silently", () => {
      const prefs: Record<string, unknown> = { region: "eu" };
      Object.defineProperty(prefs, "__proto__", { value: "x", enumerable: true, configurable: true, writable: true });
      const out = toMessage(wire("task.place", { task: task({ prefs }), client: { id: "c", addr: "a" } }));
      if (isRejected(out)) expect(out.error.code).toBe(ErrorCode.INVALID);
      else if (out.type === "task.place") expect(Object.keys(out.body.task.prefs).sort()).toEqual(["__proto__", "region"]);
      else throw new Error("wrong type");
    });
  });

  describe("status (each role's view)", () => {
    const link = { url: "ws://127.0.0.1:7000", id: "t2-1", state: "open", inFlight: 2, forwarded: 9 };
    const views: Record<string, Record<string, unknown>> = {
      tier2: { role: "tier2", node: "t2", servers: [{ ...report(), status: "dead", reserved: 0, ageMs: 1 }], tables: { client: [], user: [], "task-type": [] } },
      vip: { role: "vip", node: "v1", forwarded: 12, members: [link, { url: "ws://127.0.0.1:7001", state: "down", inFlight: 0, forwarded: 0 }] },
      tier1: { role: "tier1", node: "t1", forwarded: 3, policy: "sequence", members: [link] },
      slave: { role: "slave", node: "sl", link: "proxy", held: 1, capacity: 1024, received: 5, answered: 4, failovers: 0, masters: [{ url: "ws://m", state: "connecting", inFlight: 0 }], servers: [] },
      app: {
        role: "app", node: "a1", url: "ws://127.0.0.1:4000", apps: ["echo"], capacity: 4, power: 2, load: 2, runningCount: 1, expected: 1, completed: 9,
        attrs: { region: "eu" }, version: [1, 3], registrations: [link], running: [{ taskId: "t9", app: "echo", ageMs: 1200, deadline: 1_700_000_000_000, overdue: true }],
      },
    };

    it.each(Object.entries(views))("accepts a %s view and keeps it as sent", (_role, body) => {
      expect(accepted(wire("status", body)).body).toEqual(body);
    });

    it("reads an answer with no role, from a node that predates roles in status, as an allocator's", () => {
      expect(accepted(wire("status", { node: "d2", servers: [] })).body).toEqual({ role: "tier2", node: "d2", servers: [] });
      expect(accepted(wire("status", { node: "m1", servers: [], slaves: [] })).body).toMatchObject({ role: "master" });
    });

    it.each<[string, Record<string, unknown>, string]>([
      ["an unknown role", { role: "client", node: "c" }, "role"],
      ["a vip without members", { role: "vip", node: "v", forwarded: 0 }, "members"],
      ["a member in an unknown state", { ...views.vip, members: [{ ...link, state: "up" }] }, "members[0].state"],
      ["a member with a negative in-flight count", { ...views.vip, members: [{ ...link, inFlight: -1 }] }, "members[0].inFlight"],
      ["a member with a 2049-char url", { ...views.tier1, members: [{ ...link, url: "w".repeat(2049) }] }, "members[0].url"],
      ["a slave with a 33-char link mode", { ...views.slave, link: "p".repeat(33) }, "link"],
      ["a slave without masters", { ...views.slave, masters: undefined }, "masters"],
      ["an app without registrations", { ...views.app, registrations: undefined }, "registrations"],
      ["an app with 10001 running rows", { ...views.app, running: new Array(10_001).fill({ taskId: "t", app: "echo", ageMs: 0, deadline: 0, overdue: false }) }, "running: expected an array of at most 10000 running tasks"],
      ["an app with a running row without overdue", { ...views.app, running: [{ taskId: "t", app: "echo", ageMs: 0, deadline: 0 }] }, "running[0].overdue"],
      ["an app with 257 apps", { ...views.app, apps: new Array(257).fill("echo") }, "apps"],
      ["an allocator with a string retention", { ...views.tier2, deadRetentionMs: "5m" }, "deadRetentionMs"],
    ])("rejects %s with INVALID naming the field", (_what, body, field) => {
      expect(rejected(wire("status", body), ErrorCode.INVALID).error.message).toContain(`status: ${field}`);
    });
  });

  describe("attrs.set and attrs.unset (built-in fields of a server)", () => {
    it.each<[string, MessageType, Record<string, unknown>, string]>([
      ["power 0", "attrs.set", { table: "server", id: "s1", attrs: { power: 0 } }, "attrs.power: the server's power: expected a positive finite number"],
      ["a string power", "attrs.set", { table: "server", id: "s1", attrs: { power: "fast" } }, "attrs.power"],
      ["capacity 2.5", "attrs.set", { table: "server", id: "s1", attrs: { capacity: 2.5 } }, "attrs.capacity: the server's capacity: expected an integer >= 1"],
      ["capacity 0", "attrs.set", { table: "server", id: "s1", attrs: { capacity: 0 } }, "attrs.capacity"],
      ["id", "attrs.set", { table: "server", id: "s1", attrs: { id: "s2" } }, "attrs.id: id is a built-in field a constraint reads, not an attribute; it cannot be set"],
      ["app", "attrs.set", { table: "server", id: "s1", attrs: { app: "render" } }, "attrs.app: app is a built-in field"],
      ["load", "attrs.set", { table: "server", id: "s1", attrs: { load: 0 } }, "attrs.load"],
      ["free", "attrs.set", { table: "server", id: "s1", attrs: { free: 9 } }, "attrs.free"],
      ["url", "attrs.set", { table: "server", id: "s1", attrs: { url: "ws://x" } }, "attrs.url: url is a field of the server's report, not an attribute"],
      ["the removal of power", "attrs.unset", { table: "server", id: "s1", keys: ["region", "power"] }, "keys.power: the server's power is built in: it cannot be removed"],
      ["the removal of id", "attrs.unset", { table: "server", id: "s1", keys: ["id"] }, "keys.id"],
      ["no keys", "attrs.unset", { table: "server", id: "s1", keys: [] }, "keys: expected 1 to 256 attribute names"],
      ["257 keys", "attrs.unset", { table: "user", id: "u", keys: new Array(257).fill("k") }, "keys"],
      ["an empty key", "attrs.unset", { table: "user", id: "u", keys: ["a", ""] }, "keys[1]"],
      ["a __proto__ key", "attrs.unset", { table: "user", id: "u", keys: ["__proto__"] }, "keys[0]"],
      ["an unknown table", "attrs.unset", { table: "servers", id: "u", keys: ["a"] }, "table"],
    ])("refuses %s at a server with INVALID naming it", (_what, type, body, message) => {
      expect(rejected(wire(type, body), ErrorCode.INVALID).error.message).toContain(`${type}: ${message}`);
    });

    it("lets the other tables use the built-in names: they are not a server's", () => {
      expect(accepted(wire("attrs.set", { table: "task-type", id: "echo", attrs: { power: "any", id: 1 } })).type).toBe("attrs.set");
      expect(accepted(wire("attrs.unset", { table: "client", id: "c", keys: ["power", "id"] })).type).toBe("attrs.unset");
    });
  });

  describe("isRejected", () => {
    it("tells a rejection from a message", () => {
      expect(isRejected(toMessage("x"))).toBe(true);
      expect(isRejected(toMessage(wire("ping", {})))).toBe(false);
    });
  });
});
