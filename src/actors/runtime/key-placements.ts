import { DEFAULT_KEY_MEMORY, KeyMemory } from "../../state/index.js";
import type { KeyMemoryOptions, ServerEntry, ServerTable } from "../../state/index.js";
import type { Message, Task } from "../../protocol/index.js";
import type { Channel } from "../../transport/index.js";
import type { RoleContext } from "./context.js";
import type { PeerSync } from "./peer-sync.js";

export type { KeyMemoryOptions };

const SWEEP_MS = 1000;

/**
 * An allocator's memory of where each client's keys went, shared with its peers: a repeat of a
 * key (a retry through another front, a resubmission) is placed on the server that had it while
 * that server lives, so the server's single flight or stored result answers it instead of a
 * second run. A key runs elsewhere only once that server is dead, gone from the table, or no
 * longer offers the application (at-least-once).
 */
export class KeyPlacements {
  readonly memory: KeyMemory;
  private readonly stopSweeper: () => void;

  constructor(
    private readonly ctx: RoleContext,
    private readonly table: ServerTable,
    private readonly sync: PeerSync,
    options: KeyMemoryOptions = DEFAULT_KEY_MEMORY,
  ) {
    this.memory = new KeyMemory(options);
    sync.keys = this.memory;
    this.stopSweeper = ctx.every(SWEEP_MS, () => this.memory.sweep(ctx.now()));
  }

  /**
   * The live server `client`'s key of `task` was placed on, if any: one Map get and one table
   * get. Not dead, still in the table, still offering the task's application. The caller
   * reserves a slot on it and then checks its link as for any placement (a closed one marks it
   * dead and gives the slot back), so a repeat is accounted for like any other task.
   */
  previous(client: string, task: Task): ServerEntry | undefined {
    const id = this.memory.get(client, task.key, this.ctx.now());
    if (id === undefined) return undefined;
    const e = this.table.get(id);
    // A draining server takes no new run: a repeat of its key is placed elsewhere.
    if (e === undefined || e.status === "dead" || e.status === "draining" || !e.apps.includes(task.app)) return undefined;
    return e;
  }

  /** `client`'s key went to `server`: remember it and tell the peers. */
  placed(client: string, key: string, server: string): void {
    this.memory.set(client, key, server, this.ctx.now());
    this.sync.keyPlaced(client, key, server, this.memory.options.windowMs);
  }

  /** A peer's placements: remembered for what remains of their window, never longer than ours. */
  onKeys(m: Extract<Message, { type: "peer.keys" }>, ch: Channel): void {
    const now = this.ctx.now();
    for (const k of m.body.keys) this.memory.set(k.client, k.key, k.server, now, k.ttlMs);
    this.sync.keysReceived += m.body.keys.length;
    ch.reply(m, "ack", {});
  }

  stats(): Record<string, number> {
    return { keys: this.memory.size, ...this.memory.counts };
  }

  stop(): void {
    this.stopSweeper();
  }
}
