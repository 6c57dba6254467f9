import { AllotError, ErrorCode, isErrorCode } from "./errors.js";
import type { WireError } from "./errors.js";
import { serverAttrsProblem } from "./server-attrs.js";
import { ATTR_TABLES, CLAIM_ROLES, CONSTRAINT_OPS, LINK_STATES, MAX_BATCH_TASKS, MAX_LEASE_RENEW, MAX_LEASE_SLOTS, MAX_LEASE_TTL_MS, MAX_REPORTED_FAILURES, Role, SERVER_STATUSES } from "./types.js";
import type { BadBatchTask, BatchTask, LeaseGrant, PlacedOne, RefusedOne, TaskClass, Claim, ClaimRole, Explanation, ExplainCandidate, Proof, AllocatorStatus, PlacementHistogram, AttrEntry, AttrTable, AttrTables, AttrValue, Attrs, KeyPlacementWire, Bodies, ClientRef, Constraint, LinkState, LinkStatus, Message, MessageType, Preference, RunningTaskRow, ServerReport, ServerStatus, ServerStatusRow, SlaveMetrics, StatusBody, Task } from "./types.js";
import { PROTOCOL_VERSION } from "./version.js";

/** A wire value that did not validate, with the ids needed to answer it (0 when unknown). */
export interface Rejected {
  readonly error: AllotError;
  readonly id: number;
  readonly re: number;
}

/** The longest id, key or short string a message may carry: node, task and table ids, idempotency keys. */
export const MAX_ID = 256;
const MAX_PAYLOAD_DEPTH = 32;
const ROLES: ReadonlySet<string> = new Set(Object.values(Role));
const OPS: ReadonlySet<string> = new Set(CONSTRAINT_OPS);
/** Constraints in a task's `require`, and preferences in its `prefer`, at most. */
const MAX_CONSTRAINTS = 64;
/** Values in the list of an `in` constraint, at most. */
const MAX_SET = 256;

/** Thrown inside body checks; caught at the boundary and turned into INVALID. */
class Invalid extends Error {}
const fail = (path: string, want: string): never => {
  throw new Invalid(`${path}: expected ${want}`);
};

type Obj = Record<string, unknown>;
function isPlainObject(x: unknown): x is Obj {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}
const obj = (x: unknown, p: string): Obj => (isPlainObject(x) ? x : fail(p, "an object"));
const str = (x: unknown, p: string, max = MAX_ID): string =>
  typeof x === "string" && x.length <= max ? x : fail(p, `a string of at most ${max} chars`);
const id = (x: unknown, p: string): string => (str(x, p).length > 0 ? (x as string) : fail(p, "a non-empty string"));
const num = (x: unknown, p: string): number => (typeof x === "number" && Number.isFinite(x) ? x : fail(p, "a finite number"));
const nat = (x: unknown, p: string): number => (Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : fail(p, "a non-negative integer"));
const atMost = (n: number, max: number, p: string): number => (n <= max ? n : fail(p, `at most ${max}`));
const bool = (x: unknown, p: string): boolean => (typeof x === "boolean" ? x : fail(p, "a boolean"));
const empty = (x: unknown, p: string): Record<string, never> => {
  obj(x, p);
  return {};
};

function attrs(x: unknown, p: string): Attrs {
  const o = obj(x, p);
  const out: Attrs = {};
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (k.length === 0 || k.length > MAX_ID || k === "__proto__") fail(`${p} key`, "a non-empty key of at most 256 chars, not __proto__");
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) out[k] = v;
    else fail(`${p}.${k}`, "a string, finite number or boolean");
  }
  return out;
}

function version(x: unknown, p: string): [number, number] {
  if (!Array.isArray(x) || x.length !== 2) return fail(p, "[incarnation, seq]");
  return [nat(x[0], `${p}[0]`), nat(x[1], `${p}[1]`)];
}

/** User payloads and results: plain data only, so no class instance, RegExp or cycle gets past here. */
export function checkPlainData(x: unknown, p = "payload", depth = 0): unknown {
  if (depth > MAX_PAYLOAD_DEPTH) fail(p, `data nested at most ${MAX_PAYLOAD_DEPTH} deep`);
  if (x === null || typeof x === "string" || typeof x === "boolean") return x;
  if (typeof x === "number") return Number.isNaN(x) ? fail(p, "a number") : x;
  if (x instanceof Uint8Array) return x;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) checkPlainData(x[i], p, depth + 1);
    return x;
  }
  if (isPlainObject(x)) {
    // msgpackr renames a "__proto__" key on decode, so it could not cross the wire intact.
    if (Object.hasOwn(x, "__proto__")) fail(p, "no key named __proto__");
    for (const k in x) checkPlainData(x[k], p, depth + 1);
    return x;
  }
  return fail(p, "plain data (null, boolean, number, string, bytes, array, object)");
}

/**
 * A plain-data copy of what user code returned, for the handler boundary: every property is read
 * once, so a getter or proxy that answers differently later cannot change what is sent, and
 * anything that is not plain data (a function, a BigInt, a cycle, a getter that throws) fails here,
 * inside the boundary, instead of in the connection's write.
 */
