import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { atMostOnceExecution, capacityRespected, check, constraintsRespected, convergence, formatEvent, formatFailure, noTaskLost } from "../../src/testing/checkers.js";
import type { CheckResult, Checker, History, HistoryEvent, RunEndEvent, RunStartEvent, SettleEvent, SubmitEvent, TablesEvent } from "../../src/testing/history.js";
import type { Attrs, Constraint } from "../../src/protocol/index.js";

// Hand-made histories: events are written without `step`, which `h()` numbers in order.

type Draft<E> = E extends HistoryEvent ? Omit<E, "step"> : never;
const h = (...events: Array<Draft<HistoryEvent>>): History => events.map((e, step) => ({ ...e, step }) as HistoryEvent);

const submit = (op: number, t: number, o: Partial<Omit<SubmitEvent, "kind" | "op" | "t" | "step">> = {}): Draft<SubmitEvent> => ({ kind: "submit", op, t, client: "c1", key: `k${op}`, app: "echo", require: [], deadline: t + 1000, ...o });
const ok = (op: number, t: number, o: { client?: string; key?: string; taskId?: string; serverId?: string; cached?: boolean } = {}): Draft<SettleEvent> => ({ kind: "settle", op, t, client: o.client ?? "c1", key: o.key ?? `k${op}`, ok: true, taskId: o.taskId ?? `T${op}`, serverId: o.serverId ?? "a1", cached: o.cached ?? false, attempts: 1 });
const err = (op: number, t: number, code: string, o: { client?: string; key?: string } = {}): Draft<SettleEvent> => ({ kind: "settle", op, t, client: o.client ?? "c1", key: o.key ?? `k${op}`, ok: false, code, message: `${code} happened` });
const start = (t: number, o: Partial<Omit<RunStartEvent, "kind" | "t" | "step">> = {}): Draft<RunStartEvent> => ({ kind: "run.start", t, server: "a1", incarnation: 1, client: "c1", key: "k1", taskId: "T1", app: "echo", attempt: 1, running: 1, capacity: 2, attrs: { zone: "x" }, ...o });
const end = (t: number, outcome: RunEndEvent["outcome"], o: Partial<Omit<RunEndEvent, "kind" | "t" | "step" | "outcome">> = {}): Draft<RunEndEvent> => ({ kind: "run.end", t, server: "a1", incarnation: 1, client: "c1", key: "k1", taskId: "T1", outcome, ...o });
const tables = (t: number, sets: TablesEvent["sets"], truth: TablesEvent["truth"]): Draft<TablesEvent> => ({ kind: "tables", t, sets, truth });
const member = (node: string, servers: Record<string, [number, number]>): TablesEvent["sets"][number]["members"][number] => ({ node, servers: Object.fromEntries(Object.entries(servers).map(([id, version]) => [id, { version, status: "alive" }])) });

function failure(r: CheckResult): { checker: string; message: string; events: HistoryEvent[] } {
  if (r.ok) throw new Error("expected a failure, got ok");
  return r;
}

/** One task of op 1, key k1, run once on a1 and answered. */
const happy = (): History => h(submit(1, 0), start(5), end(10, "ok"), ok(1, 12));

