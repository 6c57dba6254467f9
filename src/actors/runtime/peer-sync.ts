import { AllotError, ErrorCode, hasRole } from "../../protocol/index.js";
import type { AttrEntry, AttrTables, Bodies, KeyPlacementWire, Message, ServerReport } from "../../protocol/index.js";
import { compareVersion } from "../../state/index.js";
import type { ApplyResult, AttrTable, KeyMemory, ServerEntry, ServerTable } from "../../state/index.js";
import type { AllocatorIdentity, PolicyContext } from "../../policies/index.js";

/** The client, user and task-type tables of an allocator, by their wire names. */
export type Tables = Record<keyof AttrTables, AttrTable>;
const TABLE_NAMES = ["client", "user", "task-type"] as const;
import type { Channel } from "../../transport/index.js";
import type { RoleContext } from "./context.js";

/** Reports per `peer.sync` message (and key placements per `peer.keys`), so a full table never needs one giant frame. */
const CHUNK = 1000;
/**
 * Characters of server entries per `peer.sync` message at most (`reportChars`; a character is at
 * most 3 bytes of UTF-8, so a message stays under the 4 MiB frame): a count alone let one entry
 * near the frame limit, a server's own report at the protocol's bounds, take down the whole
 * message and with it every other entry it carried.
 */
const CHUNK_CHARS = 1024 * 1024;
/** Key placements waiting for the turn's flush past which more are not shared (counted): a bound on one turn's memory. */
const MAX_DIRTY_KEYS = 100_000;

export function toReport(e: ServerEntry): ServerReport {
  return {
    id: e.id,
    url: e.url,
    apps: e.apps,
    capacity: e.capacity,
    power: e.power,
    load: e.load,
    attrs: e.attrs,
    version: e.version,
    ...(e.periodMs > 0 ? { periodMs: e.periodMs } : {}),
    ...(e.ticketKey !== undefined ? { ticketKey: e.ticketKey } : {}),
    ...(e.failures > 0 ? { failures: e.failures } : {}),
    ...(e.status === "draining" ? { draining: true } : {}),
  };
}

/**
 * Keeps the tables of an allocator set (tier-2 distributors, or masters) converging: the whole
 * table goes over every connection with another member as soon as it is up, in either direction
 * (so a restarted member rebuilds its state from whoever it reaches or is reached by), and each
 * entry that a node's own report changed goes over every such connection, coalesced per turn.
 * Entries learned from a peer are not relayed again, so an update travels one hop: every member
 * must be connected to every other (list the set in --peers; one side is enough). The versioned
 * merge makes duplicates and reordering harmless. Masters also share their slaves' entries.
 */
export class PeerSync {
  /** Every live connection with another member, dialled or accepted. */
  private readonly links = new Set<Channel>();
  private readonly dirty = new Set<string>();
  private readonly dirtyEntries: AttrTables = { client: [], user: [], "task-type": [] };
  private dirtyKeys: KeyPlacementWire[] = [];
  private scheduled = false;
  received = 0;
  sent = 0;
  /** Where clients' keys were placed (allocators that remember them): shared whole with a peer that connects. */
  keys: KeyMemory | undefined;
  keysReceived = 0;
  keysSent = 0;
  keysNotShared = 0;
  /**
   * This allocator and the members of its set it is linked with, itself included: what a policy
   * splitting the servers among the members (home servers) needs. A new object whenever the set
   * changes, so a policy may cache what it derived from one.
   */
  identity: AllocatorIdentity;

  constructor(
    private readonly ctx: RoleContext,
    private readonly table: ServerTable,
    private readonly tables: Tables,
    urls: readonly string[],
    private readonly slaves?: ServerTable,
    /** Called for each server entry a peer's sync made newer (a master settles its grants there). */
    private readonly onServerApplied?: (id: string) => void,
  ) {
    this.identity = { id: ctx.id, members: [ctx.id] };
    // Dialled only: whichever side dials, onHello picks the connection up (the node closes them).
    for (const u of urls) ctx.connect(u);
  }

  /** A policy context whose `allocator` is always this set's current identity. */
  policyContext(): PolicyContext {
    const ctx = this.ctx;
    const identity = (): AllocatorIdentity => this.identity;
    return {
      random: ctx.random,
      now: ctx.now,
      get allocator() {
        return identity();
      },
    };
  }

  private membersChanged(): void {
    const ids = new Set<string>([this.ctx.id]);
    for (const ch of this.links) ids.add(ch.peerId);
    const members = [...ids].sort();
    const old = this.identity.members;
    if (members.length !== old.length || members.some((m, i) => m !== old[i])) this.identity = { id: this.ctx.id, members };
  }

  /** A connection finished its handshake: if it is with another member of the set, sync over it. */
  onHello(ch: Channel): void {
    if (!hasRole(ch.principal, this.ctx.role) || this.links.has(ch)) return;
    this.links.add(ch);
    this.membersChanged();
    this.sendAll(ch);
  }

  onClose(ch: Channel): void {
    if (this.links.delete(ch)) this.membersChanged();
  }

  /** Peers currently synced with. */
  get linked(): number {
    return this.links.size;
  }

  /** What a member of a set shows of its syncing in `stats`, its key memory's figures beside the keys it shared. */
  stats(keys: Record<string, number>): Record<string, unknown> {
    return {
      syncReceived: this.received,
      syncSent: this.sent,
      syncLinks: this.linked,
      keyMemory: { ...keys, sent: this.keysSent, received: this.keysReceived, notShared: this.keysNotShared },
      members: this.identity.members,
    };
  }

