import type { Hub, LinkRule } from "./hub.js";
import type { NodeSet } from "./nodes.js";
import type { Recorder } from "./recorder.js";
import type { FaultSpec } from "./spec.js";

/**
 * The faults a test injects, each recorded in the history: on links (drop, delay, duplicate,
 * reorder), between groups (partition, heal), and on nodes (crash and restart with a new
 * incarnation; pause and resume, as SIGSTOP/SIGCONT). Call them between runs: the cluster is
 * then quiescent, so a fault never lands in the middle of an actor's turn.
 */

export interface LinkFaults {
  /** Drops each frame with probability `p`, or (`{ n }`) the next n frames. */
  drop(p: number | { n: number }): LinkFaults;
  /** Delivers every frame `ms` later. */
  delay(ms: number): LinkFaults;
  /** Delivers each frame twice with probability `p`. */
  duplicate(p: number): LinkFaults;
  /** Lets any queued frame of the link arrive next (not TCP: an explicit fault). */
  reorder(): LinkFaults;
  /** Removes every rule of the link. */
  clear(): LinkFaults;
}

export interface Faults {
  link(a: string, b: string): LinkFaults;
  /** Frames between the groups are held (connects refused) until heal. */
  partition(a: readonly string[], b: readonly string[]): void;
  heal(): void;
  crash(id: string): void;
  /** Starts a crashed node again, a new incarnation (crashes it first if it is alive). */
  restart(id: string): Promise<void>;
  pause(id: string): void;
  resume(id: string): void;
}

function probability(p: number, what: string): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what}: a probability from 0 to 1, got ${p}`);
  return p;
}

export function createFaults(hub: Hub, nodes: NodeSet, rec: Recorder): Faults {
  const fault = (kind: "drop" | "delay" | "duplicate" | "reorder", a: string, b: string, rule: LinkRule, detail: string): void => {
    hub.setRule(a, b, rule);
    rec.record({ kind: "fault", fault: kind, nodes: [a, b], detail });
  };
  const faults: Faults = {
    link(a, b) {
      nodes.get(a, "link");
      nodes.get(b, "link");
      const lf: LinkFaults = {
        drop(p) {
          if (typeof p === "number") fault("drop", a, b, { dropP: probability(p, "drop") }, `p=${p}`);
          else fault("drop", a, b, { dropN: p.n }, `n=${p.n}`);
          return lf;
        },
        delay(ms) {
          if (!(ms >= 0)) throw new RangeError(`delay: ms >= 0, got ${ms}`);
          fault("delay", a, b, { delayMs: ms }, `ms=${ms}`);
          return lf;
        },
        duplicate(p) {
          fault("duplicate", a, b, { duplicateP: probability(p, "duplicate") }, `p=${p}`);
          return lf;
        },
        reorder() {
          fault("reorder", a, b, { reorder: true }, "on");
          return lf;
        },
        clear() {
          hub.clearRule(a, b);
          rec.record({ kind: "fault", fault: "heal", nodes: [a, b], detail: "link rules cleared" });
          return lf;
        },
      };
      return lf;
    },
    partition(a, b) {
      for (const id of [...a, ...b]) nodes.get(id, "partition");
      hub.partition(a, b);
      rec.record({ kind: "fault", fault: "partition", nodes: [...a, ...b], detail: `${a.join(",")} | ${b.join(",")}` });
    },
    heal() {
      hub.heal();
      rec.record({ kind: "fault", fault: "heal", nodes: [] });
    },
    crash(id) {
      const s = nodes.get(id, "crash");
      if (!s.alive) return;
      nodes.kill(s);
      rec.record({ kind: "crash", node: id, incarnation: s.incarnation });
    },
    async restart(id) {
      const s = nodes.get(id, "restart");
      if (s.alive) faults.crash(id);
      await nodes.start(s);
      rec.record({ kind: "restart", node: id, incarnation: s.incarnation });
    },
    pause(id) {
      const s = nodes.get(id, "pause");
      if (!s.alive || s.paused) return;
      s.paused = true;
      s.view?.freeze();
      hub.pause(id);
      rec.record({ kind: "pause", node: id, incarnation: s.incarnation });
    },
    resume(id) {
      const s = nodes.get(id, "resume");
      if (!s.alive || !s.paused) return;
      s.paused = false;
      // Held frames flow first (they were waiting in the socket), then the timers, now overdue.
      hub.resume(id);
      s.view?.thaw();
      rec.record({ kind: "resume", node: id, incarnation: s.incarnation });
    },
  };
  return faults;
}

/** Applies a fault of the spec (at its virtual time). */
export async function applyFault(f: FaultSpec, faults: Faults): Promise<void> {
  switch (f.kind) {
    case "partition":
      return faults.partition(f.a, f.b);
    case "heal":
      return faults.heal();
    case "crash":
      return faults.crash(f.node);
    case "restart":
      return faults.restart(f.node);
    case "pause":
      return faults.pause(f.node);
    case "resume":
      return faults.resume(f.node);
    case "drop":
      faults.link(...f.link).drop(f.n !== undefined ? { n: f.n } : (f.p ?? 1));
      return;
    case "delay":
      faults.link(...f.link).delay(f.ms);
      return;
    case "duplicate":
      faults.link(...f.link).duplicate(f.p);
      return;
    case "reorder":
      faults.link(...f.link).reorder();
      return;
  }
}