export function copyPlainData(x: unknown, p = "result", depth = 0): unknown {
  if (depth > MAX_PAYLOAD_DEPTH) fail(p, `data nested at most ${MAX_PAYLOAD_DEPTH} deep (a cycle?)`);
  if (x === null || typeof x === "string" || typeof x === "boolean") return x;
  if (typeof x === "number") return Number.isNaN(x) ? fail(p, "a number, not NaN") : x;
  if (x === undefined) return null;
  if (x instanceof Uint8Array) return new Uint8Array(x);
  if (Array.isArray(x)) {
    const n = x.length;
    const out: unknown[] = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = copyPlainData(x[i], `${p}[${i}]`, depth + 1);
    return out;
  }
  if (isPlainObject(x)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) {
      if (k === "__proto__") fail(p, "no key named __proto__");
      const v = x[k];
      // An undefined property is left out, as JSON and msgpack would.
      if (v !== undefined) out[k] = copyPlainData(v, `${p}.${k}`, depth + 1);
    }
    return out;
  }
  return fail(p, `plain data (null, boolean, number, string, bytes, array, object), not ${typeof x === "object" ? "a class instance" : `a ${typeof x}`}`);
}

const attrValue = (x: unknown, p: string): AttrValue =>
  typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && Number.isFinite(x)) ? x : fail(p, "a string, finite number or boolean");

function constraint(o: Obj, p: string): Constraint {
  const op = o.op;
  if (typeof op !== "string" || !OPS.has(op)) fail(`${p}.op`, CONSTRAINT_OPS.join(" "));
  const key = id(o.key, `${p}.key`);
  const value = o.value;
  if (op !== "in") {
    if (Array.isArray(value)) fail(`${p}.value`, `a string, finite number or boolean (a list only with in)`);
    return { key, op: op as Constraint["op"], value: attrValue(value, `${p}.value`) };
  }
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SET) fail(`${p}.value`, `a list of 1 to ${MAX_SET} values for in`);
  return { key, op: "in", value: (value as unknown[]).map((v, i) => attrValue(v, `${p}.value[${i}]`)) };
}

function preference(o: Obj, p: string): Preference {
  return { ...constraint(o, p), weight: nonNegative(o.weight, `${p}.weight`) };
}

/** A list of at most MAX_CONSTRAINTS constraints (`require`) or preferences (`prefer`). */
function constraints<T>(x: unknown, p: string, what: string, one: (o: Obj, p: string) => T): T[] {
  if (!Array.isArray(x) || x.length > MAX_CONSTRAINTS) fail(p, `an array of at most ${MAX_CONSTRAINTS} ${what}`);
  return (x as unknown[]).map((c, i) => one(obj(c, `${p}[${i}]`), `${p}[${i}]`));
}

function attrEntry(x: unknown, p: string): AttrEntry {
  const o = obj(x, p);
  const v = o.version;
  if (!Array.isArray(v) || v.length !== 2) fail(`${p}.version`, "[time, node]");
  const [t, n] = v as unknown[];
  return { id: id(o.id, `${p}.id`), attrs: attrs(o.attrs, `${p}.attrs`), version: [num(t, `${p}.version[0]`), id(n, `${p}.version[1]`)] };
}

function tables(x: unknown, p: string): AttrTables {
  const o = obj(x, p);
  const list = (k: string): AttrEntry[] => {
    const a = o[k] ?? [];
    if (!Array.isArray(a) || a.length > 100_000) fail(`${p}.${k}`, "an array of at most 100000 entries");
    return (a as unknown[]).map((e, i) => attrEntry(e, `${p}.${k}[${i}]`));
  };
  return { client: list("client"), user: list("user"), "task-type": list("task-type") };
}

function task(x: unknown, p: string): Task {
  const o = obj(x, p);
  return {
    id: id(o.id, `${p}.id`),
    key: id(o.key, `${p}.key`),
    ...(o.user === undefined ? {} : { user: id(o.user, `${p}.user`) }),
    app: id(o.app, `${p}.app`),
    ...(o.cost === undefined ? {} : { cost: nonNegative(o.cost, `${p}.cost`) }),
    deadline: num(o.deadline, `${p}.deadline`),
    require: constraints(o.require, `${p}.require`, "constraints", constraint),
    ...(o.prefer === undefined ? {} : { prefer: constraints(o.prefer, `${p}.prefer`, "preferences", preference) }),
    clientAttrs: attrs(o.clientAttrs, `${p}.clientAttrs`),
    prefs: attrs(o.prefs, `${p}.prefs`),
    payload: checkPlainData(o.payload, `${p}.payload`),
  };
}

/** A lease's class: a task's matching fields, without its id, key, deadline or payload. */
function taskClass(x: unknown, p: string): TaskClass {
  const o = obj(x, p);
  return {
    ...(o.user === undefined ? {} : { user: id(o.user, `${p}.user`) }),
    app: id(o.app, `${p}.app`),
    ...(o.cost === undefined ? {} : { cost: nonNegative(o.cost, `${p}.cost`) }),
    require: constraints(o.require, `${p}.require`, "constraints", constraint),
    ...(o.prefer === undefined ? {} : { prefer: constraints(o.prefer, `${p}.prefer`, "preferences", preference) }),
    clientAttrs: attrs(o.clientAttrs, `${p}.clientAttrs`),
    prefs: attrs(o.prefs, `${p}.prefs`),
  };
}

/**
 * A batch's tasks: the batch as a whole must be an array of 1 to MAX_BATCH_TASKS (or it is refused
 * whole); a task that does not check is kept in its place as a BadBatchTask, answered on its own.
 * Task ids are unique within a batch: its answers are told apart by them.
 */
