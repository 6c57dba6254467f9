import fc from "fast-check";
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { CLAIM_ROLES, CONSTRAINT_OPS, ErrorCode, LINK_STATES, NOTICE_TYPES, PROTOCOL_VERSION, Role, checkPlainData, isRejected, serverAttrsProblem } from "../../src/protocol/index.js";
import type { AttrTable, AttrValue, Attrs, Bodies, Constraint, Envelope, LinkStatus, Message, MessageType, Preference, RunningTaskRow, ServerReport, StatusBody, Task } from "../../src/protocol/index.js";
import { FrameError, decodeFrame, encodeFrame, toWire } from "../../src/transport/codec.js";
import { noNegZero, plainPayload } from "../helpers/payload.js";

// ---- arbitraries for valid messages ---------------------------------------------------------

/**
 * msgpackr renames an object key "__proto__" to "__proto_" on decode (a test below pins down
 * what should happen to such keys); everything else a plain object can hold is generated.
 */
const safeKey = (min: number): fc.Arbitrary<string> => fc.string({ minLength: min, maxLength: 12 }).filter((k) => k !== "__proto__");

const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map(noNegZero);
const safeNat = fc.maxSafeNat();

const payload = plainPayload;

const name = fc.string({ minLength: 1, maxLength: 24 });
const attrValue: fc.Arbitrary<AttrValue> = fc.oneof(fc.string({ maxLength: 12 }), finite, fc.integer(), fc.boolean());
const attrs: fc.Arbitrary<Attrs> = fc.dictionary(safeKey(1), attrValue, { maxKeys: 4 });
const version = fc.tuple(safeNat, safeNat);
const constraint: fc.Arbitrary<Constraint> = fc.oneof(
  fc.record({ key: name, op: fc.constantFrom(...CONSTRAINT_OPS.filter((op) => op !== "in")), value: attrValue }),
  fc.record({ key: name, op: fc.constant("in" as const), value: fc.array(attrValue, { minLength: 1, maxLength: 4 }) }),
);
const preference: fc.Arbitrary<Preference> = fc
  .tuple(constraint, fc.double({ min: 0, max: 1e9, noNaN: true }).map(noNegZero))
  .map(([c, weight]) => ({ ...c, weight }));
const role = fc.constantFrom(...Object.values(Role));
const clientRef = fc.record({ id: name, addr: fc.string({ maxLength: 40 }) });

const taskArb: fc.Arbitrary<Task> = fc.record(
  {
    id: name,
    key: name,
    app: name,
    cost: fc.double({ min: 0, max: 1e9, noNaN: true }).map(noNegZero),
    deadline: finite,
    require: fc.array(constraint, { maxLength: 4 }),
    prefer: fc.array(preference, { maxLength: 3 }),
    clientAttrs: attrs,
    prefs: attrs,
    payload,
  },
  { requiredKeys: ["id", "key", "app", "deadline", "require", "clientAttrs", "prefs", "payload"] },
);

const serverArb: fc.Arbitrary<ServerReport> = fc.record({
  id: name,
  url: fc.string({ maxLength: 64 }),
  apps: fc.array(name, { minLength: 1, maxLength: 4 }),
  capacity: fc.integer({ min: 1, max: 1_000_000 }),
  power: fc.double({ min: Number.MIN_VALUE, max: 1e9, noNaN: true }),
  load: safeNat,
  attrs,
  version,
});

const statusRows = fc.array(
  fc.tuple(serverArb, fc.constantFrom("alive", "suspect", "dead", "draining") as fc.Arbitrary<"alive" | "suspect" | "dead" | "draining">, safeNat, fc.nat()).map(([s, status, reserved, ageMs]) => ({ ...s, status, reserved, ageMs })),
  { maxLength: 4 },
);

