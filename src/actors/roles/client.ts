import { AllotError, ErrorCode, checkPlainData } from "../../protocol/index.js";
import type { Attrs, Constraint, Message, Task } from "../../protocol/index.js";
import { MAX_AVOID } from "../../protocol/index.js";
import { DEFAULT_RETRY_BUDGET, RetryBudget, Unreachable } from "../../state/index.js";
import type { RetryBudgetOptions } from "../../state/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { firstConnected } from "../runtime/forward.js";
import { BoundedMap } from "../runtime/bounded-map.js";
import { PeerPool } from "../runtime/peer-pool.js";
import { unknownType } from "../runtime/role-actor.js";

/** What a caller asks for; everything but `app` has a default. */
export interface TaskSpec {
  app: string;
  payload?: unknown;
  require?: Constraint[];
  /** Weighted soft constraints: a server meeting one scores its `weight` (default 1) more. */
  prefer?: Array<Constraint & { weight?: number }>;
  clientAttrs?: Attrs;
  prefs?: Attrs;
  /** The user the task runs for; their stored preferences (at the allocators) join `prefs`. */
  user?: string;
  /** Idempotency key; defaults to the task id. Give the same key to make a resubmission return the first result. */
  key?: string;
  /** Total time allowed, retries included. */
  timeoutMs?: number;
  /** Expected cost in work units, when known: a master sends it to a server with that much idle power. */
  cost?: number;
  /**
   * Cancels the task wherever it is: the submit rejects CANCELLED at once (a task still waiting for
   * a server, or backing off, is not placed again), and a server already running it is told to
   * stop (its handler's signal fires), through a proxying slave too.
   */
  signal?: AbortSignal;
}

export interface TaskResult {
  taskId: string;
  serverId: string;
  result: unknown;
  /** true when the server returned a stored result for the key instead of running again. */
  cached: boolean;
  attempts: number;
  /** The slave that took the task, in the master/slave design. */
  slaveId?: string;
}

export interface ClientConfig {
  /** Entry points: vips or distributors of one set, or masters; the client rotates through them. */
  entries: readonly string[];
  timeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * Longest wait for an entry's answer to a placement before asking the next entry (a hung
   * entry must not hold a task to its deadline). Default 5 000 ms.
   */
  entryTimeoutMs?: number;
  attrs?: Attrs;
  /**
   * Failures one task may meet (a member gone, silent or failing) before it fails
   * RETRIES_EXHAUSTED; waiting for capacity (NO_SERVER "all at capacity", OVERLOADED) does not
   * count, the deadline bounds it. Default DEFAULT_MAX_ATTEMPTS (10).
   */
  maxAttempts?: number;
  /**
   * The client's retry budget: retries after failures are at most `ratio` of its tasks plus
   * `minPerSecond`, with `burst` saved up; past it a task fails RETRIES_EXHAUSTED instead of
   * retrying, so an outage does not become a retry storm. Default DEFAULT_RETRY_BUDGET (20 %,
   * 10/s, 100).
   */
  retryBudget?: Partial<RetryBudgetOptions>;
  /**
   * How long a server or slave this client could not reach (its link lost or silent, or a dial
   * that timed out) is avoided by the client's new tasks as well, ms; 0 turns it off. Default
   * DEFAULT_AVOID_UNREACHABLE_MS (5 s). For when the client alone is cut off from a server its
   * allocators still see alive.
   */
  avoidUnreachableMs?: number;
}

/** See ClientConfig.avoidUnreachableMs. */
export const DEFAULT_AVOID_UNREACHABLE_MS = 5000;

/** Failures a task may meet before the client gives up on it (see ClientConfig.maxAttempts). */
export const DEFAULT_MAX_ATTEMPTS = 10;

/** What a placement asks to avoid: this task's failures, then members the client could not reach lately (at most MAX_AVOID; a copy). */
function withUnreachable(avoid: readonly string[] | undefined, lately: readonly string[] | undefined): string[] | undefined {
  if (lately === undefined) return avoid === undefined ? undefined : [...avoid];
  const out = avoid === undefined ? [] : [...avoid];
  for (const id of lately) if (out.length < MAX_AVOID && !out.includes(id)) out.push(id);
  return out;
}