function batchTasks(x: unknown, p: string): Array<BatchTask | BadBatchTask> {
  if (!Array.isArray(x) || x.length === 0 || x.length > MAX_BATCH_TASKS) fail(p, `an array of 1 to ${MAX_BATCH_TASKS} tasks`);
  const seen = new Set<string>();
  return (x as unknown[]).map((e, i): BatchTask | BadBatchTask => {
    try {
      const o = obj(e, `${p}[${i}]`);
      const t = task(o.task, `${p}[${i}].task`);
      if (seen.has(t.id)) fail(`${p}[${i}].task.id`, "an id not already in the batch");
      seen.add(t.id);
      return { task: t, ...avoid(o.avoid) };
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      const t = isPlainObject(e) && isPlainObject(e.task) ? e.task.id : undefined;
      return { invalid: err.message, ...(typeof t === "string" && t.length > 0 && t.length <= MAX_ID ? { taskId: t } : {}) };
    }
  });
}

function wireError(x: unknown, p: string): WireError {
  const o = obj(x, p);
  if (!isErrorCode(o.code)) fail(`${p}.code`, "a known error code");
  return { code: o.code as ErrorCode, message: str(o.message, `${p}.message`, 4096), retryable: bool(o.retryable, `${p}.retryable`) };
}

function placedOne(x: unknown, p: string): PlacedOne | RefusedOne {
  const o = obj(x, p);
  // A refused task may have had no readable id: "" then, its place in the batch says which.
  if (o.error !== undefined) return { taskId: str(o.taskId, `${p}.taskId`), error: wireError(o.error, `${p}.error`) };
  return { taskId: id(o.taskId, `${p}.taskId`), serverId: id(o.serverId, `${p}.serverId`), serverUrl: str(o.serverUrl, `${p}.serverUrl`, 2048), ticket: id(o.ticket, `${p}.ticket`) };
}

function expect(x: unknown, p: string): Bodies["task.expect"] {
  const b = obj(x, p);
  const at = p === "" ? "" : `${p}.`;
  return {
    taskId: id(b.taskId, `${at}taskId`),
    key: id(b.key, `${at}key`),
    ticket: id(b.ticket, `${at}ticket`),
    client: client(b.client, `${at}client`),
    expiresAt: num(b.expiresAt, `${at}expiresAt`),
  };
}

/** A whole number from `min` to `max`. */
const between = (x: unknown, p: string, min: number, max: number): number => (Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max ? (x as number) : fail(p, `a whole number from ${min} to ${max}`));

function leaseGrant(x: unknown, p: string): LeaseGrant {
  const o = obj(x, p);
  return {
    leaseId: id(o.leaseId, `${p}.leaseId`),
    serverId: id(o.serverId, `${p}.serverId`),
    serverUrl: str(o.serverUrl, `${p}.serverUrl`, 2048),
    slots: between(o.slots, `${p}.slots`, 1, MAX_LEASE_SLOTS),
    ticket: id(o.ticket, `${p}.ticket`),
    expiresAt: num(o.expiresAt, `${p}.expiresAt`),
  };
}

const ids = (x: unknown, p: string, max: number): string[] => list(x, p, max, "ids", id);

const client = (x: unknown, p: string): ClientRef => {
  const o = obj(x, p);
  return { id: id(o.id, `${p}.id`), addr: str(o.addr, `${p}.addr`) };
};

function server(x: unknown, p: string): ServerReport {
  const o = obj(x, p);
  const apps = o.apps;
  if (!Array.isArray(apps) || apps.length === 0 || apps.length > 256) fail(`${p}.apps`, "1 to 256 application names");
  const capacity = nat(o.capacity, `${p}.capacity`);
  if (capacity < 1) fail(`${p}.capacity`, "at least 1");
  const power = num(o.power, `${p}.power`);
  if (power <= 0) fail(`${p}.power`, "a positive number");
  return {
    id: id(o.id, `${p}.id`),
    url: str(o.url, `${p}.url`, 2048),
    apps: (apps as unknown[]).map((a, i) => id(a, `${p}.apps[${i}]`)),
    capacity,
    power,
    load: nat(o.load, `${p}.load`),
    attrs: attrs(o.attrs, `${p}.attrs`),
    version: version(o.version, `${p}.version`),
    ...(o.periodMs === undefined ? {} : { periodMs: nat(o.periodMs, `${p}.periodMs`) }),
    ...(o.ticketKey === undefined ? {} : { ticketKey: id(o.ticketKey, `${p}.ticketKey`) }),
    ...(o.failures === undefined ? {} : { failures: atMost(nat(o.failures, `${p}.failures`), MAX_REPORTED_FAILURES, `${p}.failures`) }),
    ...(o.draining === undefined ? {} : { draining: bool(o.draining, `${p}.draining`) }),
  };
}

const CLAIMABLE: ReadonlySet<string> = new Set<string>(CLAIM_ROLES);
/** Nonces are 32 random bytes; keys 32, signatures 64 (Ed25519). */
const NONCE_BYTES = 32;
/** A fresh plain Uint8Array (the decoder hands out Buffers, views of the whole frame). */
const bytes = (x: unknown, p: string, len: number): Uint8Array => (x instanceof Uint8Array && x.length === len ? new Uint8Array(x) : fail(p, `${len} bytes`));