const table = fc.constantFrom("server", "client", "user", "task-type") as fc.Arbitrary<AttrTable>;
const linkArb: fc.Arbitrary<LinkStatus> = fc.record(
  { url: fc.string({ maxLength: 64 }), id: name, state: fc.constantFrom(...LINK_STATES), inFlight: safeNat, forwarded: safeNat },
  { requiredKeys: ["url", "state", "inFlight"] },
);
const links = fc.array(linkArb, { maxLength: 3 });
const runningArb: fc.Arbitrary<RunningTaskRow> = fc.record({ taskId: name, app: name, ageMs: fc.nat(), deadline: finite, overdue: fc.boolean() });
/** Every role's view: an allocator's database, a forwarder's members, a slave's links, an app server's figures. */
const statusArb: fc.Arbitrary<StatusBody> = fc.oneof(
  fc.record({ role: fc.constantFrom("tier2" as const, "master" as const), node: name, servers: statusRows, slaves: statusRows, deadRetentionMs: safeNat }, { requiredKeys: ["role", "node", "servers"] }),
  fc.record({ role: fc.constantFrom("vip" as const, "tier1" as const), node: name, forwarded: safeNat, policy: name, members: links }, { requiredKeys: ["role", "node", "forwarded", "members"] }),
  fc.record({ role: fc.constant("slave" as const), node: name, link: fc.constantFrom("proxy", "direct"), held: safeNat, capacity: safeNat, received: safeNat, answered: safeNat, failovers: safeNat, masters: links, servers: links }),
  fc.record({
    role: fc.constant("app" as const),
    node: name,
    url: fc.string({ maxLength: 64 }),
    apps: fc.array(name, { maxLength: 4 }),
    capacity: safeNat,
    power: fc.double({ min: 0, max: 1e9, noNaN: true }).map(noNegZero),
    load: safeNat,
    runningCount: safeNat,
    expected: safeNat,
    completed: safeNat,
    attrs,
    version,
    registrations: links,
    running: fc.array(runningArb, { maxLength: 3 }),
  }),
);

const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const claimArb = fc.oneof(
  fc.record({ roles: fc.uniqueArray(fc.constantFrom(...CLAIM_ROLES), { minLength: 1 }), id: name, expires: finite, key: bytesOf(32) }),
  fc.record({ roles: fc.uniqueArray(fc.constantFrom(...CLAIM_ROLES), { minLength: 1 }), idPrefix: name, expires: finite, key: bytesOf(32) }),
);
const proofArb = fc.record({ claim: claimArb, claimSig: bytesOf(64), sig: bytesOf(64) });

