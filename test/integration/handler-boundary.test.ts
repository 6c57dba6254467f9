import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AllotError, ErrorCode, startNode } from "../../src/index.js";
import type { Handler, RunningApp, RunningClient, RunningNode } from "../../src/index.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually, within } from "../helpers/raw-client.js";

const track = trackNodes();
const MISBEHAVE = fileURLToPath(new URL("../fixtures/handlers/misbehave.mjs", import.meta.url));
const quiet = { logLevel: "silent" as const };

interface Cluster {
  tier2: RunningNode;
  app: RunningApp;
  client: RunningClient;
}

async function cluster(app: { apps: string[]; handlers?: Record<string, Handler> | string; workers?: number; capacity?: number }, heartbeatMs?: number): Promise<Cluster> {
  const hb = heartbeatMs === undefined ? {} : { heartbeatMs };
  const tier2 = await track(startNode({ ...quiet, ...hb, role: "tier2" }));
  const a = await track(startNode({ ...quiet, ...hb, role: "app", capacity: app.capacity ?? 4, power: 1, join: [tier2.url], apps: app.apps, ...(app.handlers === undefined ? {} : { handlers: app.handlers }), ...(app.workers === undefined ? {} : { workers: app.workers }) }));
  await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
  const client = await track(startNode({ ...quiet, ...hb, role: "client", entries: [tier2.url], backoffMinMs: 5, backoffMaxMs: 50 }));
  return { tier2, app: a, client };
}

async function failure(p: Promise<unknown>): Promise<AllotError> {
  const err: unknown = await within(p.then(() => undefined, (e: unknown) => e), 15_000, "the task's answer");
  if (!(err instanceof AllotError)) throw new Error(`expected an AllotError, got ${String(err)}`);
  return err;
}

const FAILING = ["throwsError", "throwsString", "throwsUndefined", "rejectsNullProto"] as const;
const UNSENDABLE = ["returnsFunction", "returnsBigInt", "returnsCycle", "getterThrows"] as const;