  /** A server's own report changed entry `id`: tell the peers (once per turn). */
  changed(id: string): void {
    if (this.links.size === 0) return;
    this.dirty.add(id);
    this.schedule();
  }

  /**
   * A server's own report, which asks to be relayed, did `result` here: pass it on if it may be
   * news to the peers. A report of the very version a `task.expected` answer already gave this
   * table is stale here, but the answer was never relayed: without this the peers would keep
   * the older version until the server changes again.
   */
  reported(id: string, version: readonly [number, number], result: ApplyResult): void {
    if (result === "stale") {
      const e = this.table.get(id);
      if (e === undefined || compareVersion(e.version, version) !== 0) return;
    }
    this.changed(id);
  }

  /** An entry of a client, user or task-type table was set here: tell the peers. */
  changedEntry(table: keyof AttrTables, e: AttrEntry): void {
    if (this.links.size === 0) return;
    this.dirtyEntries[table].push(e);
    this.schedule();
  }

  /** A key was placed here: tell the peers (coalesced per turn), with how long it is remembered. */
  keyPlaced(client: string, key: string, server: string, ttlMs: number): void {
    if (this.links.size === 0) return;
    if (this.dirtyKeys.length >= MAX_DIRTY_KEYS) {
      this.keysNotShared++;
      return;
    }
    this.dirtyKeys.push({ client, key, server, ttlMs });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.ctx.defer(() => this.ctx.enqueue(() => this.flush()));
  }

  /** Answers a peer.sync: only from a member of the set; newer versions win, so nothing here can roll state back. */
  onSync(m: Extract<Message, { type: "peer.sync" }>, ch: Channel): void {
    const now = this.ctx.now();
    for (const r of m.body.servers) {
      if (this.table.apply(r, now) === "stale") continue;
      this.received++;
      this.onServerApplied?.(r.id);
    }
    if (m.body.slaves && this.slaves) for (const r of m.body.slaves) if (this.slaves.apply(r, now) !== "stale") this.received++;
    const t = m.body.tables;
    if (t) for (const name of TABLE_NAMES) for (const e of t[name]) if (this.tables[name].merge(e)) this.received++;
    ch.reply(m, "ack", {});
  }

  private flush(): void {
    this.scheduled = false;
    const servers = reportsOf(this.table, this.dirty);
    const tables: AttrTables = { client: this.dirtyEntries.client.splice(0), user: this.dirtyEntries.user.splice(0), "task-type": this.dirtyEntries["task-type"].splice(0) };
    // Slaves report to every master themselves: only a full sync carries their entries.
    const hasChanges = servers.length + tables.client.length + tables.user.length + tables["task-type"].length > 0;
    const keys = this.dirtyKeys;
    this.dirtyKeys = [];
    for (const ch of this.links) {
      if (ch.closed) continue;
      if (hasChanges) this.send(ch, servers, tables, []);
      this.sendKeys(ch, keys);
    }
  }

  private sendKeys(ch: Channel, keys: readonly KeyPlacementWire[]): void {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      this.keysSent += chunk.length;
      ch.request("peer.keys", { keys: chunk }).catch((err: unknown) => {
        this.ctx.log.warn({ peer: ch.label(), err: AllotError.from(err).message }, "key placements not acknowledged");
      });
    }
  }

  private sendAll(ch: Channel): void {
    const tables: AttrTables = { client: this.tables.client.all(), user: this.tables.user.all(), "task-type": this.tables["task-type"].all() };
    this.send(ch, [...this.table.all()].map(toReport), tables, this.slaves ? [...this.slaves.all()].map(toReport) : []);
    if (this.keys) this.sendKeys(ch, [...this.keys.entries(this.ctx.now())]);
  }

  /** Server entries in chunks of CHUNK entries and CHUNK_CHARS; the (small) attribute tables and slave entries ride with the first. */
  private send(ch: Channel, servers: ServerReport[], tables: AttrTables, slaves: ServerReport[]): void {
    const extras = tables.client.length + tables.user.length + tables["task-type"].length > 0 || slaves.length > 0;
    for (let i = 0, first = true; first || i < servers.length; first = false) {
      let end = i;
      for (let chars = 0; end < servers.length && end - i < CHUNK; end++) {
        chars += reportChars(servers[end] as ServerReport);
        if (chars > CHUNK_CHARS && end > i) break; // an entry alone past the budget still goes, in a message of its own
      }
      const chunk = servers.slice(i, end);
      i = end;
      if (chunk.length === 0 && !extras) return;
      this.sent += chunk.length;
      const body: Bodies["peer.sync"] = { servers: chunk };
      if (first && extras) {
        body.tables = tables;
        if (slaves.length > 0) body.slaves = slaves;
        this.sent += slaves.length;
      }
      ch.request("peer.sync", body).catch((err: unknown) => {
        this.ctx.log.warn({ peer: ch.label(), err: AllotError.from(err).message }, "peer sync not acknowledged");
      });
    }
  }
}

function reportsOf(table: ServerTable, ids: Set<string>): ServerReport[] {
  const out: ServerReport[] = [];
  for (const id of ids) {
    const e = table.get(id);
    if (e) out.push(toReport(e));
  }
  ids.clear();
  return out;
}

/** About the size of a report on the wire, in characters: its strings, plus a few bytes for each other field. */
function reportChars(r: ServerReport): number {
  let n = 128 + r.id.length + r.url.length + (r.ticketKey?.length ?? 0);
  for (const a of r.apps) n += a.length + 2;
  for (const k in r.attrs) {
    const v = r.attrs[k];
    n += k.length + (typeof v === "string" ? v.length : 9) + 2;
  }
  return n;
}
