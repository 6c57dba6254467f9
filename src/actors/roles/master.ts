import { AllotError, ErrorCode, hasRole } from "../../protocol/index.js";
import type { Bodies, Message, StatusBody, Task } from "../../protocol/index.js";
import { MAX_UNCONFIRMED, allocate, effectiveTask, leastLoaded, resolvePolicy } from "../../policies/index.js";
import type { Policy } from "../../policies/index.js";
import type { ServerEntry, ServerTable } from "../../state/index.js";
import type { Channel } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { DecisionLog, REPEAT } from "../runtime/decisions.js";
import { onExplain } from "../runtime/explain.js";
import { KeyPlacements } from "../runtime/key-placements.js";
import type { KeyMemoryOptions } from "../runtime/key-placements.js";
import { PeerSync } from "../runtime/peer-sync.js";
import { measuredAllocate } from "../runtime/measured-allocate.js";
import { Registry, allEntries, newTables, noLiveServer, onAttrsSet } from "../runtime/registry.js";
import { serverHealth } from "../runtime/server-health.js";
import type { ServerHealthConfig } from "../runtime/server-health.js";
import { unknownType } from "../runtime/role-actor.js";
import { TICKET_TTL_MS, TicketIssuer, TicketSource } from "../runtime/ticket.js";

export const ASSIGN_MODES = ["grant", "indicate"] as const;
export type AssignMode = (typeof ASSIGN_MODES)[number];

export interface MasterConfig extends ServerHealthConfig {
  /**
   * `grant` (default): the master identifies the chosen server to the slave, which links the
   * client to it. `indicate`: the master first tells the server to perform the task (the server
   * accepts and reserves it), and identifies it to the slave only after the server accepted.
   */
  assign?: AssignMode;
  /** Server selection policy (see the policy registry); default least-loaded. */
  policy?: string;
  /** The other masters of the set, to share server and slave entries with. */
  peers?: readonly string[];
  /** How long a pick holds a place in a slave's load until the slave's request for it arrives. Default 2 000 ms. */
  pickHoldMs?: number;
  /** How long a dead server's or slave's entry stays before it is dropped, ms. Default 300 000. */
  deadRetentionMs?: number;
  /** How long, and how many, (client, key) → server placements are remembered (and shared with the peers). */
  keyMemory?: KeyMemoryOptions;
}

/** The application name slaves register under: a slave is a member offering "slave". */
export const SLAVE_APP = "slave";

/** The question "which slave?" put to the slave table: no constraints, every live slave with room qualifies. */
const PICK: Task = { id: "pick", key: "pick", app: SLAVE_APP, deadline: 0, require: [], clientAttrs: {}, prefs: {}, payload: null };

const PICK_SWEEP_MS = 250;

export interface MasterBehaviour extends Behaviour {
  servers: ServerTable;
  slaves: ServerTable;
}

/**
 * A master, the allocator of the master/slave design (file 004). Processing servers (app
 * servers) and slaves register with it and report their load. A client asks it which slave should
 * take a task (`task.place` → `slave.picked`): the slave with the least load, counting the picks
 * not yet followed by the slave's request. The slave asks it for a processing server
 * (`server.request`, carrying the slave's queue): it matches the task to the servers' attributes,
 * takes the least loaded and either identifies it at once (grant) or first has the server accept
 * the task and then identifies it (indicate).
 */