describe("the handler boundary", () => {
  for (const workers of [0, 1]) {
    const where = workers === 0 ? "inline" : "on a worker thread";
    it(`answers every throw and rejection TASK_FAILED with its message, run once, ${where}`, async () => {
      const { client, app } = await cluster({ apps: [...FAILING, "echo"], handlers: MISBEHAVE, workers });
      const want: Record<(typeof FAILING)[number], RegExp> = {
        throwsError: /throwsError: disk full/,
        throwsString: /throwsString: plain string/,
        throwsUndefined: /throwsUndefined: undefined/,
        rejectsNullProto: /rejectsNullProto: \{"why":"no prototype"\}/,
      };
      for (const name of FAILING) {
        const err = await failure(client.submit({ app: name, timeoutMs: 10_000 }));
        expect(err.code, name).toBe(ErrorCode.TASK_FAILED);
        expect(err.retryable).toBe(false);
        expect(err.message).toMatch(want[name]);
      }
      // The server is whole: it still serves, and every slot came back.
      await expect(client.submit({ app: "echo", payload: "still here" })).resolves.toMatchObject({ result: "still here" });
      await eventually(() => app.stats().load === 0, 5000, "every slot to be released");
    });

    it(`answers a result that cannot be encoded INVALID naming the application, ${where}`, async () => {
      const { client } = await cluster({ apps: [...UNSENDABLE, "getterFlips", "echo"], handlers: MISBEHAVE, workers });
      for (const name of UNSENDABLE) {
        const err = await failure(client.submit({ app: name, timeoutMs: 10_000 }));
        expect(err.code, name).toBe(ErrorCode.INVALID);
        expect(err.message).toContain(name);
      }
      // Read once at the boundary: what was read is what is sent, so a later BigInt never reaches the write.
      await expect(client.submit({ app: "getterFlips" })).resolves.toMatchObject({ result: { value: 1 } });
      await expect(client.submit({ app: "echo", payload: 1 })).resolves.toMatchObject({ result: 1 });
    });
  }

  it("keeps the code and retryability of an AllotError a handler throws, even one from another copy of the package", async () => {
    let tries = 0;
    const once: Handler = () => {
      if (++tries === 1) throw new AllotError(ErrorCode.OVERLOADED, "first try refused");
      return { tries };
    };
    const { busy } = (await import(MISBEHAVE)) as { busy: Handler };
    let busyCalls = 0;
    const counted: Handler = (p, t) => (busyCalls++, busy(p, t));
    const { client } = await cluster({ apps: ["once", "busy"], handlers: { once, busy: counted }, capacity: 4 });
    // Retryable: the client placed it again, and the second run succeeded.
    await expect(client.submit({ app: "once" })).resolves.toMatchObject({ result: { tries: 2 }, attempts: 2 });
    const err = await failure(client.submit({ app: "busy", timeoutMs: 1000 }));
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    // Its OVERLOADED kept its retryability: the client tried again until the deadline (a TASK_FAILED would not have been).
    expect(busyCalls).toBeGreaterThanOrEqual(2);
  });

  it("answers a handler that never settles TIMEOUT at the deadline, keeps its slot until it settles, and shows it overdue", async () => {
    let release: (v: unknown) => void = () => {};
    let aborted = false;
    const stuck: Handler = (_p, task) =>
      new Promise((resolve) => {
        task.signal.addEventListener("abort", () => (aborted = true));
        release = resolve;
      });
    const { client, app } = await cluster({ apps: ["stuck", "echo"], handlers: { stuck }, capacity: 1 });
    const err = await failure(client.submit({ app: "stuck", timeoutMs: 300 }));
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    // The client's and the server's timers for the one deadline race: the abort may come just after the answer.
    await eventually(() => aborted, 5000, "the handler's signal to fire at the deadline");
    // The handler is still running: its slot stays taken, so the server never runs more than its capacity.
    const s = app.stats() as { load: number; runs: Array<{ app: string; overdue: boolean }> };
    expect(s.load).toBe(1);
    expect(s.runs).toEqual([expect.objectContaining({ app: "stuck", overdue: true })]);
    const blocked = await failure(client.submit({ app: "echo", timeoutMs: 300 }));
    expect([ErrorCode.TIMEOUT, ErrorCode.NO_SERVER, ErrorCode.OVERLOADED]).toContain(blocked.code);
    release({ late: true });
    await eventually(() => app.stats().load === 0, 5000, "the stuck run's slot to come back");
    await expect(client.submit({ app: "echo", payload: "after" })).resolves.toMatchObject({ result: "after" });
  });

  it("stops a run when its client cancels: the submit rejects CANCELLED and the handler's signal fires", async () => {
    let aborted: unknown;
    let started = false;
    const waits: Handler = (_p, task) =>
      new Promise((_resolve, reject) => {
        started = true;
        task.signal.addEventListener("abort", () => {
          aborted = task.signal.reason;
          reject(new Error("stopped"));
        });
      });
    const { client, app } = await cluster({ apps: ["waits"], handlers: { waits } });
    const ac = new AbortController();
    const p = client.submit({ app: "waits", timeoutMs: 20_000, signal: ac.signal });
    await eventually(() => started, 5000, "the run to start");
    ac.abort();
    expect(await failure(p)).toMatchObject({ code: ErrorCode.CANCELLED, retryable: false });
    await eventually(() => aborted !== undefined, 5000, "the server to stop the run");
    expect(aborted).toMatchObject({ code: ErrorCode.CANCELLED });
    await eventually(() => app.stats().load === 0, 5000, "the slot to come back");
    // A signal that has already fired cancels before anything is sent.
    expect(await failure(client.submit({ app: "waits", signal: ac.signal }))).toMatchObject({ code: ErrorCode.CANCELLED });
  });

  it("aborts a running handler with DRAINING when its server stops", async () => {
    let reason: unknown;
    let started = false;
    const waits: Handler = (_p, task) =>
      new Promise((_resolve, reject) => {
        started = true;
        task.signal.addEventListener("abort", () => {
          reason = task.signal.reason;
          reject(new Error("stopped"));
        });
      });
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    // Not tracked: this test stops it itself.
    const app = await startNode({ ...quiet, role: "app", capacity: 1, power: 1, join: [tier2.url], apps: ["waits"], handlers: { waits } });
    await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url], backoffMinMs: 5, backoffMaxMs: 50 }));
    const p = client.submit({ app: "waits", timeoutMs: 1500 }).catch((e: unknown) => e);
    await eventually(() => started, 5000, "the run to start");
    await app.stop();
    expect(reason).toMatchObject({ code: ErrorCode.DRAINING });
    // DRAINING is retryable: the client placed it again until its deadline, and no server was left.
    expect(await within(p, 10_000, "the submit")).toBeInstanceOf(AllotError);
  });

  it("terminates a worker thread that spins past its deadline, and frees its slot once the thread has stopped", async () => {
    const { client, app } = await cluster({ apps: ["spin", "echo"], handlers: MISBEHAVE, workers: 1, capacity: 1 });
    const err = await failure(client.submit({ app: "spin", payload: 600_000, timeoutMs: 500 }));
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    await eventually(() => app.stats().load === 0, 10_000, "the spinning thread to be terminated");
    // The pool starts a fresh thread for the next task.
    await expect(client.submit({ app: "spin", payload: 1 })).resolves.toMatchObject({ result: { spun: true } });
  });

  it("keeps heartbeats, reports and other tasks flowing while a 10 s CPU-bound handler runs", async () => {
    const { client, app, tier2 } = await cluster({ apps: ["spin", "echo"], handlers: MISBEHAVE, workers: 1, capacity: 8 }, 200);
    let spinDone = false;
    const long = client.submit({ app: "spin", payload: 10_000, timeoutMs: 60_000 }).then((r) => {
      spinDone = true;
      return r;
    });
    await eventually(() => app.stats().running === 1, 5000, "the spin to start");
    const reportsAt = (): number => (tier2.stats().reports as number | undefined) ?? 0;
    const before = reportsAt();
    let echoed = 0;
    // Twenty echo tasks, one after another, each answered while the spin goes on.
    for (let i = 0; i < 20; i++) {
      await expect(client.submit({ app: "echo", payload: i, timeoutMs: 5000 })).resolves.toMatchObject({ result: i });
      echoed++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(spinDone).toBe(false);
    expect(echoed).toBe(20);
    // The tier-2 kept hearing the server (its reports), and no connection was dropped for silence.
    expect(reportsAt()).toBeGreaterThan(before);
    expect(tier2.stats().servers).toEqual([expect.objectContaining({ id: app.id, status: "alive" })]);
    await expect(within(long, 30_000, "the spin")).resolves.toMatchObject({ result: { spun: true } });
  }, 60_000);

  it("survives a pooled handler that ends its thread (its task fails) or throws from a stray timer (no task fails, not even the next one on that thread)", async () => {
    const { client, app } = await cluster({ apps: ["exits", "throwsLater", "naps", "spin"], handlers: MISBEHAVE, workers: 1 });
    const err = await failure(client.submit({ app: "exits", timeoutMs: 10_000 }));
    expect(err.code).toBe(ErrorCode.TASK_FAILED);
    expect(err.message).toMatch(/exits: its worker thread failed/);
    // The one thread's stray timer throws while the next task, an innocent one, runs on it.
    await expect(client.submit({ app: "throwsLater", payload: 100 })).resolves.toMatchObject({ result: "answered first" });
    await expect(client.submit({ app: "naps", payload: 400, timeoutMs: 10_000 })).resolves.toMatchObject({ result: { napped: 400 } });
    await expect(client.submit({ app: "spin", payload: 1, timeoutMs: 10_000 })).resolves.toMatchObject({ result: { spun: true } });
    await eventually(() => app.stats().load === 0, 5000, "every slot to be released");
  });

  it("runs the built-in hash on the pool, and inline with workers 0", async () => {
    const pooled = await cluster({ apps: ["hash"], workers: 1 });
    await expect(pooled.client.submit({ app: "hash", payload: { rounds: 10 } })).resolves.toMatchObject({ result: { rounds: 10 } });
    expect(pooled.app.stats()).toMatchObject({ handlers: { hash: "pool" }, pool: { threads: 1 } });
    const inline = await cluster({ apps: ["hash"], workers: 0 });
    expect(inline.app.stats()).toMatchObject({ handlers: { hash: "inline" } });
    await expect(inline.client.submit({ app: "hash" })).resolves.toMatchObject({ result: { rounds: 1000 } });
  });

  it("loads a CommonJS module, runs its setup, and runs function handlers inline", async () => {
    const cjs = fileURLToPath(new URL("../fixtures/handlers/commonjs.cjs", import.meta.url));
    const { client } = await cluster({ apps: ["upper"], handlers: cjs, workers: 0 });
    await expect(client.submit({ app: "upper", payload: "abc" })).resolves.toMatchObject({ result: { upper: "ABC", ready: true } });
    const inline = await cluster({ apps: ["twice"], handlers: { twice: (p) => (p as number) * 2 } });
    expect(inline.app.stats()).toMatchObject({ handlers: { twice: "inline" } });
    await expect(inline.client.submit({ app: "twice", payload: 21 })).resolves.toMatchObject({ result: 42 });
  });

  it("refuses a handler module that is missing, does not load, or exports a non-function, naming the file and the application", async () => {
    const fixture = (f: string): string => fileURLToPath(new URL(`../fixtures/handlers/${f}`, import.meta.url));
    const start = (handlers: string, apps: string[]): Promise<RunningApp> => startNode({ ...quiet, role: "app", join: ["ws://127.0.0.1:9"], capacity: 1, power: 1, apps, handlers });
    await expect(start(fixture("nope.mjs"), ["render"])).rejects.toThrow(/nope\.mjs: no such file/);
    await expect(start(fixture("syntax-error.mjs"), ["render"])).rejects.toThrow(/syntax-error\.mjs: does not load/);
    await expect(start(fixture("not-a-function.mjs"), ["render"])).rejects.toThrow(/not-a-function\.mjs: its export "render" for application "render" is not a function/);
    await expect(start(MISBEHAVE, ["render"])).rejects.toThrow(/misbehave\.mjs: exports no handler for application "render"/);
  });
});