describe("noTaskLost", () => {
  it("passes a submit answered once with the result of its run", () => {
    expect(noTaskLost()(happy())).toEqual({ ok: true });
    expect(noTaskLost(happy())).toEqual({ ok: true }); // usable bare, with its defaults
  });

  it("fails a submit settled twice, naming the op and both settles", () => {
    const f = failure(noTaskLost()(h(submit(1, 0), start(5), end(10, "ok"), ok(1, 12), ok(1, 13))));
    expect(f.checker).toBe("noTaskLost");
    expect(f.message).toMatch(/op 1 .*client c1 key "k1".*settled twice: at t=12 .* at t=13/);
    expect(f.events.map((e) => e.kind)).toEqual(["submit", "settle", "settle"]);
  });

  it("fails a settle of an op that was never submitted, or of another client's key", () => {
    expect(failure(noTaskLost()(h(ok(7, 3)))).message).toMatch(/op 7 .*never submitted/);
    expect(failure(noTaskLost()(h(submit(1, 0), ok(1, 3, { client: "c2" })))).message).toMatch(/op 1 was submitted by client c1 .* as client c2/);
  });

  it("fails a submit never answered when the history runs past its deadline + grace: lost", () => {
    const f = failure(noTaskLost({ graceMs: 100 })(h(submit(1, 0), start(5, { server: "a2" }), { kind: "crash", t: 6, node: "a2", incarnation: 1 }, { kind: "tables", t: 1200, sets: [], truth: {} })));
    expect(f.message).toMatch(/^lost: op 1 \(client c1 key "k1", app echo, submitted at t=0, deadline t=1000\).*runs to t=1200, past its deadline \+ grace \(t=1100\)/);
    expect(f.events.map((e) => e.kind)).toEqual(["submit", "run.start"]);
  });

  it("reports a submit with no settle yet, before its deadline + grace, as unsettled (or ignores it)", () => {
    const hist = h(submit(1, 0), start(5));
    expect(failure(noTaskLost()(hist)).message).toMatch(/^unsettled: op 1 .*ends at t=5, before its deadline \+ grace \(t=2000\).*run the cluster longer/);
    expect(noTaskLost({ unsettled: "ignore" })(hist)).toEqual({ ok: true });
  });

  it("passes a TIMEOUT at the deadline (within the slack), fails one well before it", () => {
    expect(noTaskLost()(h(submit(1, 0), err(1, 1000, "TIMEOUT")))).toEqual({ ok: true });
    expect(noTaskLost()(h(submit(1, 0), err(1, 995, "TIMEOUT")))).toEqual({ ok: true });
    const f = failure(noTaskLost()(h(submit(1, 0), err(1, 300, "TIMEOUT"))));
    expect(f.message).toMatch(/op 1 .*settled TIMEOUT at t=300, 700 ms before its deadline t=1000/);
    expect(failure(noTaskLost()(h(submit(1, 0), err(1, 300, "NO_SERVER")))).message).toMatch(/NO_SERVER is not an immediate code/);
    expect(failure(noTaskLost()(h(submit(1, 0), err(1, 300, "INTERNAL")))).message).toMatch(/INTERNAL/);
  });

  it("passes the immediate codes early (and an extra one when asked)", () => {
    for (const code of ["INVALID", "UNAUTHORIZED", "CANCELLED", "RETRIES_EXHAUSTED"]) expect(noTaskLost()(h(submit(1, 0), err(1, 1, code)))).toEqual({ ok: true });
    expect(noTaskLost({ immediate: ["NO_SERVER"] })(h(submit(1, 0), err(1, 1, "NO_SERVER")))).toEqual({ ok: true });
  });

  it("passes TASK_FAILED after a failed run of its key, fails one with no failed run", () => {
    expect(noTaskLost()(h(submit(1, 0), start(2), end(3, "failed"), err(1, 4, "TASK_FAILED")))).toEqual({ ok: true });
    expect(failure(noTaskLost()(h(submit(1, 0), start(2), end(3, "ok"), err(1, 4, "TASK_FAILED")))).message).toMatch(/op 1 .*TASK_FAILED at t=4, but no run of its key failed/);
  });

  it("fails a result with no ok run behind it: none, another server's, a failed one, another task's", () => {
    expect(failure(noTaskLost()(h(submit(1, 0), ok(1, 3)))).message).toMatch(/op 1 .*settled ok at t=3 by server a1 \(task T1\).*no ok run.end of task T1 on server a1/);
    expect(failure(noTaskLost()(h(submit(1, 0), start(1, { server: "a2" }), end(2, "ok", { server: "a2" }), ok(1, 3)))).message).toMatch(/server a1/);
    expect(failure(noTaskLost()(h(submit(1, 0), start(1), end(2, "failed"), ok(1, 3)))).message).toMatch(/no ok run.end/);
    expect(failure(noTaskLost()(h(submit(1, 0), start(1, { taskId: "T9" }), end(2, "ok", { taskId: "T9" }), ok(1, 3)))).message).toMatch(/task T1/);
    // a result that arrives before its run ended is not backed either
    expect(failure(noTaskLost()(h(submit(1, 0), start(1), ok(1, 3), end(4, "ok")))).message).toMatch(/no ok run.end/);
  });

  it("passes a cached result of an earlier ok run of the key on that server, fails a cached one with none", () => {
    const first = [submit(1, 0, { key: "k" }), start(1, { key: "k" }), end(2, "ok", { key: "k" }), ok(1, 3, { key: "k" })];
    expect(noTaskLost()(h(...first, submit(2, 4, { key: "k" }), ok(2, 5, { key: "k", taskId: "T2", cached: true })))).toEqual({ ok: true });
    const f = failure(noTaskLost()(h(...first, submit(2, 4, { key: "k" }), ok(2, 5, { key: "k", taskId: "T2", serverId: "a2", cached: true }))));
    expect(f.message).toMatch(/op 2 .*server a2 \(task T2, cached\).*no earlier ok run of its key on server a2/);
  });
});