function claim(x: unknown, p: string): Claim {
  const o = obj(x, p);
  const roles = o.roles;
  if (!Array.isArray(roles) || roles.length === 0 || roles.length > CLAIM_ROLES.length) fail(`${p}.roles`, `1 to ${CLAIM_ROLES.length} roles`);
  const out: Claim = {
    roles: (roles as unknown[]).map((r, i) => (typeof r === "string" && CLAIMABLE.has(r) ? (r as ClaimRole) : fail(`${p}.roles[${i}]`, CLAIM_ROLES.join("|")))),
    expires: num(o.expires, `${p}.expires`),
    key: bytes(o.key, `${p}.key`, 32),
  };
  if ((o.id === undefined) === (o.idPrefix === undefined)) fail(p, "exactly one of id and idPrefix");
  if (o.id !== undefined) out.id = id(o.id, `${p}.id`);
  else out.idPrefix = id(o.idPrefix, `${p}.idPrefix`);
  return out;
}

const proof = (x: unknown, p: string): Proof => {
  const o = obj(x, p);
  return { claim: claim(o.claim, `${p}.claim`), claimSig: bytes(o.claimSig, `${p}.claimSig`, 64), sig: bytes(o.sig, `${p}.sig`, 64) };
};

/** A claim as it arrives from a file or the wire: checked, fresh, only known fields. */
export function checkClaim(x: unknown): Claim | AllotError {
  try {
    return claim(x, "claim");
  } catch (err) {
    if (err instanceof Invalid) return new AllotError(ErrorCode.INVALID, err.message);
    throw err;
  }
}

const role = (x: unknown, p: string): Role => (typeof x === "string" && ROLES.has(x) ? (x as Role) : fail(p, [...ROLES].join("|")));