const BODY_ARBS: { [K in MessageType]: fc.Arbitrary<Bodies[K]> } = {
  hello: fc.record({ node: name, role, nonce: bytesOf(32) }, { requiredKeys: ["node", "role"] }),
  welcome: fc.record({ node: name, role, nonce: bytesOf(32), proof: proofArb }, { requiredKeys: ["node", "role"] }),
  auth: fc.record({ proof: proofArb }),
  ping: fc.constant({}),
  pong: fc.constant({}),
  ack: fc.constant({}),
  error: fc.record({ code: fc.constantFrom(...Object.values(ErrorCode)), message: fc.string({ maxLength: 200 }), retryable: fc.boolean() }),
  "task.place": fc.record({ task: taskArb, client: clientRef }),
  "task.placed": fc.record({ taskId: name, serverId: name, serverUrl: fc.string({ maxLength: 64 }), ticket: name, announce: fc.boolean() }, { requiredKeys: ["taskId", "serverId", "serverUrl", "ticket"] }),
  "task.expect": fc.record({ taskId: name, key: name, ticket: name, client: clientRef, expiresAt: finite }),
  "task.expected": fc.record({ load: safeNat, version }),
  "task.run": fc.record({ taskId: name, key: name, app: name, ticket: name, payload, deadline: finite, attempt: safeNat }, { requiredKeys: ["taskId", "key", "app", "ticket", "payload"] }),
  "task.cancel": fc.record({ taskId: name, ticket: name }),
  "task.result": fc.record({ taskId: name, serverId: name, result: payload, cached: fc.boolean() }),
  "server.report": fc.record({ server: serverArb }),
  "server.load": fc.record({ id: name, load: safeNat, version, relay: fc.boolean() }, { requiredKeys: ["id", "load", "version"] }),
  "status.get": fc.constant({}),
  "server.drain": fc.record({ id: name }),
  "server.leave": fc.record({ id: name }),
  // A server's own entry takes only valid built-in values; the other tables any attributes.
  "attrs.set": fc.record({ table, id: name, attrs }).filter((b) => b.table !== "server" || serverAttrsProblem(b.attrs) === undefined),
  "attrs.unset": fc.record({ table, id: name, keys: fc.array(safeKey(1), { minLength: 1, maxLength: 4 }) }).filter((b) => b.table !== "server" || serverAttrsProblem({}, b.keys) === undefined),
  "peer.sync": fc.record({ servers: fc.array(serverArb, { maxLength: 4 }), slaves: fc.array(serverArb, { maxLength: 2 }) }, { requiredKeys: ["servers"] }),
  "peer.keys": fc.record({ keys: fc.array(fc.record({ client: name, key: name, server: name, ttlMs: fc.integer({ min: 0, max: 86_400_000 }) }), { maxLength: 4 }) }),
  status: statusArb,
  "placement.explain": fc.record({ task: taskArb, client: name }, { requiredKeys: ["task"] }),
  explanation: fc.record({
    app: name,
    policy: name,
    offering: safeNat,
    live: safeNat,
    eligible: safeNat,
    removedBy: fc.dictionary(safeKey(1), safeNat, { maxKeys: 4 }),
    maxScore: fc.double({ min: 0, max: 1e9, noNaN: true }).map(noNegZero),
    candidates: fc.array(
      fc.record(
        { id: name, rank: safeNat, score: fc.nat(), load: safeNat, reserved: safeNat, capacity: safeNat, free: safeNat, power: fc.nat(), idlePower: fc.nat(), chosen: fc.boolean() },
        { requiredKeys: ["rank", "score", "load", "reserved", "capacity", "free", "power", "idlePower", "chosen"] },
      ),
      { maxLength: 3 },
    ),
    chosen: fc.option(name, { nil: null }),
    reason: fc.string({ maxLength: 200 }),
    retryable: fc.boolean(),
  }),
  "slave.picked": fc.record({ taskId: name, slaveId: name, slaveUrl: fc.string({ maxLength: 64 }), pick: name }),
  "task.submit": fc.record({ task: taskArb, pick: name }),
  "server.request": fc.record({
    task: taskArb,
    client: clientRef,
    metrics: fc.record({ queue: safeNat, cost: fc.double({ min: 0, max: 1e9, noNaN: true }).map(noNegZero), version }, { requiredKeys: ["queue", "version"] }),
    pick: name,
  }, { requiredKeys: ["task", "client", "metrics"] }),
  "task.placeBatch": fc.record({ tasks: fc.uniqueArray(fc.record({ task: taskArb, avoid: fc.array(name, { minLength: 1, maxLength: 3 }) }, { requiredKeys: ["task"] }), { minLength: 1, maxLength: 4, selector: (t) => t.task.id }), client: clientRef }),
  "task.placedBatch": fc.record({
    results: fc.array(fc.oneof(fc.record({ taskId: name, serverId: name, serverUrl: fc.string({ maxLength: 64 }), ticket: name }), fc.record({ taskId: fc.string({ maxLength: 24 }), error: fc.record({ code: fc.constant(ErrorCode.NO_SERVER), message: fc.string({ maxLength: 40 }), retryable: fc.boolean() }) })), { maxLength: 4 }),
  }),
  "task.expectBatch": fc.record({ expects: fc.array(fc.record({ taskId: name, key: name, ticket: name, client: clientRef, expiresAt: finite }), { maxLength: 4 }) }),
  "task.expectedBatch": fc.record(
    { load: safeNat, version, refused: fc.array(fc.record({ at: fc.integer({ min: 0, max: 255 }), error: fc.record({ code: fc.constant(ErrorCode.OVERLOADED), message: fc.string({ maxLength: 40 }), retryable: fc.boolean() }) }), { maxLength: 3 }) },
    { requiredKeys: ["load", "version"] },
  ),
  "lease.request": fc.record(
    { class: fc.record({ app: name, require: fc.array(constraint, { maxLength: 2 }), clientAttrs: attrs, prefs: attrs }), slots: fc.integer({ min: 1, max: 10_000 }), ttlMs: fc.integer({ min: 1, max: 3_600_000 }), client: clientRef, renew: fc.array(name, { maxLength: 3 }) },
    { requiredKeys: ["class", "slots", "ttlMs", "client"] },
  ),
  "lease.granted": fc.record({ leases: fc.array(fc.record({ leaseId: name, serverId: name, serverUrl: fc.string({ maxLength: 64 }), slots: fc.integer({ min: 1, max: 10_000 }), ticket: name, expiresAt: finite }), { maxLength: 3 }) }),
  "lease.grant": fc.record({ leaseId: name, client: clientRef, slots: fc.integer({ min: 1, max: 10_000 }), ticket: name, expiresAt: finite }),
  "lease.revoke": fc.record({ leaseId: name }),
  "lease.release": fc.record({ leases: fc.array(name, { maxLength: 3 }), client: clientRef }),
  "server.requestBatch": fc.record({
    requests: fc.array(
      fc.record({
        task: taskArb,
        client: clientRef,
        metrics: fc.record({ queue: safeNat, version }),
        pick: name,
        avoid: fc.array(name, { minLength: 1, maxLength: 3 }),
      }, { requiredKeys: ["task", "client", "metrics"] }),
      { minLength: 2, maxLength: 4 },
    ),
  }),
  "server.placedBatch": fc.record({
    results: fc.array(fc.oneof(fc.record({ taskId: name, serverId: name, serverUrl: fc.string({ maxLength: 64 }), ticket: name, announce: fc.boolean() }, { requiredKeys: ["taskId", "serverId", "serverUrl", "ticket"] }), fc.record({ taskId: name, error: fc.record({ code: fc.constantFrom(...Object.values(ErrorCode)), message: fc.string({ maxLength: 200 }), retryable: fc.boolean() }) })), { maxLength: 4 }),
  }),
};