describe("atMostOnceExecution", () => {
  it("passes one run per key, and runs of different keys or clients on one incarnation", () => {
    expect(atMostOnceExecution()(happy())).toEqual({ ok: true });
    expect(atMostOnceExecution(h(start(1), start(1, { key: "k2", taskId: "T2", running: 2 }), start(1, { client: "c2", taskId: "T3", running: 2 }), end(2, "ok"), end(2, "ok", { key: "k2", taskId: "T2" }), end(2, "ok", { client: "c2", taskId: "T3" })))).toEqual({ ok: true });
  });

  it("fails two overlapping runs of one key on one incarnation (single flight), naming server and incarnation", () => {
    const f = failure(atMostOnceExecution()(h(start(1), start(2, { taskId: "T2", running: 2 }))));
    expect(f.message).toMatch(/client c1 key "k1" ran twice at once on server a1 \(incarnation 1\): task T1 started at t=1 .* task T2 started at t=2/);
    expect(f.events).toHaveLength(2);
  });

  it("fails a re-run on the incarnation after an ok run (its result is stored)", () => {
    const f = failure(atMostOnceExecution()(h(start(1), end(2, "ok"), start(3, { taskId: "T2" }))));
    expect(f.message).toMatch(/ran again on server a1 \(incarnation 1\) at t=3 \(task T2\) after its run of task T1 ended ok at t=2/);
  });

  it("passes a re-run after a failed run, on a new incarnation, or once the result store pushed it out", () => {
    expect(atMostOnceExecution()(h(start(1), end(2, "failed"), start(3, { attempt: 2 })))).toEqual({ ok: true });
    expect(atMostOnceExecution()(h(start(1), end(2, "ok"), { kind: "crash", t: 3, node: "a1", incarnation: 1 }, { kind: "restart", t: 4, node: "a1", incarnation: 2 }, start(5, { incarnation: 2 })))).toEqual({ ok: true });
    expect(atMostOnceExecution({ resultStore: 1 })(h(start(1), end(2, "ok"), start(3, { key: "k2" }), end(4, "ok", { key: "k2" }), start(5, { taskId: "T2" })))).toEqual({ ok: true });
  });

  it("cluster scope: passes a re-run elsewhere after its first server crashed, paused, was partitioned, or its run failed", () => {
    const c = atMostOnceExecution({ scope: "cluster" });
    const other = { server: "a2", taskId: "T1" };
    expect(c(h(start(1), { kind: "crash", t: 2, node: "a1", incarnation: 1 }, start(3, other)))).toEqual({ ok: true });
    expect(c(h(start(1), { kind: "pause", t: 2, node: "a1", incarnation: 1 }, start(3, other)))).toEqual({ ok: true });
    expect(c(h(start(1), { kind: "fault", t: 2, fault: "partition", nodes: ["a1", "t2a"] }, start(3, other)))).toEqual({ ok: true });
    expect(c(h(start(1), end(2, "failed"), start(3, other)))).toEqual({ ok: true });
    expect(atMostOnceExecution({ scope: "cluster", keyWindowMs: 100 })(h(start(1), end(2, "ok"), start(200, other)))).toEqual({ ok: true });
  });

  it("cluster scope: fails a second run elsewhere with no failure of the first server, naming both", () => {
    const c = atMostOnceExecution({ scope: "cluster" });
    const f = failure(c(h(start(1), end(2, "ok"), { kind: "fault", t: 2, fault: "partition", nodes: ["a3", "t2a"] }, start(3, { server: "a2", taskId: "T2" }))));
    expect(f.checker).toBe("atMostOnceExecution(cluster)");
    expect(f.message).toMatch(/client c1 key "k1" ran twice in the cluster: task T1 on server a1 \(incarnation 1\) at t=1 \(ended ok at t=2\), then task T2 on server a2 \(incarnation 1\) at t=3/);
    // a fault before the first run does not excuse it
    expect(c(h({ kind: "crash", t: 0, node: "a1", incarnation: 1 }, start(1), start(3, { server: "a2" }))).ok).toBe(false);
    // the incarnation scope does not look across servers
    expect(atMostOnceExecution()(h(start(1), start(3, { server: "a2" })))).toEqual({ ok: true });
  });
});