/** One checker per message type: it returns a fresh body holding only known, well-typed fields. */
const BODY: { [K in MessageType]: (b: Obj) => Bodies[K] } = {
  hello: (b) => ({ node: id(b.node, "node"), role: role(b.role, "role"), ...(b.nonce === undefined ? {} : { nonce: bytes(b.nonce, "nonce", NONCE_BYTES) }) }),
  welcome: (b) => ({
    node: id(b.node, "node"),
    role: role(b.role, "role"),
    ...(b.nonce === undefined ? {} : { nonce: bytes(b.nonce, "nonce", NONCE_BYTES) }),
    ...(b.proof === undefined ? {} : { proof: proof(b.proof, "proof") }),
  }),
  auth: (b) => ({ proof: proof(b.proof, "proof") }),
  ping: (b) => empty(b, "body"),
  pong: (b) => empty(b, "body"),
  ack: (b) => empty(b, "body"),
  error: (b) => {
    if (!isErrorCode(b.code)) fail("code", "a known error code");
    return { code: b.code as ErrorCode, message: str(b.message, "message", 4096), retryable: bool(b.retryable, "retryable") };
  },
  "task.place": (b) => ({ task: task(b.task, "task"), client: client(b.client, "client"), ...avoid(b.avoid) }),
  "task.placed": (b) => ({
    taskId: id(b.taskId, "taskId"),
    serverId: id(b.serverId, "serverId"),
    serverUrl: str(b.serverUrl, "serverUrl", 2048),
    ticket: id(b.ticket, "ticket"),
    ...(b.announce === undefined ? {} : { announce: bool(b.announce, "announce") }),
  }),
  "task.expect": (b) => expect(b, ""),
  "task.expected": (b) => ({ load: nat(b.load, "load"), version: version(b.version, "version") }),
  "task.run": (b) => ({
    taskId: id(b.taskId, "taskId"),
    key: id(b.key, "key"),
    app: id(b.app, "app"),
    ticket: id(b.ticket, "ticket"),
    payload: checkPlainData(b.payload),
    ...(b.deadline === undefined ? {} : { deadline: num(b.deadline, "deadline") }),
    ...(b.attempt === undefined ? {} : { attempt: nat(b.attempt, "attempt") }),
    ...(b.client === undefined ? {} : { client: id(b.client, "client") }),
  }),
  "task.cancel": (b) => ({ taskId: id(b.taskId, "taskId"), ticket: id(b.ticket, "ticket") }),
  "task.result": (b) => ({
    taskId: id(b.taskId, "taskId"),
    serverId: id(b.serverId, "serverId"),
    result: checkPlainData(b.result, "result"),
    cached: bool(b.cached, "cached"),
  }),
  "server.report": (b) => ({ server: server(b.server, "server"), ...(b.relay === undefined ? {} : { relay: bool(b.relay, "relay") }) }),
  "server.load": (b) => ({
    id: id(b.id, "id"),
    load: nat(b.load, "load"),
    version: version(b.version, "version"),
    ...(b.relay === undefined ? {} : { relay: bool(b.relay, "relay") }),
  }),
  "status.get": (b) => empty(b, "body"),
  "server.drain": (b) => ({ id: id(b.id, "id") }),
  "server.leave": (b) => ({ id: id(b.id, "id") }),
  "attrs.set": (b) => {
    const body = { table: attrTable(b.table, "table"), id: id(b.id, "id"), attrs: attrs(b.attrs, "attrs") };
    if (body.table === "server") serverChange(body.attrs, [], "attrs");
    return body;
  },
  "attrs.unset": (b) => {
    const keys = b.keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) fail("keys", `1 to ${MAX_KEYS} attribute names`);
    const body = { table: attrTable(b.table, "table"), id: id(b.id, "id"), keys: (keys as unknown[]).map((k, i) => attrKey(k, `keys[${i}]`)) };
    if (body.table === "server") serverChange({}, body.keys, "keys");
    return body;
  },
  "peer.sync": (b) => ({
    servers: reports(b.servers, "servers"),
    ...(b.tables === undefined ? {} : { tables: tables(b.tables, "tables") }),
    ...(b.slaves === undefined ? {} : { slaves: reports(b.slaves, "slaves") }),
  }),
  "peer.keys": (b) => {
    const keys = b.keys;
    if (!Array.isArray(keys) || keys.length > MAX_KEY_PLACEMENTS) fail("keys", `an array of at most ${MAX_KEY_PLACEMENTS} key placements`);
    return { keys: (keys as unknown[]).map((k, i) => keyPlacement(k, `keys[${i}]`)) };
  },
  status: (b) => statusBody(b),
  "placement.explain": (b) => ({ task: task(b.task, "task"), ...(b.client === undefined ? {} : { client: id(b.client, "client") }) }),
  explanation: (b) => explanation(b),
  "slave.picked": (b) => ({ taskId: id(b.taskId, "taskId"), slaveId: id(b.slaveId, "slaveId"), slaveUrl: str(b.slaveUrl, "slaveUrl", 2048), pick: id(b.pick, "pick") }),
  "task.submit": (b) => ({ task: task(b.task, "task"), pick: id(b.pick, "pick"), ...avoid(b.avoid) }),
  "task.placeBatch": (b) => ({ tasks: batchTasks(b.tasks, "tasks"), client: client(b.client, "client") }),
  "task.placedBatch": (b) => ({ results: list(b.results, "results", MAX_BATCH_TASKS, "results", placedOne) }),
  "task.expectBatch": (b) => ({ expects: list(b.expects, "expects", MAX_BATCH_TASKS, "expects", expect) }),
  "task.expectedBatch": (b) => ({
    load: nat(b.load, "load"),
    version: version(b.version, "version"),
    ...(b.refused === undefined
      ? {}
      : {
          refused: list(b.refused, "refused", MAX_BATCH_TASKS, "refusals", (x, p) => {
            const o = obj(x, p);
            return { at: atMost(nat(o.at, `${p}.at`), MAX_BATCH_TASKS - 1, `${p}.at`), error: wireError(o.error, `${p}.error`) };
          }),
        }),
  }),
  "lease.request": (b) => ({
    class: taskClass(b.class, "class"),
    slots: between(b.slots, "slots", 1, MAX_LEASE_SLOTS),
    ttlMs: between(b.ttlMs, "ttlMs", 1, MAX_LEASE_TTL_MS),
    client: client(b.client, "client"),
    ...(b.renew === undefined ? {} : { renew: ids(b.renew, "renew", MAX_LEASE_RENEW) }),
  }),
  "lease.granted": (b) => ({ leases: list(b.leases, "leases", MAX_LEASE_SLOTS, "leases", leaseGrant) }),
  "lease.grant": (b) => ({
    leaseId: id(b.leaseId, "leaseId"),
    client: client(b.client, "client"),
    slots: between(b.slots, "slots", 1, MAX_LEASE_SLOTS),
    ticket: id(b.ticket, "ticket"),
    expiresAt: num(b.expiresAt, "expiresAt"),
  }),
  "lease.revoke": (b) => ({ leaseId: id(b.leaseId, "leaseId") }),
  "lease.release": (b) => ({ leases: ids(b.leases, "leases", MAX_LEASE_RENEW), client: client(b.client, "client") }),
  "server.request": (b) => serverRequest(b, ""),
  // Each request in full, as `server.request` holds it: a bad one refuses the batch (a slave sends only what it validated).
  "server.requestBatch": (b) => {
    if (!Array.isArray(b.requests) || b.requests.length < 2 || b.requests.length > MAX_BATCH_TASKS) fail("requests", `an array of 2 to ${MAX_BATCH_TASKS} server requests`);
    return { requests: (b.requests as unknown[]).map((r, i) => serverRequest(r, `requests[${i}]`)) };
  },
  "server.placedBatch": (b) => ({ results: list(b.results, "results", MAX_BATCH_TASKS, "results", placedOrRefused) }),
};

/** A `server.request` body; `p` is its path within a batch ("" alone). */
function serverRequest(x: unknown, p: string): Bodies["server.request"] {
  const b = obj(x, p);
  const at = p === "" ? "" : `${p}.`;
  return {
    task: task(b.task, `${at}task`),
    client: client(b.client, `${at}client`),
    metrics: metrics(b.metrics, `${at}metrics`),
    ...(b.pick === undefined ? {} : { pick: id(b.pick, `${at}pick`) }),
    ...avoid(b.avoid, `${at}avoid`),
  };
}

/** One answer of a `server.placedBatch`: a `task.placed` body, or a refusal. */
function placedOrRefused(x: unknown, p: string): Bodies["task.placed"] | RefusedOne {
  const o = obj(x, p);
  if (o.error !== undefined) return { taskId: id(o.taskId, `${p}.taskId`), error: wireError(o.error, `${p}.error`) };
  return {
    taskId: id(o.taskId, `${p}.taskId`),
    serverId: id(o.serverId, `${p}.serverId`),
    serverUrl: str(o.serverUrl, `${p}.serverUrl`, 2048),
    ticket: id(o.ticket, `${p}.ticket`),
    ...(o.announce === undefined ? {} : { announce: bool(o.announce, `${p}.announce`) }),
  };
}