/** Notices may have no ids; everything else carries a positive id. */
const NOTICES = NOTICE_TYPES;

function envelopeArb<T extends MessageType>(type: T): fc.Arbitrary<Envelope<T>> {
  return fc.record({
    v: fc.constant(PROTOCOL_VERSION),
    type: fc.constant(type),
    id: NOTICES.has(type) ? safeNat : fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    re: safeNat,
    from: fc.string({ maxLength: 32 }),
    body: BODY_ARBS[type],
  });
}

// Every type, from the table the type checker holds complete.
const messageArb: fc.Arbitrary<Message> = fc.oneof(...(Object.keys(BODY_ARBS) as MessageType[]).map((t) => envelopeArb(t) as fc.Arbitrary<Message>));

// ---- helpers ----------------------------------------------------------------------------------

const hello: Message = { v: PROTOCOL_VERSION, type: "hello", id: 1, re: 0, from: "a1", body: { node: "a1", role: "app" } };

/** A frame holding one envelope whose `v` or `type` is `depth` arrays deep, written byte by byte. */
function deepEnvelopeFrame(depth: number, where: "v" | "type"): Uint8Array {
  const deep = [...new Array<number>(depth).fill(0x91), 0x00];
  const v = where === "v" ? deep : [PROTOCOL_VERSION];
  const type = where === "type" ? deep : [0xa4, 0x70, 0x69, 0x6e, 0x67]; // "ping"
  return Uint8Array.from([0x91, 0x96, ...v, ...type, 0x01, 0x00, 0xa1, 0x78, 0x80]); // id 1, re 0, from "x", body {}
}

/** Decodes, letting only FrameError out; anything else thrown is returned for the assertion. */
function decodeOrFrameError(bytes: Uint8Array): unknown {
  try {
    decodeFrame(bytes);
    return undefined;
  } catch (err) {
    return err instanceof FrameError ? undefined : err;
  }
}

