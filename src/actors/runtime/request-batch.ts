import { AllotError, ErrorCode, MAX_BATCH_TASKS } from "../../protocol/index.js";
import type { Bodies, Message } from "../../protocol/index.js";
import type { Peer } from "../../transport/index.js";
import type { RoleContext } from "./context.js";

type Request = Bodies["server.request"];
type Placed = Bodies["task.placed"];
/** How one request ends: its placement, or the error (of its own, or of the whole batch). */
export type PlacedThen = (err: AllotError | undefined, placed: Placed | undefined) => void;

interface Waiting {
  body: Request;
  timeoutMs: number;
  done: PlacedThen;
}

/**
 * A slave's server requests, gathered per master over one actor turn: what the turn asks of a
 * master leaves as one `server.requestBatch` (one envelope, one answer, one master turn), a lone
 * request as a plain `server.request`. Each request ends on its own callback, as if sent alone.
 */
export class RequestBatcher {
  private readonly open = new Map<Peer, Waiting[]>();
  private scheduled = false;
  /** Batches sent (of 2 or more requests), and the requests they carried. */
  batches = 0;
  batched = 0;

  constructor(private readonly ctx: RoleContext) {}

  /** Asks `master` for a server for `body` once this turn ends (at once when a batch is full). */
  ask(master: Peer, body: Request, timeoutMs: number, done: PlacedThen): void {
    let list = this.open.get(master);
    if (list === undefined) {
      list = [];
      this.open.set(master, list);
    }
    list.push({ body, timeoutMs, done });
    if (list.length >= MAX_BATCH_TASKS) {
      this.open.delete(master);
      return this.send(master, list);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // Later in the actor's mailbox: the rest of this turn's submits join the batch.
      this.ctx.enqueue(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const [master, list] of this.open) this.send(master, list);
    this.open.clear();
  }

  private send(master: Peer, list: Waiting[]): void {
    const first = list[0];
    if (first === undefined) return;
    if (list.length === 1) {
      return this.ctx.ask(master, "server.request", first.body, first.timeoutMs, (e, m) => first.done(...one(e, m, first.body.task.id)));
    }
    this.batches++;
    this.batched += list.length;
    // The longest wait of the batch: a request with less time left ends no later than its deadline's check.
    let timeoutMs = 0;
    const requests = new Array<Request>(list.length);
    for (let i = 0; i < list.length; i++) {
      const w = list[i] as Waiting;
      requests[i] = w.body;
      if (w.timeoutMs > timeoutMs) timeoutMs = w.timeoutMs;
    }
    this.ctx.ask(master, "server.requestBatch", { requests }, timeoutMs, (e, m) => {
      const results = m?.type === "server.placedBatch" ? m.body.results : undefined;
      if (results === undefined || results.length !== list.length) {
        const err = e ?? new AllotError(ErrorCode.INVALID, m?.type === "server.placedBatch" ? `master answered ${results?.length ?? 0} results to ${list.length} server requests` : `master answered ${m?.type ?? "nothing"} to server.requestBatch`);
        for (const w of list) w.done(err, undefined);
        return;
      }
      for (let i = 0; i < list.length; i++) {
        const w = list[i] as Waiting;
        const r = results[i] as (typeof results)[number];
        if (r.taskId !== w.body.task.id) w.done(new AllotError(ErrorCode.INVALID, `master answered for task ${r.taskId} in the place of task ${w.body.task.id}`), undefined);
        else if ("error" in r) w.done(AllotError.fromWire(r.error), undefined);
        else w.done(undefined, r);
      }
    });
  }
}

/** A lone `server.request`'s answer as a placement or an error. */
function one(e: AllotError | undefined, m: Message | undefined, taskId: string): [AllotError | undefined, Placed | undefined] {
  if (m === undefined) return [e ?? new AllotError(ErrorCode.INTERNAL, "server.request ended with neither answer nor error"), undefined];
  if (m.type !== "task.placed") return [new AllotError(ErrorCode.INVALID, `master answered ${m.type} to server.request`), undefined];
  if (m.body.taskId !== taskId) return [new AllotError(ErrorCode.INVALID, `master answered for task ${m.body.taskId} in the place of task ${taskId}`), undefined];
  return [undefined, m.body];
}