/** The most servers a placement may ask to avoid: a client lists only those its task failed on. */
export const MAX_AVOID = 16;

/** An optional `avoid` field: up to MAX_AVOID server ids, left out when absent or empty. */
function avoid(x: unknown, p = "avoid"): { avoid?: string[] } {
  if (x === undefined) return {};
  if (!Array.isArray(x) || x.length > MAX_AVOID) fail(p, `an array of at most ${MAX_AVOID} server ids`);
  const ids = (x as unknown[]).map((v, i) => id(v, `${p}[${i}]`));
  return ids.length === 0 ? {} : { avoid: ids };
}

/** Key placements per `peer.keys` message. */
export const MAX_KEY_PLACEMENTS = 1000;
/** A shared placement is remembered at most a day, whatever a peer says. */
const MAX_KEY_TTL_MS = 86_400_000;

function keyPlacement(x: unknown, p: string): KeyPlacementWire {
  const o = obj(x, p);
  const ttlMs = nat(o.ttlMs, `${p}.ttlMs`);
  if (ttlMs > MAX_KEY_TTL_MS) fail(`${p}.ttlMs`, `at most ${MAX_KEY_TTL_MS} ms`);
  return { client: id(o.client, `${p}.client`), key: id(o.key, `${p}.key`), server: id(o.server, `${p}.server`), ttlMs };
}

function reports(x: unknown, p: string): ServerReport[] {
  if (!Array.isArray(x) || x.length > 100_000) fail(p, "an array of at most 100000 server reports");
  return (x as unknown[]).map((r, i) => server(r, `${p}[${i}]`));
}

function statusRows(x: unknown, p: string): ServerStatusRow[] {
  if (!Array.isArray(x) || x.length > 1_000_000) fail(p, "an array of at most 1000000 rows");
  return (x as unknown[]).map((r, i) => {
    const o = obj(r, `${p}[${i}]`);
    const st = o.status;
    if (typeof st !== "string" || !(SERVER_STATUSES as readonly string[]).includes(st)) fail(`${p}[${i}].status`, SERVER_STATUSES.join("|"));
    return {
      ...server(o, `${p}[${i}]`),
      status: st as ServerStatus,
      reserved: nat(o.reserved, `${p}[${i}].reserved`),
      ageMs: num(o.ageMs, `${p}[${i}].ageMs`),
      ...(o.ejectedForMs === undefined ? {} : { ejectedForMs: nat(o.ejectedForMs, `${p}[${i}].ejectedForMs`) }),
      ...(o.rampLimit === undefined ? {} : { rampLimit: nat(o.rampLimit, `${p}[${i}].rampLimit`) }),
    };
  });
}

/** Bounds of a status answer's lists: connections a node dialled, and an app server's running-task rows. */
const MAX_LINKS = 100_000;
const MAX_RUNNING_ROWS = 10_000;

function list<T>(x: unknown, p: string, max: number, what: string, one: (x: unknown, p: string) => T): T[] {
  if (!Array.isArray(x) || x.length > max) fail(p, `an array of at most ${max} ${what}`);
  return (x as unknown[]).map((e, i) => one(e, `${p}[${i}]`));
}

function linkStatus(x: unknown, p: string): LinkStatus {
  const o = obj(x, p);
  const state = o.state;
  if (typeof state !== "string" || !(LINK_STATES as readonly string[]).includes(state)) fail(`${p}.state`, LINK_STATES.join("|"));
  return {
    url: str(o.url, `${p}.url`, 2048),
    ...(o.id === undefined ? {} : { id: id(o.id, `${p}.id`) }),
    state: state as LinkState,
    inFlight: nat(o.inFlight, `${p}.inFlight`),
    ...(o.forwarded === undefined ? {} : { forwarded: nat(o.forwarded, `${p}.forwarded`) }),
  };
}

function runningRow(x: unknown, p: string): RunningTaskRow {
  const o = obj(x, p);
  return { taskId: id(o.taskId, `${p}.taskId`), app: id(o.app, `${p}.app`), ageMs: nonNegative(o.ageMs, `${p}.ageMs`), deadline: num(o.deadline, `${p}.deadline`), overdue: bool(o.overdue, `${p}.overdue`) };
}

const links = (x: unknown, p: string): LinkStatus[] => list(x, p, MAX_LINKS, "connections", linkStatus);

/**
 * A `status` answer: its `role` says which view it is. An answer with no role (from a node that
 * predates roles in status, when only allocators answered) is read as an allocator's.
 */
/** A placement histogram: at most 64 finite, rising bucket bounds, one more cumulative count, never falling. */
function histogram(v: unknown, field: string): PlacementHistogram {
  const h = obj(v, field);
  const buckets: unknown[] = Array.isArray(h.buckets) && h.buckets.length <= 64 ? h.buckets : fail(field, "at most 64 bucket bounds");
  const counts: unknown[] = Array.isArray(h.counts) && h.counts.length === buckets.length + 1 ? h.counts : fail(field, "one more cumulative count than bucket bounds");
  const bs = buckets.map((x, i) => num(x, `${field}.buckets[${i}]`));
  const cs = counts.map((x, i) => nat(x, `${field}.counts[${i}]`));
  for (let i = 1; i < bs.length; i++) if ((bs[i] as number) <= (bs[i - 1] as number)) fail(field, "bucket bounds must rise");
  for (let i = 1; i < cs.length; i++) if ((cs[i] as number) < (cs[i - 1] as number)) fail(field, "cumulative counts never fall");
  return { buckets: bs, counts: cs, count: nat(h.count, `${field}.count`), sum: num(h.sum, `${field}.sum`) };
}