/** A refusal that means "no room yet", not a failure: it is waited out with backoff, not counted. */
function isWait(e: AllotError): boolean {
  return e.code === ErrorCode.NO_SERVER || e.code === ErrorCode.OVERLOADED;
}

function exhausted(id: string, why: string, last: AllotError): AllotError {
  return new AllotError(ErrorCode.RETRIES_EXHAUSTED, `task ${id} was not retried: ${why}; last error: ${last.message}`, { cause: last, retryable: false });
}

export interface ClientBehaviour extends Behaviour {
  submit(spec: TaskSpec): Promise<TaskResult>;
}

function cancelled(signal: AbortSignal): AllotError {
  return new AllotError(ErrorCode.CANCELLED, "the task was cancelled", { cause: signal.reason, retryable: false });
}

/** Recent keys whose entry a client remembers (see keyEntries): as many as an allocator remembers per client by default. */
const KEY_ENTRIES = 10_000;

/**
 * The client: places a task through an entry, then runs it on the chosen server over a direct,
 * pooled connection. When the entry is a master, its answer names a slave instead: the task goes
 * to that slave, which either relays the result (proxy) or names the server to run it on
 * (direct). A member that fails (its connection lost, or silent: the channel's detector closes
 * it) costs the task one attempt and the task is placed again at once, through the next entry,
 * telling the allocator which servers (and slaves) to avoid; the same key goes with it, so a
 * server that already ran it returns the stored result. The first answer settles the task, once.
 * Waits for capacity (no room, overloaded) back off until the deadline. Retries are bounded per
 * task (maxAttempts) and per client (retryBudget).
 */
