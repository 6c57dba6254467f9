import type { Handler, TaskContext } from "../actors/runtime/handlers.js";
import type { Attrs } from "../protocol/index.js";
import type { HistoryEvent, RunEndEvent } from "./history.js";

/**
 * Writes the history: every event stamped with the virtual time and the scheduler step, nothing
 * of wall time or logs, so two runs of one seed give equal histories. Also wraps user handlers
 * per app-server incarnation, which is where run.start / run.end come from.
 */

/** A history event before it is stamped. */
export type Draft<E> = E extends unknown ? Omit<E, "t" | "step"> : never;

export class Recorder {
  readonly events: HistoryEvent[] = [];
  constructor(
    private readonly stamp: () => { t: number; step: number },
  ) {}

  record(e: Draft<HistoryEvent>): void {
    this.events.push({ ...e, ...this.stamp() } as HistoryEvent);
  }

  tail(n = 20): HistoryEvent[] {
    return this.events.slice(-n);
  }
}

/** What the wrapper needs to know of the server incarnation it runs on. */
export interface RunSite {
  server: string;
  incarnation: number;
  capacity: number;
  attrs: () => Attrs;
  /** The client a run is for, when the handler context does not say (before the seam). */
  clientOf: (task: TaskContext) => string;
}

interface Active {
  client: string;
  key: string;
  taskId: string;
}

/**
 * The handlers of one app-server incarnation, each recording its runs. `lose()` (the crash)
 * records every run still going as lost, and blackholes their late answers: a dead process
 * answers nothing.
 */
export class RunWrapper {
  private running = new Set<Active>();
  private lost = false;
  constructor(
    private readonly rec: Recorder,
    private readonly site: RunSite,
  ) {}

  wrap(app: string, h: Handler): Handler {
    return (payload, task) => {
      const site = this.site;
      const a: Active = { client: site.clientOf(task), key: task.key, taskId: task.taskId };
      this.running.add(a);
      this.rec.record({ kind: "run.start", server: site.server, incarnation: site.incarnation, client: a.client, key: a.key, taskId: a.taskId, app, attempt: task.attempt, running: this.running.size, capacity: site.capacity, attrs: { ...site.attrs() } });
      const end = (outcome: RunEndEvent["outcome"]): boolean => {
        if (this.lost || !this.running.delete(a)) return false;
        this.rec.record({ kind: "run.end", server: site.server, incarnation: site.incarnation, client: a.client, key: a.key, taskId: a.taskId, outcome });
        return true;
      };
      let out: unknown;
      try {
        out = h(payload, task);
      } catch (err) {
        end("failed");
        throw err;
      }
      if (!isThenable(out)) {
        end("ok");
        return out;
      }
      return new Promise((resolve, reject) => {
        out.then(
          (v) => {
            if (end("ok")) resolve(v);
          },
          (err: unknown) => {
            if (end("failed")) reject(err);
          },
        );
      });
    };
  }

  /** The incarnation crashed: its runs are lost. */
  lose(): void {
    if (this.lost) return;
    for (const a of this.running) this.rec.record({ kind: "run.end", server: this.site.server, incarnation: this.site.incarnation, client: a.client, key: a.key, taskId: a.taskId, outcome: "lost" });
    this.running.clear();
    this.lost = true;
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as { then?: unknown }).then === "function";
}