describe("constraintsRespected", () => {
  const zoneX: Constraint[] = [{ key: "zone", op: "=", value: "x" }];
  it("passes runs on servers that meet the submit's require", () => {
    expect(constraintsRespected(h(submit(1, 0, { require: zoneX }), start(1)))).toEqual({ ok: true });
    const built: Constraint[] = [{ key: "id", op: "in", value: ["a1", "a2"] }, { key: "capacity", op: ">=", value: 2 }, { key: "app", op: "=", value: "echo" }, { key: "free", op: ">", value: 5 }];
    expect(constraintsRespected(h(submit(1, 0, { require: built }), start(1)))).toEqual({ ok: true });
  });

  it("fails a run on a server whose attributes do not meet require, naming task, op, server and the constraint", () => {
    const f = failure(constraintsRespected(h(submit(1, 0, { require: zoneX }), start(4, { attrs: { zone: "y" } }))));
    expect(f.message).toMatch(/task T1 \(op 1, client c1 key "k1"\) started at t=4 on server a1 \(incarnation 1\), which does not meet zone=x: its zone is "y"/);
    expect(f.events.map((e) => e.kind)).toEqual(["submit", "run.start"]);
  });

  it("fails a missing attribute and a built-in field that does not match", () => {
    const gpu: Constraint[] = [{ key: "gpu", op: "=", value: true }];
    expect(failure(constraintsRespected(h(submit(1, 0, { require: gpu }), start(4, { attrs: {} })))).message).toMatch(/gpu=true: its gpu is unset/);
    const notA1: Constraint[] = [{ key: "id", op: "!=", value: "a1" }];
    expect(failure(constraintsRespected(h(submit(1, 0, { require: notA1 }), start(4)))).message).toMatch(/id!=a1: its id is "a1"/);
  });
});

describe("capacityRespected", () => {
  it("passes runs within capacity", () => expect(capacityRespected(h(start(1, { running: 2, capacity: 2 })))).toEqual({ ok: true }));
  it("fails a run started over capacity, naming the task, server and incarnation", () => {
    const f = failure(capacityRespected(h(start(1), start(7, { key: "k3", taskId: "T3", incarnation: 2, running: 3, capacity: 2 }))));
    expect(f.message).toMatch(/task T3 \(client c1 key "k3"\) started at t=7 on server a1 \(incarnation 2\) with 3 runs in progress, over its capacity 2/);
    expect(f.events).toHaveLength(1);
  });
});

describe("convergence", () => {
  const agreed = tables(50, [{ set: "tier2", members: [member("t2a", { a1: [1, 3], a2: [1, 1] }), member("t2b", { a1: [1, 3], a2: [1, 1] })] }], { a1: [1, 3], a2: [1, 1] });
  it("passes when every member holds every live server at its own version", () => expect(convergence(h(agreed))).toEqual({ ok: true }));

  it("judges only the last tables event", () => {
    const stale = tables(10, [{ set: "tier2", members: [member("t2a", { a1: [1, 1] })] }], { a1: [1, 3] });
    expect(convergence(h(stale, agreed))).toEqual({ ok: true });
    expect(convergence(h(agreed, stale)).ok).toBe(false);
  });

  it("fails a member behind the server's own version, naming member, set, server and versions", () => {
    const f = failure(convergence(h(tables(50, [{ set: "tier2", members: [member("t2a", { a1: [1, 3] }), member("t2b", { a1: [1, 2] })] }], { a1: [1, 3] }))));
    expect(f.message).toMatch(/at t=50, member t2b of set tier2 holds server a1 at version \[1,2\] \(alive\), but the server itself is at \[1,3\]/);
  });

  it("fails a member missing a live server, a set that disagrees on a dead one, a live server nobody holds, no snapshot", () => {
    expect(failure(convergence(h(tables(5, [{ set: "m", members: [member("m1", { s1: [2, 1] }), member("m2", {})] }], { s1: [2, 1] })))).message).toMatch(/member m2 of set m does not hold live server s1 .*which m1 hold/);
    expect(failure(convergence(h(tables(5, [{ set: "m", members: [member("m1", { s9: [1, 4] }), member("m2", { s9: [1, 5] })] }], {})))).message).toMatch(/disagree on server s9 \(not live\): m1 holds \[1,4\], m2 holds \[1,5\]/);
    expect(convergence(h(tables(5, [{ set: "m", members: [member("m1", { s9: [1, 4] }), member("m2", {})] }], {})))).toEqual({ ok: true });
    expect(failure(convergence(h(tables(5, [{ set: "m", members: [member("m1", {})] }], { s2: [1, 1] })))).message).toMatch(/live server s2 .*held by no allocator set/);
    expect(failure(convergence(h(submit(1, 0)))).message).toMatch(/no tables event/);
  });
});