export function createClient(ctx: RoleContext, config: ClientConfig): ClientBehaviour {
  if (config.entries.length === 0) throw new TypeError("a client needs at least one entry URL");
  const entries: Peer[] = config.entries.map((u) => ctx.connect(u));
  const servers = new PeerPool(ctx);
  const slaves = new PeerPool(ctx);
  const timeoutMs = config.timeoutMs ?? 30_000;
  const entryTimeoutMs = config.entryTimeoutMs ?? 5000;
  const backoffMin = config.backoffMinMs ?? 20;
  const backoffMax = config.backoffMaxMs ?? 1000;
  const maxAttempts = config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number >= 1, got ${maxAttempts}`);
  const budget = new RetryBudget({ ...DEFAULT_RETRY_BUDGET, ...config.retryBudget }, ctx.now());
  const unreachable = new Unreachable(config.avoidUnreachableMs ?? DEFAULT_AVOID_UNREACHABLE_MS, MAX_AVOID);
  let next = 0;
  let seq = 0;
  let replaced = 0;
  const bySlave = new Map<string, number>();
  const prefix = `${ctx.id}-${ctx.incarnation.toString(36)}`;

  async function run(placed: Extract<Message, { type: "task.placed" }>["body"], task: Task, deadline: number, attempt: number, signal: AbortSignal | undefined): Promise<Extract<Message, { type: "task.result" }>["body"]> {
    const { serverId, serverUrl, ticket } = placed;
    const server = servers.get(serverUrl);
    const asked = server.request("task.run", { taskId: task.id, key: task.key, app: task.app, ticket, payload: task.payload, deadline, attempt }, Math.max(1, deadline - ctx.now()));
    const res: Message = await (signal ? cancellable(asked, signal, () => server.current?.notify("task.cancel", { taskId: task.id, ticket })) : asked);
    if (res.type !== "task.result") throw new AllotError(ErrorCode.INVALID, `server ${serverId} answered ${res.type} to task.run`);
    return res.body;
  }

  // Round robin over the entries, skipping those whose connection is down while one is up: a
  // dead entry would only fail at once, and cost the task a backoff.
  function nextEntry(): Peer {
    const at = firstConnected(entries, next);
    next = (at + 1) % entries.length;
    return entries[at] as Peer;
  }

  /**
   * The entry each recent key of this client was last placed through (the last KEY_ENTRIES keys).
   * A submit of such a key places its first attempt through that same entry (while it is
   * connected), not the next one of the round robin: members of a set share their key placements
   * only after the fact (peer.keys), so a repeat placed through another tier-2 before the news
   * reached it went to another server and ran again, both servers healthy — two concurrent
   * submits of one key, or a resubmission just after the first answer (found by
   * test/testing/invariants.test.ts, "(j)" and "(k)"). Through one entry, the repeat finds the
   * first placement in that member's key memory and goes to the same server, whose single flight
   * or stored result answers it. Retries still rotate (a failed entry is not asked again first).
   */
  const keyEntries = new BoundedMap<string, Peer>(KEY_ENTRIES);

  function entryFor(key: string, attempt: number): Peer {
    const pinned = keyEntries.get(key);
    const entry = attempt === 1 && pinned?.current !== undefined ? pinned : nextEntry();
    if (entries.length > 1) keyEntries.set(key, entry);
    return entry;
  }

  /** Resolves after `ms`, or rejects CANCELLED as soon as `signal` fires. */
  function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const slept = ctx.sleep(ms, signal);
    return signal ? cancellable(slept, signal) : slept;
  }

  /** `p`, or a CANCELLED rejection as soon as `signal` fires (after `onCancel`, which tells the server). */
  function cancellable<T>(p: Promise<T>, signal: AbortSignal, onCancel?: () => void): Promise<T> {
    if (signal.aborted) {
      onCancel?.();
      return Promise.reject(cancelled(signal));
    }
    return new Promise<T>((resolve, reject) => {
      const abort = (): void => {
        onCancel?.();
        reject(cancelled(signal));
      };
      signal.addEventListener("abort", abort, { once: true });
      p.then(
        (v) => (signal.removeEventListener("abort", abort), resolve(v)),
        (e: unknown) => (signal.removeEventListener("abort", abort), reject(e)),
      );
    });
  }

  async function submit(spec: TaskSpec): Promise<TaskResult> {
    try {
      checkPlainData(spec.payload ?? null);
    } catch (err) {
      throw new AllotError(ErrorCode.INVALID, err instanceof Error ? err.message : String(err), { cause: err });
    }
    const id = `${prefix}-${(++seq).toString(36)}`;
    const deadline = ctx.now() + (spec.timeoutMs ?? timeoutMs);
    const task: Task = {
      id,
      key: spec.key ?? id,
      ...(spec.user !== undefined ? { user: spec.user } : {}),
      app: spec.app,
      ...(spec.cost !== undefined ? { cost: spec.cost } : {}),
      deadline,
      require: spec.require ?? [],
      ...(spec.prefer !== undefined && spec.prefer.length > 0 ? { prefer: spec.prefer.map((p) => ({ key: p.key, op: p.op, value: p.value, weight: p.weight ?? 1 })) } : {}),
      clientAttrs: { ...config.attrs, ...spec.clientAttrs },
      prefs: spec.prefs ?? {},
      payload: spec.payload ?? null,
    };
    const placement: Task = { ...task, payload: null };
    const signal = spec.signal;
    // Servers and slaves this task failed on: the next placement asks to avoid them.
    // Made on the first failure only: the common path allocates nothing for it.
    let avoid: string[] | undefined;
    let lastError: AllotError | undefined;
    let failures = 0;
    let waits = 0;
    budget.request(ctx.now());
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(signal);
      const remaining = deadline - ctx.now();
      if (remaining <= 0) throw new AllotError(ErrorCode.TIMEOUT, `task ${id} did not complete before its deadline; last error: ${lastError?.message ?? "none"}`, { cause: lastError, retryable: false });
      const entry = entryFor(task.key, attempt);
      // The member the task is with when a failure comes: nobody yet (the entry), a slave, a server.
      let at: string | undefined;
      try {
        // Placement needs the task's attributes, not its payload: the payload travels once, to the server.
        const client = { id: ctx.id, addr: "" };
        const asked = withUnreachable(avoid, unreachable.active(ctx.now()));
        const askedAt = ctx.now();
        const placing = entry.request("task.place", asked ? { task: placement, client, avoid: asked } : { task: placement, client }, Math.min(remaining, entryTimeoutMs));
        const placed = await (signal ? cancellable(placing, signal) : placing);
        ctx.metrics.observe("allot_placement_seconds", (ctx.now() - askedAt) / 1000);
        if (placed.type === "task.placed") {
          at = placed.body.serverId;
          const r = await run(placed.body, task, deadline, attempt, signal);
          return { taskId: id, serverId: r.serverId, result: r.result, cached: r.cached, attempts: attempt };
        }
        if (placed.type !== "slave.picked") throw new AllotError(ErrorCode.INVALID, `entry answered ${placed.type} to task.place`);
        // A master picked a slave: the task (with its payload) goes there.
        const { slaveId, slaveUrl, pick } = placed.body;
        at = slaveId;
        const slave = slaves.get(slaveUrl);
        const submitting = slave.request("task.submit", asked ? { task, pick, avoid: asked } : { task, pick }, Math.max(1, deadline - ctx.now()));
        // A proxying slave runs the task for us: a cancel goes to it, and it tells the server.
        const answer = await (signal ? cancellable(submitting, signal, () => slave.current?.notify("task.cancel", { taskId: task.id, ticket: pick })) : submitting);
        if (answer.type === "task.placed") at = answer.body.serverId;
        const r = answer.type === "task.placed" ? await run(answer.body, task, deadline, attempt, signal) : answer.type === "task.result" ? answer.body : undefined;
        if (!r) throw new AllotError(ErrorCode.INVALID, `slave ${slaveId} answered ${answer.type} to task.submit`);
        bySlave.set(slaveId, (bySlave.get(slaveId) ?? 0) + 1);
        return { taskId: id, serverId: r.serverId, result: r.result, cached: r.cached, attempts: attempt, slaveId };
      } catch (err) {
        lastError = AllotError.from(err);
        if (!lastError.retryable) throw lastError;
        if (signal?.aborted) throw cancelled(signal);
        let wait: number;
        if (isWait(lastError)) {
          wait = backoff(++waits);
        } else {
          // A failure: the member it came from is avoided, and the task goes again at once (the
          // first time; later ones back off), within the task's attempts and the client's budget.
          failures++;
          if (at !== undefined && lastError.code === ErrorCode.UNREACHABLE) unreachable.mark(at, ctx.now());
          if (at !== undefined && avoid?.includes(at) !== true) {
            avoid ??= [];
            if (avoid.length >= MAX_AVOID) avoid.shift();
            avoid.push(at);
          }
          if (failures >= maxAttempts) throw exhausted(id, `it failed ${failures} times (maxAttempts ${maxAttempts})`, lastError);
          if (!budget.tryRetry(ctx.now())) throw exhausted(id, "the client's retry budget is spent", lastError);
          replaced++;
          ctx.log.debug({ task: id, key: task.key, at, avoid, err: lastError.message }, "placing the task again");
          wait = failures === 1 ? 0 : backoff(failures - 1);
        }
        await delay(Math.min(Math.max(0, deadline - ctx.now()), wait), signal);
      }
    }
  }

  /** Jittered exponential backoff for the n-th wait of a task (n >= 1). */
  function backoff(n: number): number {
    const ceiling = Math.min(backoffMax, backoffMin * 2 ** Math.min(n - 1, 16));
    return ceiling / 2 + (ctx.random() * ceiling) / 2;
  }

  return {
    submit,
    handle(m: Message, ch: Channel) {
      ch.replyError(m, unknownType("client", m));
    },
    stats: () => ({ submitted: seq, servers: servers.size, slaves: slaves.size, bySlave: Object.fromEntries(bySlave), retries: { replaced, granted: budget.granted, refused: budget.refused } }),
    stop: () => {
      for (const p of entries) p.close();
      servers.close();
      slaves.close();
    },
  };
}