function statusBody(b: Obj): StatusBody {
  const node = id(b.node, "node");
  const r: string = b.role === undefined ? (b.slaves === undefined ? "tier2" : "master") : typeof b.role === "string" ? b.role : "";
  switch (r) {
    case "tier2":
    case "master": {
      const out: AllocatorStatus = { role: r, node, servers: statusRows(b.servers, "servers") };
      if (b.tables !== undefined) out.tables = tables(b.tables, "tables");
      if (b.slaves !== undefined) out.slaves = statusRows(b.slaves, "slaves");
      if (b.deadRetentionMs !== undefined) out.deadRetentionMs = nat(b.deadRetentionMs, "deadRetentionMs");
      if (b.placementMs !== undefined) out.placementMs = histogram(b.placementMs, "placementMs");
      return out;
    }
    case "vip":
    case "tier1":
      return { role: r, node, forwarded: nat(b.forwarded, "forwarded"), ...(b.policy === undefined ? {} : { policy: id(b.policy, "policy") }), members: links(b.members, "members") };
    case "slave":
      return {
        role: r,
        node,
        link: id(str(b.link, "link", 32), "link"),
        held: nat(b.held, "held"),
        capacity: nat(b.capacity, "capacity"),
        received: nat(b.received, "received"),
        answered: nat(b.answered, "answered"),
        failovers: nat(b.failovers, "failovers"),
        masters: links(b.masters, "masters"),
        servers: links(b.servers, "servers"),
      };
    case "app": {
      const apps = b.apps;
      if (!Array.isArray(apps) || apps.length > 256) fail("apps", "at most 256 application names");
      return {
        role: r,
        node,
        url: str(b.url, "url", 2048),
        apps: (apps as unknown[]).map((a, i) => id(a, `apps[${i}]`)),
        capacity: nat(b.capacity, "capacity"),
        power: nonNegative(b.power, "power"),
        load: nat(b.load, "load"),
        runningCount: nat(b.runningCount, "runningCount"),
        expected: nat(b.expected, "expected"),
        completed: nat(b.completed, "completed"),
        attrs: attrs(b.attrs, "attrs"),
        version: version(b.version, "version"),
        registrations: links(b.registrations, "registrations"),
        running: list(b.running, "running", MAX_RUNNING_ROWS, "running tasks", runningRow),
        ...(b.draining === undefined ? {} : { draining: bool(b.draining, "draining") }),
      };
    }
    default:
      return fail("role", "tier2|master|vip|tier1|slave|app");
  }
}

/** Candidates an explanation lists at most, and constraint counts it carries. */
const MAX_EXPLAIN_CANDIDATES = 100;
const MAX_REMOVED_BY = MAX_CONSTRAINTS + 8;

function explainCandidate(x: unknown, p: string): ExplainCandidate {
  const o = obj(x, p);
  return {
    ...(o.id === undefined ? {} : { id: id(o.id, `${p}.id`) }),
    rank: nat(o.rank, `${p}.rank`),
    score: nonNegative(o.score, `${p}.score`),
    load: nat(o.load, `${p}.load`),
    reserved: nat(o.reserved, `${p}.reserved`),
    capacity: nat(o.capacity, `${p}.capacity`),
    free: nat(o.free, `${p}.free`),
    power: nonNegative(o.power, `${p}.power`),
    idlePower: nonNegative(o.idlePower, `${p}.idlePower`),
    chosen: bool(o.chosen, `${p}.chosen`),
  };
}

function explanation(b: Obj): Explanation {
  const removed = obj(b.removedBy, "removedBy");
  const keys = Object.keys(removed);
  if (keys.length > MAX_REMOVED_BY) fail("removedBy", `at most ${MAX_REMOVED_BY} counts`);
  const removedBy: Record<string, number> = {};
  for (const k of keys) {
    if (k === "__proto__" || k.length > 131072) fail("removedBy", "keys of at most 131072 chars, not __proto__");
    removedBy[k] = nat(removed[k], `removedBy.${k}`);
  }
  const chosen = b.chosen === null ? null : id(b.chosen, "chosen");
  return {
    app: id(b.app, "app"),
    policy: id(b.policy, "policy"),
    offering: nat(b.offering, "offering"),
    live: nat(b.live, "live"),
    eligible: nat(b.eligible, "eligible"),
    removedBy,
    maxScore: nonNegative(b.maxScore, "maxScore"),
    candidates: list(b.candidates, "candidates", MAX_EXPLAIN_CANDIDATES, "candidates", explainCandidate),
    chosen,
    reason: str(b.reason, "reason", 8192),
    retryable: bool(b.retryable, "retryable"),
  };
}

/** Attribute names an `attrs.unset` removes at most at once. */
const MAX_KEYS = 256;

function attrTable(x: unknown, p: string): AttrTable {
  return typeof x === "string" && (ATTR_TABLES as readonly string[]).includes(x) ? (x as AttrTable) : fail(p, ATTR_TABLES.join("|"));
}

const attrKey = (x: unknown, p: string): string =>
  typeof x === "string" && x.length > 0 && x.length <= MAX_ID && x !== "__proto__" ? x : fail(p, "a non-empty key of at most 256 chars, not __proto__");