export function createMaster(ctx: RoleContext, config: MasterConfig = {}): MasterBehaviour {
  const assign: AssignMode = config.assign ?? "grant";
  if (!ASSIGN_MODES.includes(assign)) throw new TypeError(`assign must be one of ${ASSIGN_MODES.join(", ")}, got ${JSON.stringify(assign)}`);
  const pickHoldMs = config.pickHoldMs ?? 2000;
  const servers = new Registry(ctx, "app", "server", config.deadRetentionMs, serverHealth(config));
  const slaves = new Registry(ctx, "slave", "slave", config.deadRetentionMs);
  const policy: Policy = resolvePolicy(config.policy ?? "least-loaded");
  const tables = newTables();
  // Grant mode: slots reserved on servers that the server's next report will account for.
  const granted = new Map<string, number>();
  // A server's newer figure, from itself or through a peer, counts whatever was granted on it.
  const settleGrants = (id: string): void => {
    const n = granted.get(id);
    if (n === undefined) return;
    granted.delete(id);
    for (let i = 0; i < n; i++) servers.table.release(id);
  };
  const sync = new PeerSync(ctx, servers.table, tables, config.peers ?? [], slaves.table, settleGrants);
  // Who decides, among the set's members: policies with home servers split the servers by it.
  const pctx = sync.policyContext();
  const keys = new KeyPlacements(ctx, servers.table, sync, config.keyMemory);
  let repeats = 0;
  // Picks whose slave has not asked for a server yet, oldest first; each holds a slot of the slave.
  const picks = new Map<string, { slaveId: string; expiresAt: number }>();
  const randomTickets = new TicketSource(ctx.entropy);
  const tickets = new TicketIssuer(ctx.id, ctx.incarnation, randomTickets);
  let picked = 0;
  let placed = 0;
  let refused = 0;
  let indicated = 0;
  let indicateRefused = 0;
  const log = new DecisionLog();

  function onReport(m: Extract<Message, { type: "server.report" | "server.load" }>, ch: Channel): void {
    // Which table the report belongs to; whether the sender may report at all, the channel checked.
    const isSlave = hasRole(ch.principal, "slave");
    const registry = isSlave ? slaves : servers;
    const result = m.type === "server.report" ? registry.onReport(m, ch) : registry.onLoad(m, ch);
    if (result === undefined) return;
    const [id, version] = m.type === "server.report" ? [m.body.server.id, m.body.server.version] : [m.body.id, m.body.version];
    // A server registered with this master alone asks it to pass its reports on; slaves report
    // to every master themselves.
    if (m.body.relay === true && !isSlave) sync.reported(id, version, result);
    if (result !== "stale" && !isSlave) settleGrants(id);
  }

  function onPlace(m: Extract<Message, { type: "task.place" }>, ch: Channel): void {
    const task = m.body.task;
    if (servers.table.offering(task.app).length === 0) {
      refused++;
      const why = `no server offers application ${JSON.stringify(task.app)}`;
      log.refused(ctx.now(), task, ErrorCode.NO_SERVER, why);
      return ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, why, { retryable: false }));
    }
    // A slave the task already failed through is passed over, as a server is.
    const a = allocate(slaves.table, PICK, leastLoaded, pctx, MAX_UNCONFIRMED, m.body.avoid);
    if (!a.ok) {
      refused++;
      const why = slaves.table.size === 0 ? `no slave is registered with master ${ctx.id}` : a.reason.replace(/servers/g, "slaves");
      log.refused(ctx.now(), task, ErrorCode.NO_SERVER, why);
      return ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, why, { retryable: true }));
    }
    const slave = a.server;
    // SLAVE/TASK/MASTER/nonce: the slave checks the prefix and asks this master first, so the
    // pick's hold is let go where it was taken. The nonce (base64url) has no "/".
    const pick = `${slave.id}/${task.id}/${ctx.id}/${randomTickets.ticket()}`;
    picks.set(pick, { slaveId: slave.id, expiresAt: ctx.now() + pickHoldMs });
    picked++;
    ch.reply(m, "slave.picked", { taskId: task.id, slaveId: slave.id, slaveUrl: slave.url, pick });
  }

  function onServerRequest(m: Extract<Message, { type: "server.request" }>, ch: Channel): void {
    if (!slaves.registeredOn(ch)) return refuseUnregistered(m, ch);
    decide(m.body, ch, (err, placed) => (placed ? ch.reply(m, "task.placed", placed) : ch.replyError(m, err ?? internal())));
  }

  /** The requests of one turn of a slave: each decided as alone, answered together once the last is (at once in grant mode). */
  function onRequestBatch(m: Extract<Message, { type: "server.requestBatch" }>, ch: Channel): void {
    if (!slaves.registeredOn(ch)) return refuseUnregistered(m, ch);
    const requests = m.body.requests;
    const results = new Array<Bodies["server.placedBatch"]["results"][number]>(requests.length);
    let open = requests.length;
    requests.forEach((body, i) => {
      decide(body, ch, (err, placed) => {
        results[i] = placed ?? { taskId: body.task.id, error: (err ?? internal()).toWire() };
        if (--open === 0) ch.reply(m, "server.placedBatch", { results });
      });
    });
  }

  function refuseUnregistered(m: Extract<Message, { type: "server.request" | "server.requestBatch" }>, ch: Channel): void {
    log.error(ErrorCode.UNAUTHORIZED);
    ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `${ch.label()} is not a slave registered with master ${ctx.id}: a slave reports (registers) before it asks for servers`));
  }

  const internal = (): AllotError => new AllotError(ErrorCode.INTERNAL, "server request decided with neither placement nor error");

  /** One server request of a registered slave: the placement, or why there is none. */
  function decide(body: Bodies["server.request"], ch: Channel, done: (err: AllotError | undefined, placed?: Bodies["task.placed"]) => void): void {
    const { client, metrics } = body;
    const held = body.pick === undefined ? undefined : picks.get(body.pick);
    if (held !== undefined && body.pick !== undefined) {
      picks.delete(body.pick);
      slaves.table.release(held.slaveId);
    }
    // The slave's queue as of this request is newer than its last report: the next pick sees it.
    slaves.table.observe(ch.peerId, metrics.queue, metrics.version, ctx.now());
    const t = body.task;
    const task = effectiveTask(t, tables.client.get(client.id), t.user === undefined ? undefined : tables.user.get(t.user), tables["task-type"].get(t.app));
    // A repeat of a key (a retry through another slave, a resubmission) goes where the key went
    // while that server lives: its run, or its result, is there.
    // Unless the client says that server failed this task: then the key may go elsewhere (at-least-once).
    const remembered = keys.previous(client.id, task);
    const before = remembered !== undefined && body.avoid?.includes(remembered.id) === true ? undefined : remembered;
    const started = ctx.now();
    let server: ServerEntry;
    if (before !== undefined) {
      servers.table.reserve(before);
      server = before;
      repeats++;
      log.chose(started, task, server, REPEAT);
    } else {
      const a = measuredAllocate(ctx, servers.table, task, policy, pctx, body.avoid);
      if (!a.ok) {
        refused++;
        log.refused(started, task, ErrorCode.NO_SERVER, a.reason);
        ctx.metrics.inc("allot_placements_refused_total", { code: ErrorCode.NO_SERVER });
        return done(new AllotError(ErrorCode.NO_SERVER, a.reason, { retryable: a.full }));
      }
      server = a.server;
      log.chose(started, task, server, policy.name);
    }
    // Grant mode leaves the server to the slave: no connection of ours is needed, only a check
    // that its own link has not closed.
    const to = assign === "grant" ? (servers.disconnected(server) ? undefined : null) : servers.reach(server);
    if (to === undefined) {
      refused++;
      log.error(ErrorCode.NO_SERVER);
      return done(new AllotError(ErrorCode.NO_SERVER, `server ${server.id} is no longer connected`, { retryable: true }));
    }
    const expiresAt = Math.min(task.deadline, ctx.now() + TICKET_TTL_MS);
    const ticket = tickets.issue(server, { taskId: task.id, key: task.key, client: client.id, expiresAt });
    keys.placed(client.id, task.key, server.id);
    if (assign === "grant") {
      granted.set(server.id, (granted.get(server.id) ?? 0) + 1);
      placed++;
      log.timed(ctx.now() - started);
      ctx.metrics.inc("allot_tasks_placed_total");
      // The slave tells the server of the ticket: it is the one that links client and server.
      return done(undefined, { taskId: task.id, serverId: server.id, serverUrl: server.url, ticket, announce: true });
    }
    // Indicate: the server is told to perform the task, and accepts it, before the slave hears of it.
    ctx.ask(to as NonNullable<typeof to>, "task.expect", { taskId: task.id, key: task.key, ticket, client, expiresAt }, undefined, (err, ack) => {
      if (err || !ack) {
        servers.table.release(server);
        indicateRefused++;
        log.error(ErrorCode.OVERLOADED);
        const why = err?.message ?? "no answer";
        return done(new AllotError(ErrorCode.OVERLOADED, `server ${server.id} did not accept task ${task.id}: ${why}`, { retryable: true }));
      }
      if (ack.type === "task.expected") servers.table.confirm(server, ack.body.load, ack.body.version, ctx.now());
      else servers.table.release(server);
      indicated++;
      placed++;
      log.timed(ctx.now() - started);
      ctx.metrics.inc("allot_tasks_placed_total");
      ctx.log.debug({ server: server.id, task: task.id, slave: ch.peerId }, "server accepted the task; identifying it to the slave");
      done(undefined, { taskId: task.id, serverId: server.id, serverUrl: server.url, ticket });
    });
  }

  // A pick whose client never reached the slave stops holding the slave's slot.
  const stopPickSweep = ctx.every(PICK_SWEEP_MS, () => {
    const now = ctx.now();
    for (const [pick, p] of picks) {
      if (p.expiresAt > now) break; // later picks expire later
      picks.delete(pick);
      slaves.table.release(p.slaveId);
    }
  });

  return {
    servers: servers.table,
    slaves: slaves.table,
    handle(m: Message, ch: Channel) {
      switch (m.type) {
        case "task.place":
          return onPlace(m, ch);
        case "server.request":
          return onServerRequest(m, ch);
        case "server.requestBatch":
          return onRequestBatch(m, ch);
        case "server.report":
        case "server.load":
          return onReport(m, ch);
        case "status.get":
          return ch.reply(m, "status", { role: "master", node: ctx.id, servers: servers.rows(), tables: allEntries(tables), slaves: slaves.rows(), deadRetentionMs: servers.deadRetentionMs, placementMs: log.stats().placementMs } satisfies StatusBody);
        case "attrs.set":
        case "attrs.unset":
          return onAttrsSet(m, ch, ctx, tables, sync);
        case "placement.explain":
          // The server a slave would be given; a fresh policy instance, so the live one's state stays.
          return onExplain(m, ch, servers.table, tables, () => resolvePolicy(config.policy ?? "least-loaded"), pctx);
        case "peer.sync":
          return sync.onSync(m, ch);
        case "peer.keys":
          return keys.onKeys(m, ch);
        case "server.drain":
          return servers.onDrain(m, ch);
        case "server.leave":
          (hasRole(ch.principal, "slave") ? slaves : servers).onLeave(m, ch);
          return;
        default:
          ch.replyError(m, unknownType("master", m));
      }
    },
    onHello: (ch: Channel) => sync.onHello(ch),
    onClose(ch: Channel) {
      sync.onClose(ch);
      servers.onClose(ch);
      slaves.onClose(ch);
    },
    notReady: () => noLiveServer(servers.table, "app server") ?? noLiveServer(slaves.table, "slave"),
    stats: () => ({
      assign,
      policy: policy.name,
      picked,
      placed,
      refused,
      indicated,
      indicateRefused,
      heldPicks: picks.size,
      reports: servers.reports + slaves.reports,
      staleReports: servers.staleReports + slaves.staleReports,
      refusedReports: servers.refusedReports + slaves.refusedReports,
      loadReports: servers.loadReports + slaves.loadReports,
      ejected: servers.table.ejectedCount,
      repeats,
      ...sync.stats(keys.stats()),
      ...log.stats(),
      servers: servers.rows(),
      slaves: slaves.rows(),
    }),
    stop() {
      stopPickSweep();
      keys.stop();
      servers.stop();
      slaves.stop();
    },
  };
}