describe("transport/codec", () => {
  describe("encodeFrame / decodeFrame", () => {
    it("round-trips every length form: 20 envelopes (array16), bodies of 10 B, 300 B (bin16) and 70 kB (bin32), big ids", () => {
      const sizes = [10, 300, 70_000];
      const ms: Message[] = Array.from({ length: 20 }, (_, i) => ({
        v: PROTOCOL_VERSION,
        type: "task.run",
        id: [1, 200, 70_000, 2 ** 33][i % 4] as number,
        re: 0,
        from: i % 2 ? "n" : "a-node-id-longer-than-sixty-four-characters-so-it-goes-through-msgpackr-itself",
        body: { taskId: `t${i}`, key: `k${i}`, app: "echo", ticket: "K", payload: "x".repeat(sizes[i % 3] as number) },
      }));
      expect(decodeFrame(encodeFrame(ms.map(toWire)))).toEqual(ms);
    });

    it("sends points in time as the time left, so a message decoded on a clock `skew` ms away keeps its time left, and the sender's body is untouched", () => {
      /** Adds `by` to a message's point in time, if its type has one (ms are whole on every clock). */
      const shift = (m: Message, by: (t: number) => number): void => {
        if (m.type === "task.place" || m.type === "task.submit" || m.type === "server.request") m.body.task.deadline = by(m.body.task.deadline);
        else if (m.type === "task.expect") m.body.expiresAt = by(m.body.expiresAt);
        else if (m.type === "server.requestBatch") for (const r of m.body.requests) r.task.deadline = by(r.task.deadline);
        else if (m.type === "task.run" && m.body.deadline !== undefined) m.body.deadline = by(m.body.deadline);
        else if (m.type === "lease.grant") m.body.expiresAt = by(m.body.expiresAt);
        else if (m.type === "task.placeBatch") {
          for (const t of m.body.tasks) if ("task" in t) t.task.deadline = by(t.task.deadline);
        } else if (m.type === "task.expectBatch") {
          for (const e of m.body.expects) e.expiresAt = by(e.expiresAt);
        } else if (m.type === "lease.granted") {
          for (const l of m.body.leases) l.expiresAt = by(l.expiresAt);
        }
      };
      fc.assert(
        fc.property(messageArb, fc.integer({ min: 1, max: 2 ** 41 }), fc.integer({ min: -86_400_000, max: 86_400_000 }), (generated, sentAt, skew) => {
          const m = structuredClone(generated);
          // msgpack has no -0: a point in time of -0 would arrive as 0.
          shift(m, (t) => noNegZero(Math.round(t) % 2 ** 45));
          const before = structuredClone(m);
          const [got] = decodeFrame(encodeFrame([toWire(m)], sentAt), undefined, sentAt + skew);
          expect(m).toEqual(before);
          shift(before, (t) => t + skew);
          expect(got).toEqual(before);
        }),
        { numRuns: 300 },
      );
    });

    it("round-trips one message", () => {
      expect(decodeFrame(encodeFrame([toWire(hello)]))).toEqual([hello]);
    });

    it("round-trips a batch in order", () => {
      const ping: Message = { v: PROTOCOL_VERSION, type: "ping", id: 0, re: 0, from: "a1", body: {} };
      const run: Message = {
        v: PROTOCOL_VERSION,
        type: "task.run",
        id: 2 ** 40,
        re: 0,
        from: "c",
        body: { taskId: "t", key: "k", app: "echo", ticket: "K", payload: { big: 2 ** 53 - 1, neg: -(2 ** 40), f: 0.1, s: "é✓" } },
      };
      expect(decodeFrame(encodeFrame([toWire(hello), toWire(ping), toWire(run)]))).toEqual([hello, ping, run]);
    });

    it("delivers bytes in a payload as a Uint8Array with the same contents", () => {
      const m: Message = { v: PROTOCOL_VERSION, type: "task.run", id: 4, re: 0, from: "c", body: { taskId: "t", key: "k", app: "echo", ticket: "K", payload: { b: new Uint8Array([0, 7, 255]) } } };
      const [out] = decodeFrame(encodeFrame([toWire(m)]));
      if (out === undefined || isRejected(out) || out.type !== "task.run") throw new Error("expected a task.run");
      const b = (out.body.payload as { b: unknown }).b;
      expect(b).toBeInstanceOf(Uint8Array);
      expect(Array.from(b as Uint8Array)).toEqual([0, 7, 255]);
    });

    it("decodes an empty batch to no messages", () => {
      expect(decodeFrame(encodeFrame([]))).toEqual([]);
    });

    it("round-trips any valid message (property)", () => {
      fc.assert(
        fc.property(messageArb, (m) => {
          expect(decodeFrame(encodeFrame([toWire(m)]))).toEqual([m]);
        }),
        { numRuns: 300 },
      );
    });

    it("round-trips any batch of valid messages (property)", () => {
      fc.assert(
        fc.property(fc.array(messageArb, { maxLength: 8 }), (ms) => {
          expect(decodeFrame(encodeFrame(ms.map(toWire)))).toEqual(ms);
        }),
        { numRuns: 100 },
      );
    });

    it("never lets a payload key named __proto__ change the decoded object's prototype", () => {
      // Our own senders refuse such a key (checkPlainData); a foreign peer's is defused by the decoder.
      const p: Record<string, unknown> = { a: 1 };
      Object.defineProperty(p, "__proto__", { value: { b: 2 }, enumerable: true, configurable: true, writable: true });
      expect(() => checkPlainData(p)).toThrow(/__proto__/);
      const m: Message = { v: PROTOCOL_VERSION, type: "task.run", id: 3, re: 0, from: "c", body: { taskId: "t", key: "k", app: "echo", ticket: "K", payload: p } };
      const [out] = decodeFrame(encodeFrame([toWire(m)]));
      if (out === undefined) throw new Error("no envelope decoded");
      if (isRejected(out)) {
        expect(out.error.code).toBe(ErrorCode.INVALID);
      } else if (out.type === "task.run") {
        const payload = out.body.payload as Record<string, unknown>;
        expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
        expect(Object.hasOwn(payload, "__proto__")).toBe(false);
        expect(payload.b).toBeUndefined();
      } else throw new Error("wrong type");
    });

    it("never throws anything but FrameError on garbage bytes (property)", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
          expect(decodeOrFrameError(bytes)).toBeUndefined();
        }),
        { numRuns: 300 },
      );
    });

    it("never throws anything but FrameError on a valid frame with corrupted bytes (property)", () => {
      const arb = fc
        .tuple(fc.array(messageArb, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
        .map(([ms, edits]) => {
          const bytes = encodeFrame(ms.map(toWire)).slice();
          for (const [at, b] of edits) bytes[at % bytes.length] = b;
          return bytes;
        });
      fc.assert(
        fc.property(arb, (bytes) => {
          expect(decodeOrFrameError(bytes)).toBeUndefined();
        }),
        { numRuns: 200 },
      );
    });

    it("throws FrameError when the bytes are not one msgpack value", () => {
      expect(() => decodeFrame(new Uint8Array([0xc1]))).toThrow(FrameError);
      expect(() => decodeFrame(new Uint8Array([0x92, 0x01]))).toThrow(FrameError); // truncated array
    });

    it("throws FrameError when the frame is not an array", () => {
      for (const bytes of [[0x80], [0x01], [0xa1, 0x78], [0xc0], [0x81, 0xa1, 0x61, 0x01]]) {
        expect(() => decodeFrame(Uint8Array.from(bytes))).toThrow(FrameError);
      }
    });

    it("rejects each item of a lone envelope sent without its batch array with BAD_FRAME", () => {
      const out = decodeFrame(pack(toWire(hello)));
      expect(out).toHaveLength(6);
      for (const item of out) expect(isRejected(item) && item.error.code).toBe(ErrorCode.BAD_FRAME);
    });

    it("yields one message and one rejection for a frame with one good and one bad envelope", () => {
      const out = decodeFrame(encodeFrame([toWire(hello), [PROTOCOL_VERSION, "task.nope", 5, 0, "x", {}]]));
      expect(out).toHaveLength(2);
      expect(out[0]).toEqual(hello);
      const bad = out[1];
      if (bad === undefined || !isRejected(bad)) throw new Error("expected a rejection");
      expect(bad.error.code).toBe(ErrorCode.UNKNOWN_TYPE);
      expect(bad.id).toBe(5);
    });

    it("throws FrameError, not a crash, on a 72 KB frame of nested array headers", () => {
      const bytes = new Uint8Array(72 * 1024).fill(0x91);
      expect(() => decodeFrame(bytes)).toThrow(FrameError);
    });

    it("throws nothing but FrameError when an envelope's version or type is deeply nested", () => {
      // Deep enough to overflow the stack while describing the bad value, shallow enough to unpack.
      for (let depth = 1000; depth <= 14_000; depth += 1000) {
        for (const where of ["v", "type"] as const) {
          const thrown = decodeOrFrameError(deepEnvelopeFrame(depth, where));
          expect(thrown, `${where} nested ${depth} deep`).toBeUndefined();
        }
      }
    });
  });

  describe("toWire", () => {
    it("lays an envelope out as [v, type, id, re, from, body]", () => {
      expect(toWire(hello)).toEqual([PROTOCOL_VERSION, "hello", 1, 0, "a1", { node: "a1", role: "app" }]);
    });
  });
});
