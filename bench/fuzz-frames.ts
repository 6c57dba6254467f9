// Seeded generators of hostile frames for the fuzz test and `npm run fuzz`: the same seed gives
// the same frames, so a failure reproduces from the seed it prints.
import { PROTOCOL_VERSION } from "../src/protocol/version.js";
import { arr, ext, int64, map, obj, pack, raw, strBytes } from "./fuzz-msgpack.js";
import type { Mp } from "./fuzz-msgpack.js";

/** A small, fast, seeded PRNG (mulberry32). */
export interface Rng {
  /** A uniform integer in [0, n). */
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  bytes(n: number): Uint8Array;
}

export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    int,
    chance: (p) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] as T,
    bytes: (n) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

/** Every message type of the protocol: valid envelopes of each are the mutation corpus. */
export const MESSAGE_TYPES = [
  "hello", "welcome", "ping", "pong", "ack", "error", "task.place", "task.placed", "task.expect", "task.expected", "task.run", "task.cancel",
  "task.result", "server.report", "server.load", "status.get", "attrs.set", "attrs.unset", "peer.sync", "status", "slave.picked", "task.submit", "server.request",
] as const;

export const FRAME_KINDS = ["valid", "mutated", "truncated", "nested", "nil-array", "proto-keys", "ext", "int64", "oversize", "utf8", "random"] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

/** Ids and keys that have broken code before: object-prototype names, empty, long, odd characters. */
const NASTY_STRINGS = [
  "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "then", "", " ", "echo", "app-1", "tier2-1",
  "m1", "s1", "fuzz", "x".repeat(256), "y".repeat(257), "\u0000", "\ud800", "é", "💥", "../..", "ws://127.0.0.1:1", "NaN", "-1", "1e400",
];
const NASTY_NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN, 1e300];
const ROLES = ["vip", "tier1", "tier2", "app", "client", "master", "slave", "admin", ""];

/** Knobs: how large a generated frame may get. */
export interface FrameLimits {
  /** The targets' maxFrameBytes: an oversize frame is a little more than this. */
  maxFrameBytes: number;
  /** Elements of a nil-array bomb, at most (past 256 each costs an answer on current main). */
  maxNilElements: number;
  /** Of nil-array bombs, the share allowed past 256 elements. */
  bigNilShare: number;
  /** The clock deadlines are picked near; default Date.now (a fixed one makes the bytes reproducible too). */
  now?: () => number;
}

export interface Frame {
  kind: FrameKind;
  bytes: Uint8Array;
}

