import { AllotError, ErrorCode, checkPlainData } from "../../protocol/index.js";
import type { Attrs, Constraint, Message, Task } from "../../protocol/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { firstConnected } from "../runtime/forward.js";
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
   * Cancels the task: the submit rejects CANCELLED at once, and a server already running it is
   * told to stop (its handler's signal fires). Through a proxying slave the run stops at its deadline.
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
}

export interface ClientBehaviour extends Behaviour {
  submit(spec: TaskSpec): Promise<TaskResult>;
}

function cancelled(signal: AbortSignal): AllotError {
  return new AllotError(ErrorCode.CANCELLED, "the task was cancelled", { cause: signal.reason, retryable: false });
}

/**
 * The client: places a task through an entry, then runs it on the chosen server over a direct,
 * pooled connection. When the entry is a master, its answer names a slave instead: the task goes
 * to that slave, which either relays the result (proxy) or names the server to run it on
 * (direct). A retryable failure (no server yet, overloaded, a member down, a lost connection) is
 * retried with backoff, through the next entry, until the task's deadline.
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
  let next = 0;
  let seq = 0;
  const bySlave = new Map<string, number>();
  const prefix = `${ctx.id}-${ctx.now().toString(36)}`;

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

  const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
    let lastError: AllotError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(signal);
      const remaining = deadline - ctx.now();
      if (remaining <= 0) throw new AllotError(ErrorCode.TIMEOUT, `task ${id} did not complete before its deadline; last error: ${lastError?.message ?? "none"}`, { cause: lastError, retryable: false });
      const entry = nextEntry();
      try {
        // Placement needs the task's attributes, not its payload: the payload travels once, to the server.
        const placing = entry.request("task.place", { task: placement, client: { id: ctx.id, addr: "" } }, Math.min(remaining, entryTimeoutMs));
        const placed = await (signal ? cancellable(placing, signal) : placing);
        if (placed.type === "task.placed") {
          const r = await run(placed.body, task, deadline, attempt, signal);
          return { taskId: id, serverId: r.serverId, result: r.result, cached: r.cached, attempts: attempt };
        }
        if (placed.type !== "slave.picked") throw new AllotError(ErrorCode.INVALID, `entry answered ${placed.type} to task.place`);
        // A master picked a slave: the task (with its payload) goes there.
        const { slaveId, slaveUrl, pick } = placed.body;
        const submitting = slaves.get(slaveUrl).request("task.submit", { task, pick }, Math.max(1, deadline - ctx.now()));
        const answer = await (signal ? cancellable(submitting, signal) : submitting);
        const r = answer.type === "task.placed" ? await run(answer.body, task, deadline, attempt, signal) : answer.type === "task.result" ? answer.body : undefined;
        if (!r) throw new AllotError(ErrorCode.INVALID, `slave ${slaveId} answered ${answer.type} to task.submit`);
        bySlave.set(slaveId, (bySlave.get(slaveId) ?? 0) + 1);
        return { taskId: id, serverId: r.serverId, result: r.result, cached: r.cached, attempts: attempt, slaveId };
      } catch (err) {
        lastError = AllotError.from(err);
        if (!lastError.retryable) throw lastError;
        const ceiling = Math.min(backoffMax, backoffMin * 2 ** Math.min(attempt - 1, 16));
        if (signal?.aborted) throw cancelled(signal);
        await delay(Math.min(Math.max(0, deadline - ctx.now()), ceiling / 2 + (ctx.random() * ceiling) / 2));
      }
    }
  }

  return {
    submit,
    handle(m: Message, ch: Channel) {
      ch.replyError(m, unknownType("client", m));
    },
    stats: () => ({ submitted: seq, servers: servers.size, slaves: slaves.size, bySlave: Object.fromEntries(bySlave) }),
    stop: () => {
      for (const p of entries) p.close();
      servers.close();
      slaves.close();
    },
  };
}