describe("check and formatFailure", () => {
  it("gives ok when all pass, else the first failure in the order given", () => {
    expect(check(happy(), noTaskLost(), atMostOnceExecution(), constraintsRespected, capacityRespected)).toEqual({ ok: true });
    // the factories also serve bare, with their defaults
    expect(check(happy(), noTaskLost, atMostOnceExecution)).toEqual({ ok: true });
    expect(failure(check(h(submit(1, 0), start(1), start(2, { taskId: "T2" })), atMostOnceExecution)).checker).toBe("atMostOnceExecution");
    const bad = h(submit(1, 0), start(1, { running: 3, capacity: 2 }), start(2, { taskId: "T2", running: 3, capacity: 2 }));
    expect(failure(check(bad, constraintsRespected, capacityRespected, atMostOnceExecution())).checker).toBe("capacityRespected");
    expect(failure(check(bad, atMostOnceExecution(), capacityRespected)).checker).toBe("atMostOnceExecution");
  });

  it("prints the checker, seed, schedule and the breaking events one per line", () => {
    const r = atMostOnceExecution()(h(submit(1, 0), start(1), start(2, { taskId: "T2", running: 2 })));
    const out = formatFailure(r, { seed: 42, trace: [0, 2, 1] });
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^atMostOnceExecution failed: client c1 key "k1" ran twice at once/);
    expect(lines[1]).toBe("seed: 42");
    expect(lines[2]).toBe("schedule: [0,2,1]");
    expect(lines[3]).toBe("events (2):");
    expect(lines[4]).toBe('  #1 t=1 run.start a1#1 c1/"k1" task=T1 app=echo attempt=1 running=1/2 attrs={"zone":"x"}');
    expect(lines[5]).toBe('  #2 t=2 run.start a1#1 c1/"k1" task=T2 app=echo attempt=1 running=2/2 attrs={"zone":"x"}');
    expect(lines).toHaveLength(6);
    expect(formatFailure({ ok: true })).toBe("ok");
    expect(formatFailure(r, { trace: "scheduler: 3 tasks" })).toContain("schedule: scheduler: 3 tasks");
  });

  it("formats every kind of event on one line", () => {
    const all = h(
      submit(1, 0, { require: [{ key: "zone", op: "in", value: ["x", "y"] }] }),
      err(1, 1, "TIMEOUT"),
      ok(1, 2, { cached: true }),
      start(3),
      end(4, "lost"),
      { kind: "fault", t: 5, fault: "delay", nodes: ["a1", "t2a"], detail: "50ms" },
      { kind: "pause", t: 6, node: "a1", incarnation: 1 },
      { kind: "fatal", t: 7, node: "t2a", error: "budget" },
      tables(8, [{ set: "tier2", members: [{ node: "t2a", servers: { a1: { version: [1, 2], status: "dead" } } }] }], { a1: [1, 2] }),
    );
    const lines = all.map(formatEvent);
    for (const l of lines) expect(l).not.toContain("\n");
    expect(lines[0]).toBe('#0 t=0 submit op=1 c1/"k1" app=echo deadline=1000 require=zone in (x,y)');
    expect(lines[1]).toBe('#1 t=1 settle op=1 c1/"k1" TIMEOUT "TIMEOUT happened"');
    expect(lines[2]).toBe('#2 t=2 settle op=1 c1/"k1" ok task=T1 server=a1 cached attempts=1');
    expect(lines[4]).toBe('#4 t=4 run.end a1#1 c1/"k1" task=T1 lost');
    expect(lines[5]).toBe("#5 t=5 fault delay a1,t2a 50ms");
    expect(lines[6]).toBe("#6 t=6 pause a1#1");
    expect(lines[7]).toBe('#7 t=7 fatal t2a "budget"');
    expect(lines[8]).toBe("#8 t=8 tables tier2{t2a:a1@[1,2](dead)} truth=a1@[1,2]");
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a history generated from a simple valid model passes every checker; one mutation of
// it fails the checker that guards what the mutation breaks.

interface ServerModel {
  id: string;
  capacity: number;
  attrs: Attrs;
  version: [number, number];
}
interface TaskModel {
  client: string;
  at: number;
  zone: "x" | "y" | undefined;
  pick: number;
  duration: number;
  latency: number;
  /** Submitted again once answered: the same key, answered from the server's stored result. */
  again: boolean;
}

const serversArb = fc.array(fc.record({ capacity: fc.integer({ min: 1, max: 3 }), zone: fc.constantFrom<"x" | "y">("x", "y"), seq: fc.integer({ min: 1, max: 9 }) }), { minLength: 1, maxLength: 3 }).map((ss): ServerModel[] =>
  // zone x always exists (the first server), so a task that requires it can always be placed
  ss.map((s, i) => ({ id: `a${i + 1}`, capacity: s.capacity, attrs: { zone: i === 0 ? "x" : s.zone }, version: [1, s.seq] })),
);
const tasksArb = fc.array(
  fc.record({ client: fc.constantFrom("c1", "c2"), at: fc.integer({ min: 0, max: 50 }), zone: fc.constantFrom<"x" | "y" | undefined>("x", "y", undefined), pick: fc.nat(), duration: fc.integer({ min: 1, max: 30 }), latency: fc.integer({ min: 0, max: 5 }), again: fc.boolean() }),
  { minLength: 1, maxLength: 12 },
);

/** A valid history: each task placed on an eligible server in the slot that frees first, run, answered; a repeat answered cached. */
function validHistory(servers: readonly ServerModel[], tasks: readonly TaskModel[]): History {
  type Timed = { ev: Draft<HistoryEvent>; order: number; seq: number };
  const out: Timed[] = [];
  let seq = 0;
  const push = (ev: Draft<HistoryEvent>, order: number): void => void out.push({ ev, order, seq: seq++ });
  const slots = new Map(servers.map((s) => [s.id, Array.from({ length: s.capacity }, () => 0)]));
  const sorted = tasks.map((t, i) => ({ ...t, zone: i === 0 ? ("x" as const) : t.zone, op: i + 1 })).sort((a, b) => a.at - b.at || a.op - b.op);
  let op = tasks.length;
  for (const t of sorted) {
    const key = `k${t.op}`;
    const require: Constraint[] = t.zone === undefined ? [] : [{ key: "zone", op: "=", value: t.zone }];
    const eligible = servers.filter((s) => t.zone === undefined || s.attrs.zone === t.zone);
    push(submit(t.op, t.at, { client: t.client, key, require, deadline: t.at + 10_000 }), 2);
    if (eligible.length === 0) {
      push(err(t.op, t.at + 1, "INVALID", { client: t.client, key }), 1); // no server can ever meet it: refused at once
      continue;
    }
    const s = eligible[t.pick % eligible.length] as ServerModel;
    const free = slots.get(s.id) as number[];
    const slot = free.indexOf(Math.min(...free));
    const begin = Math.max(t.at, free[slot] as number);
    const finish = begin + t.duration;
    free[slot] = finish;
    const taskId = `${t.client}-${t.op}`;
    push(start(begin, { server: s.id, client: t.client, key, taskId, capacity: s.capacity, attrs: s.attrs, running: 0 }), 3);
    push(end(finish, "ok", { server: s.id, client: t.client, key, taskId }), 0);
    push(ok(t.op, finish + t.latency, { client: t.client, key, taskId, serverId: s.id }), 1);
    if (t.again) {
      op += 1;
      const at = finish + t.latency + 1;
      push(submit(op, at, { client: t.client, key, require, deadline: at + 10_000 }), 2);
      push(ok(op, at + 1, { client: t.client, key, taskId: `${t.client}-${op}`, serverId: s.id, cached: true }), 1);
    }
  }
  // at one instant: run ends, then settles, then submits, then run starts (a freed slot is free)
  out.sort((a, b) => a.ev.t - b.ev.t || a.order - b.order || a.seq - b.seq);
  const running = new Map<string, number>();
  const events = out.map(({ ev }) => {
    if (ev.kind === "run.start") {
      const n = (running.get(ev.server) ?? 0) + 1;
      running.set(ev.server, n);
      return { ...ev, running: n };
    }
    if (ev.kind === "run.end") running.set(ev.server, (running.get(ev.server) ?? 0) - 1);
    return ev;
  });
  const last = events.reduce((m, e) => Math.max(m, e.t), 0) + 100;
  const servers2 = Object.fromEntries(servers.map((s) => [s.id, s.version]));
  events.push(tables(last, [{ set: "tier2", members: [member("t2a", servers2), member("t2b", servers2)] }], servers2));
  return h(...events);
}

const all: Checker[] = [noTaskLost(), atMostOnceExecution(), atMostOnceExecution({ scope: "cluster" }), constraintsRespected, capacityRespected, convergence];

type Mutation = "dropSettle" | "duplicateStart" | "overCapacity" | "violateRequire" | "perturbVersion";
const guard: Record<Mutation, Checker> = { dropSettle: noTaskLost(), duplicateStart: atMostOnceExecution(), overCapacity: capacityRespected, violateRequire: constraintsRespected, perturbVersion: convergence };

/** The history with one mutation applied at the `at`-th eligible event. */
function mutate(hist: History, m: Mutation, at: number): History {
  const evs = [...hist];
  const pick = (ok: (e: HistoryEvent) => boolean): number => {
    const idx = evs.flatMap((e, i) => (ok(e) ? [i] : []));
    if (idx.length === 0) throw new Error(`no event to mutate for ${m}`);
    return idx[at % idx.length] as number;
  };
  const renumber = (list: HistoryEvent[]): History => list.map((e, step) => ({ ...e, step }));
  switch (m) {
    case "dropSettle":
      evs.splice(pick((e) => e.kind === "settle"), 1);
      return renumber(evs);
    case "duplicateStart": {
      const i = pick((e) => e.kind === "run.start");
      const s = evs[i] as RunStartEvent;
      evs.splice(i + 1, 0, { ...s, taskId: `${s.taskId}-dup` });
      return renumber(evs);
    }
    case "overCapacity": {
      const i = pick((e) => e.kind === "run.start");
      const s = evs[i] as RunStartEvent;
      evs[i] = { ...s, running: s.capacity + 1 };
      return evs;
    }
    case "violateRequire": {
      const required = new Set(evs.flatMap((e) => (e.kind === "submit" && e.require.length > 0 ? [`${e.client}/${e.key}`] : [])));
      const i = pick((e) => e.kind === "run.start" && required.has(`${e.client}/${e.key}`));
      const s = evs[i] as RunStartEvent;
      evs[i] = { ...s, attrs: { ...s.attrs, zone: s.attrs.zone === "x" ? "y" : "x" } };
      return evs;
    }
    case "perturbVersion": {
      const i = evs.length - 1;
      const t = evs[i] as TablesEvent;
      const ids = Object.keys(t.truth);
      const id = ids[at % ids.length] as string;
      const [first, ...rest] = t.sets[0]?.members ?? [];
      if (!first) throw new Error("no member");
      const v = first.servers[id]?.version ?? [0, 0];
      const bumped = { ...first, servers: { ...first.servers, [id]: { version: [v[0], v[1] + 1] as [number, number], status: "alive" } } };
      evs[i] = { ...t, sets: [{ set: "tier2", members: [bumped, ...rest] }] };
      return evs;
    }
  }
}

describe("property: valid model histories pass, one mutation fails its checker", () => {
  it("a valid history passes every checker", () => {
    fc.assert(
      fc.property(serversArb, tasksArb, (servers, tasks) => {
        const hist = validHistory(servers, tasks);
        const r = check(hist, ...all);
        if (!r.ok) throw new Error(formatFailure(r));
      }),
      { numRuns: 300 },
    );
  });

  it("a single mutation makes the corresponding checker fail", () => {
    fc.assert(
      fc.property(serversArb, tasksArb, fc.constantFrom<Mutation>("dropSettle", "duplicateStart", "overCapacity", "violateRequire", "perturbVersion"), fc.nat(), (servers, tasks, m, at) => {
        const mutated = mutate(validHistory(servers, tasks), m, at);
        const r = guard[m](mutated);
        expect(r.ok, `${m} was not caught:\n${mutated.map(formatEvent).join("\n")}`).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