export function createFrameGenerator(seed: number, limits: FrameLimits): { next(kind?: FrameKind): Frame } {
  const r = createRng(seed);
  const now = limits.now ?? Date.now;
  let seq = 0;

  const str = (): string => (r.chance(0.5) ? r.pick(NASTY_STRINGS) : `fz-${r.int(1000)}`);
  const num = (): number => (r.chance(0.3) ? r.pick(NASTY_NUMBERS) : r.int(1000));
  const ts = (): number => (r.chance(0.8) ? now() + r.int(2000) : r.pick(NASTY_NUMBERS));
  const version = (): Mp => arr([r.int(5) + 1, r.int(1000)]);
  const attrs = (): Mp => map(Array.from({ length: r.int(4) }, (): [Mp, Mp] => [str(), r.pick<Mp>([str(), num(), r.chance(0.5)])]));
  const client = (): Mp => obj({ id: str(), addr: r.chance(0.5) ? "" : str() });
  const payload = (depth = 0): Mp => {
    if (depth > 3 || r.chance(0.5)) return r.pick<Mp>([null, num(), str(), true, new Uint8Array(r.int(8))]);
    return r.chance(0.5) ? arr(Array.from({ length: r.int(4) }, () => payload(depth + 1))) : map(Array.from({ length: r.int(4) }, (): [Mp, Mp] => [str(), payload(depth + 1)]));
  };
  const constraint = (): Mp => {
    const op = r.pick(["=", "!=", ">=", "<=", ">", "<", "in", "~"]);
    return obj({ key: str(), op, value: op === "in" ? arr([str(), num()]) : r.pick<Mp>([str(), num(), true]) });
  };
  const task = (): Mp =>
    obj({
      id: `fz-task-${seq++}`,
      key: r.chance(0.8) ? `fz-key-${seq}` : str(),
      app: r.chance(0.7) ? "echo" : str(),
      deadline: ts(),
      require: arr(Array.from({ length: r.int(3) }, constraint)),
      clientAttrs: attrs(),
      prefs: attrs(),
      payload: payload(),
      ...(r.chance(0.3) ? { cost: num() } : {}),
      ...(r.chance(0.2) ? { prefer: arr([obj({ key: str(), op: "=", value: 1, weight: num() })]) } : {}),
    });
  // A report for an id the sender did not say hello as: a node must refuse it.
  const report = (): Mp =>
    obj({ id: r.chance(0.5) ? `fz-srv-${r.int(8)}` : str(), url: "ws://127.0.0.1:1", apps: arr([r.chance(0.5) ? "echo" : str()]), capacity: r.int(4) + 1, power: 1, load: r.int(3), attrs: attrs(), version: version() });
  const statusRow = (): Mp =>
    obj({ id: str(), url: "ws://127.0.0.1:1", apps: arr(["echo"]), capacity: 1, power: 1, load: 0, attrs: attrs(), version: version(), status: r.pick(["alive", "dead", "suspect", "zombie"]), reserved: 0, ageMs: 1 });
  const table = (): Mp => r.pick(["client", "user", "task-type", "nope"]);

  const bodies: { [K in (typeof MESSAGE_TYPES)[number]]: () => Mp } = {
    // Only ever as a client: a stranger may say that much on today's main (authentication changes it).
    hello: () => obj({ node: `fz-${r.int(100)}`, role: "client" }),
    welcome: () => obj({ node: str(), role: r.pick(ROLES) }),
    ping: () => obj({}),
    pong: () => obj({}),
    ack: () => obj({}),
    error: () => obj({ code: r.pick(["BAD_FRAME", "INVALID", "TIMEOUT", "NOPE"]), message: str(), retryable: r.chance(0.5) }),
    "task.place": () => obj({ task: task(), client: client() }),
    "task.placed": () => obj({ taskId: str(), serverId: str(), serverUrl: "ws://127.0.0.1:1", ticket: str(), announce: r.chance(0.5) }),
    "task.expect": () => obj({ taskId: str(), key: str(), ticket: str(), client: client(), expiresAt: ts() }),
    "task.expected": () => obj({ load: num(), version: version() }),
    "task.run": () => obj({ taskId: str(), key: str(), app: "echo", ticket: str(), payload: payload(), ...(r.chance(0.5) ? { deadline: ts(), attempt: r.int(3) } : {}) }),
    "task.cancel": () => obj({ taskId: str(), ticket: str() }),
    "task.result": () => obj({ taskId: str(), serverId: str(), result: payload(), cached: r.chance(0.5) }),
    "server.report": () => obj({ server: report(), ...(r.chance(0.3) ? { relay: r.chance(0.5) } : {}) }),
    "server.load": () => obj({ id: str(), load: num(), version: version(), ...(r.chance(0.3) ? { relay: true } : {}) }),
    "status.get": () => obj({}),
    "attrs.set": () => obj({ table: table(), id: `fz-${str()}`, attrs: attrs() }),
    "attrs.unset": () => obj({ table: table(), id: `fz-${str()}`, keys: arr([str()]) }),
    "peer.sync": () => obj({ servers: arr(Array.from({ length: r.int(3) }, report)), ...(r.chance(0.3) ? { slaves: arr([report()]) } : {}) }),
    status: () => obj({ role: r.pick(["tier2", "master", "app", "slave", "vip"]), node: str(), servers: arr([statusRow()]) }),
    "slave.picked": () => obj({ taskId: str(), slaveId: str(), slaveUrl: "ws://127.0.0.1:1", pick: str() }),
    "task.submit": () => obj({ task: task(), pick: str() }),
    "server.request": () => obj({ task: task(), client: client(), metrics: obj({ queue: r.int(10), version: version() }), ...(r.chance(0.5) ? { pick: str() } : {}) }),
  };

  const envelope = (type: string, body: Mp | Uint8Array, over: Partial<Record<"v" | "id" | "re" | "from", Mp>> = {}): Mp =>
    arr([over.v ?? PROTOCOL_VERSION, type, over.id ?? r.int(100_000) + 1, over.re ?? (r.chance(0.1) ? r.int(10) : 0), over.from ?? "fuzz", body instanceof Uint8Array ? body : pack(body)]);
  const validEnvelope = (): Mp => {
    const type = r.pick(MESSAGE_TYPES);
    return envelope(type, bodies[type]());
  };
  const frameOf = (envs: Mp[]): Uint8Array => pack(arr(envs));
  const validFrame = (): Uint8Array => frameOf(Array.from({ length: 1 + (r.chance(0.3) ? r.int(8) : 0) }, validEnvelope));

  /** A value of `depth` nested arrays or maps around a nil. */
  const nest = (wanted: number): Uint8Array => {
    const useMap = r.chance(0.3);
    const unit = useMap ? [0x81, 0xa1, 0x61] : [0x91];
    // Within the frame limit, with room for the envelope around it: deep, not oversize.
    const depth = Math.min(wanted, Math.floor((limits.maxFrameBytes - 256) / unit.length));
    const out = new Uint8Array(depth * unit.length + 1);
    for (let i = 0; i < depth; i++) out.set(unit, i * unit.length);
    out[out.length - 1] = 0xc0;
    return out;
  };

  const nilArray = (): Uint8Array => {
    const big = r.chance(limits.bigNilShare);
    const n = big ? 257 + r.int(Math.max(1, limits.maxNilElements - 256)) : r.int(257);
    // The header may lie: claim more elements than follow.
    const claimed = r.chance(0.2) ? n + 1 + r.int(0xffff) : n;
    const head = claimed < 16 ? [0x90 | claimed] : claimed < 0x10000 ? [0xdc, claimed >> 8, claimed & 0xff] : [0xdd, (claimed >>> 24) & 0xff, (claimed >> 16) & 0xff, (claimed >> 8) & 0xff, claimed & 0xff];
    const filler = r.pick([0xc0, 0x90, 0x80, 0x00, 0xc2]);
    const out = new Uint8Array(head.length + n).fill(filler);
    out.set(head, 0);
    return out;
  };

  const protoKeys = (): Uint8Array => {
    const key = r.pick(["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__lookupGetter__"]);
    const poison: Mp = r.pick<Mp>([obj({ polluted: true }), map([[key, obj({ polluted: true })]]), "x", 1, null, arr([])]);
    const type = r.pick(MESSAGE_TYPES);
    const base = bodies[type]();
    const entries = base !== null && typeof base === "object" && "kind" in base && base.kind === "map" ? base.entries : [];
    // The poison key first, last, twice or alone, at the top of the body or inside a task.
    const where = r.int(4);
    const body: Mp =
      where === 0
        ? map([[key, poison], ...entries])
        : where === 1
          ? map([...entries, [key, poison], [key, poison]])
          : where === 2
            ? obj({ task: map([[key, poison], ["id", "t"], ["key", "t"], ["app", "echo"], ["deadline", now() + 1000], ["require", arr([])], ["clientAttrs", map([[key, 1]])], ["prefs", obj({})], ["payload", map([[key, poison]])]]), client: client() })
            : map([[key, poison]]);
    // Sometimes the poison is in the frame itself, where an envelope should be.
    if (r.chance(0.2)) return frameOf([map([[key, poison]])]);
    return frameOf([envelope(type, body)]);
  };

  const extValue = (): Mp => {
    const data = (n: number): Uint8Array => r.bytes(n);
    switch (r.int(10)) {
      case 0: // timestamps of every size, valid and not
        return ext(0xff, data(r.pick([4, 8, 12, 1, 3, 16])));
      case 1: // RegExp: [source, flags], sometimes invalid
        return { kind: "raw", bytes: Buffer.concat([Buffer.from([0xd4, 0x78, 0x00]), pack(arr([r.pick(["a++", "(a+)+$", "[", "x"]), r.pick(["g", "zz", ""])]))]) };
      case 2: // Error: [name, message, cause], name picked to reach Object.prototype
        return { kind: "raw", bytes: Buffer.concat([Buffer.from([0xd4, 0x65, 0x00]), pack(arr([r.pick(["Error", "TypeError", "constructor", "__proto__", "toString", "hasOwnProperty"]), str(), null]))]) };
      case 3: // BigInt
        return ext(0x42, data(1 + r.int(24)));
      case 4: // typed arrays, any code
        return ext(0x74, data(1 + r.int(17)));
      case 5: // Set of whatever follows
        return { kind: "raw", bytes: Buffer.concat([Buffer.from([0xd4, 0x73, 0x00]), pack(r.chance(0.5) ? arr([1, 2]) : 5)]) };
      case 6: // structured-clone ids and pointers: disabled, must throw
        return ext(r.pick([0x69, 0x70]), data(4));
      case 7: // bundled strings with a lying size
        return ext(0x62, data(r.pick([1, 4, 8])));
      case 8: // record definitions
        return { kind: "raw", bytes: Buffer.concat([Buffer.from([0xd4, 0x72, 0x40]), pack(arr(["a", "b"])), Buffer.from([0x40, 0x01, 0x02])]) };
      default: // unknown codes, ext 0 (undefined)
        return ext(r.int(256), data(r.int(20)));
    }
  };

  const withExt = (): Uint8Array => {
    const type = r.pick(MESSAGE_TYPES);
    const v = extValue();
    switch (r.int(4)) {
      case 0: // the whole frame
        return pack(v);
      case 1: // a header field
        return frameOf([arr([r.chance(0.5) ? v : PROTOCOL_VERSION, r.chance(0.5) ? v : type, r.chance(0.5) ? v : 1, 0, r.chance(0.5) ? v : "fuzz", pack(bodies[type]())])]);
      case 2: // the body
        return frameOf([envelope(type, pack(v))]);
      default: // a field of a task payload, or a key
        return frameOf([envelope("task.place", obj({ task: map([["id", "t"], ["key", "t"], ["app", "echo"], ["deadline", r.chance(0.5) ? v : now() + 1000], ["require", arr([])], ["clientAttrs", obj({})], ["prefs", obj({})], ["payload", r.chance(0.5) ? v : map([[v, 1]])]]), client: client() }))]);
    }
  };

  const big64 = (): Mp =>
    r.pick<Mp>([int64(false, 0xffffffff, 0xffffffff), int64(true, 0x80000000, 0), int64(false, 0x200000, 1), int64(true, 0xffffffff, 0xffffffff), int64(false, r.int(2 ** 32), r.int(2 ** 32)), int64(true, r.int(2 ** 32), r.int(2 ** 32)), int64(false, 0, 1)]);

  const with64 = (): Uint8Array => {
    const type = r.pick(MESSAGE_TYPES);
    if (r.chance(0.5)) return frameOf([envelope(type, bodies[type](), { id: r.chance(0.7) ? big64() : 1, re: r.chance(0.5) ? big64() : 0, v: r.chance(0.2) ? big64() : PROTOCOL_VERSION })]);
    const body = r.pick<Mp>([
      obj({ load: big64(), version: arr([big64(), big64()]) }),
      obj({ id: "x", load: big64(), version: arr([1, big64()]) }),
      obj({ task: obj({ id: "t", key: "t", app: "echo", deadline: big64(), require: arr([]), clientAttrs: obj({}), prefs: obj({}), payload: big64(), cost: big64() }), client: client() }),
      obj({ server: obj({ id: "fz", url: "u", apps: arr(["echo"]), capacity: big64(), power: big64(), load: big64(), attrs: obj({}), version: arr([big64(), big64()]) }) }),
    ]);
    return frameOf([envelope(r.pick(["task.expected", "server.load", "task.place", "server.report", "task.submit"]), body)]);
  };

  const badUtf8 = (): Uint8Array => {
    const bad = (): Mp =>
      strBytes(
        r.pick([
          Uint8Array.from([0xff, 0xfe, 0xfd]),
          Uint8Array.from([0xc0, 0xaf]), // overlong "/"
          Uint8Array.from([0xed, 0xa0, 0x80]), // a lone surrogate
          Uint8Array.from([0xe2, 0x82]), // cut short
          Uint8Array.from([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
          Uint8Array.from([0x61, 0x00, 0x62]),
          r.bytes(1 + r.int(40)),
        ]),
      );
    const type = r.pick(MESSAGE_TYPES);
    switch (r.int(4)) {
      case 0:
        return frameOf([arr([PROTOCOL_VERSION, bad(), 1, 0, "fuzz", pack(obj({}))])]);
      case 1:
        return frameOf([envelope(type, bodies[type](), { from: bad() })]);
      case 2:
        return frameOf([envelope("task.place", obj({ task: map([["id", bad()], ["key", bad()], ["app", "echo"], ["deadline", now() + 1000], ["require", arr([])], ["clientAttrs", map([[bad(), bad()]])], ["prefs", obj({})], ["payload", bad()]]), client: client() }))]);
      default:
        return frameOf([envelope(type, map([[bad(), bad()], ["node", bad()], ["role", bad()], ["id", bad()]]))]);
    }
  };

  const mutate = (b: Uint8Array): Uint8Array => {
    let out = Buffer.from(b);
    const rounds = 1 + r.int(4);
    for (let i = 0; i < rounds && out.length > 0; i++) {
      const at = r.int(out.length);
      switch (r.int(6)) {
        case 0: // bit flips
          for (let k = 1 + r.int(3); k > 0; k--) {
            const p = r.int(out.length);
            out[p] = (out[p] as number) ^ (1 << r.int(8));
          }
          break;
        case 1: // a byte set to one that means much in msgpack
          out[at] = r.pick([0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xc0, 0xc1, 0xc4, 0xc6, 0xc7, 0xcf, 0xd3, 0xd4, 0xdc, 0xdd, 0xde, 0xdf, 0xff]);
          break;
        case 2: // truncation
          out = out.subarray(0, at);
          break;
        case 3: // splice in a piece of another valid frame
          {
            const other = validFrame();
            const from = r.int(other.length);
            out = Buffer.concat([out.subarray(0, at), other.subarray(from, from + 1 + r.int(32)), out.subarray(at)]);
          }
          break;
        case 4: // delete a range
          out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + r.int(16))]);
          break;
        default: // duplicate a range
          out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + 1 + r.int(16)), out.subarray(at)]);
      }
    }
    return out;
  };

  const oversize = (): Uint8Array => {
    // Valid msgpack all the way (a bin of the right length), only too big.
    const n = limits.maxFrameBytes + 1 + r.int(1024);
    return pack(arr([arr([PROTOCOL_VERSION, "task.place", 1, 0, "fuzz", new Uint8Array(n)])]));
  };

  const make = (kind: FrameKind): Uint8Array => {
    switch (kind) {
      case "valid":
        return validFrame();
      case "mutated":
        return mutate(validFrame());
      case "truncated": {
        const f = validFrame();
        return f.subarray(0, r.int(f.length));
      }
      case "nested": {
        const depth = 1 + r.int(r.chance(0.1) ? 100_000 : 2_000);
        const bomb = nest(depth);
        // The bomb as the frame, as an envelope's body, or as a task's payload.
        const where = r.int(3);
        if (where === 0) return bomb;
        if (where === 1) return frameOf([envelope(r.pick(MESSAGE_TYPES), bomb)]);
        return frameOf([envelope("task.place", obj({ task: map([["id", "t"], ["key", "t"], ["app", "echo"], ["deadline", now() + 1000], ["require", arr([])], ["clientAttrs", obj({})], ["prefs", obj({})], ["payload", raw(nest(Math.min(depth, 5_000)))]]), client: client() }))]);
      }
      case "nil-array": {
        const bomb = nilArray();
        return r.chance(0.7) ? bomb : frameOf([envelope(r.pick(MESSAGE_TYPES), bomb)]);
      }
      case "proto-keys":
        return protoKeys();
      case "ext":
        return withExt();
      case "int64":
        return with64();
      case "oversize":
        return oversize();
      case "utf8":
        return badUtf8();
      case "random":
        return r.bytes(1 + r.int(r.chance(0.1) ? 4096 : 64));
    }
  };

  // Oversize frames close the socket, so they are rare; the rest share the stream evenly.
  const WEIGHTED: readonly FrameKind[] = FRAME_KINDS.flatMap((k): FrameKind[] => (k === "oversize" ? [] : k === "mutated" || k === "valid" ? [k, k, k] : [k]));

  return {
    next(kind) {
      const k = kind ?? (r.chance(0.002) ? "oversize" : r.pick(WEIGHTED));
      return { kind: k, bytes: make(k) };
    },
  };
}

/** Lowercase hex of a frame, for reports. */
export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