/** A change of an app server's own entry: the built-in fields are checked here, once, at the boundary. */
function serverChange(set: Attrs, unset: readonly string[], p: string): void {
  const problem = serverAttrsProblem(set, unset);
  if (problem) throw new Invalid(`${p}.${problem.key}: ${problem.reason}`);
}

function metrics(x: unknown, p: string): SlaveMetrics {
  const o = obj(x, p);
  return {
    queue: nat(o.queue, `${p}.queue`),
    ...(o.cost === undefined ? {} : { cost: nonNegative(o.cost, `${p}.cost`) }),
    version: version(o.version, `${p}.version`),
  };
}

const nonNegative = (x: unknown, p: string): number => (num(x, p) >= 0 ? (x as number) : fail(p, "a number >= 0"));

export function isMessageType(x: unknown): x is MessageType {
  return typeof x === "string" && Object.hasOwn(BODY, x);
}

const reject = (code: ErrorCode, message: string, ids: number, re = 0): Rejected => ({
  error: new AllotError(code, message),
  id: ids,
  re,
});

/** An envelope whose header checked out; its body is not yet looked at. */
export interface Header {
  v: number;
  type: MessageType;
  id: number;
  re: number;
  from: string;
  /** The header client (a 7th element), when the envelope carries one. */
  client?: ClientRef;
}

/** Checks the header of one wire envelope `[v, type, id, re, from, body]` or `[v, type, id, re, from, body, [clientId, clientAddr]]`. */
/**
 * Types that may travel as notices (`id = re = 0`): nothing answers them, and an error they
 * cause comes back as an `error` notice. A periodic report is one: the next period repeats it,
 * so an acknowledgement would cost the allocator a write per report for nothing.
 */
export const NOTICE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["ping", "pong", "error", "server.report", "server.load", "task.cancel"]);

export function checkHeader(raw: unknown): Header | Rejected {
  if (!Array.isArray(raw) || (raw.length !== 6 && raw.length !== 7)) return reject(ErrorCode.BAD_FRAME, "envelope: expected [v, type, id, re, from, body] or [v, type, id, re, from, body, client]", 0);
  const [v, type, rid, re, from] = raw as unknown[];
  const mid = Number.isSafeInteger(rid) && (rid as number) > 0 ? (rid as number) : 0;
  const mre = Number.isSafeInteger(re) && (re as number) >= 0 ? (re as number) : 0;
  if (mid === 0 && mre === 0 && !NOTICE_TYPES.has(type as MessageType))
    return reject(ErrorCode.BAD_FRAME, "envelope: id must be a positive integer", 0);
  // Described without recursing: a peer-chosen value may be nested thousands deep.
  if (v !== PROTOCOL_VERSION) return reject(ErrorCode.VERSION_MISMATCH, `protocol version ${describe(v)} is not ${PROTOCOL_VERSION}`, mid, mre);
  if (!isMessageType(type)) return reject(ErrorCode.UNKNOWN_TYPE, `unknown message type ${describe(type)}`, mid, mre);
  if (typeof from !== "string" || from.length > MAX_ID) return reject(ErrorCode.INVALID, `${type}: from: expected a string`, mid, mre);
  if (raw.length === 6) return { v, type, id: mid, re: mre, from };
  const c = headerClient(raw[6]);
  if (c === undefined) return reject(ErrorCode.INVALID, `${type}: client: expected [id, addr], a non-empty id and an addr of at most ${MAX_ID} chars`, mid, mre);
  return { v, type, id: mid, re: mre, from, client: c };
}

/** The header client `[id, addr]`: two strings of at most MAX_ID chars, the id non-empty; undefined for anything else. */
function headerClient(x: unknown): ClientRef | undefined {
  if (!Array.isArray(x) || x.length !== 2) return undefined;
  const [cid, addr] = x as unknown[];
  if (typeof cid !== "string" || cid.length === 0 || cid.length > MAX_ID || typeof addr !== "string" || addr.length > MAX_ID) return undefined;
  return { id: cid, addr };
}

/** Checks a decoded body against its header's type: a typed message, or INVALID naming the field. */
export function checkBody(h: Header, body: unknown): Message | Rejected {
  if (!isPlainObject(body)) return reject(ErrorCode.INVALID, `${h.type}: body: expected an object`, h.id, h.re);
  try {
    const checked = BODY[h.type](body);
    const m = { v: h.v, type: h.type, id: h.id, re: h.re, from: h.from, body: checked } as Message;
    if (h.client !== undefined) m.client = h.client;
    return m;
  } catch (err) {
    if (err instanceof Invalid) return reject(ErrorCode.INVALID, `${h.type}: ${err.message}`, h.id, h.re);
    throw err;
  }
}

/**
 * The decode boundary: turns one decoded wire value (`[v, type, id, re, from, body]`, the body
 * already decoded) into a typed message, or a rejection carrying the ids needed to answer it.
 */
export function toMessage(raw: unknown): Message | Rejected {
  const h = checkHeader(raw);
  return isRejected(h) ? h : checkBody(h, (raw as unknown[])[5]);
}

function describe(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x.slice(0, 64));
  if (typeof x === "number" || typeof x === "boolean" || x === null) return String(x);
  return Array.isArray(x) ? "an array" : typeof x;
}

export function isRejected<T extends object>(x: T | Rejected): x is Rejected {
  return "error" in x;
}
