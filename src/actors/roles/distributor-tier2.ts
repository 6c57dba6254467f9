import { AllotError, ErrorCode } from "../../protocol/index.js";
import type { Message, StatusBody } from "../../protocol/index.js";
import { effectiveTask, resolvePolicy } from "../../policies/index.js";
import type { Policy } from "../../policies/index.js";
import type { ServerEntry, ServerTable } from "../../state/index.js";
import type { Channel } from "../../transport/index.js";
import { DecisionLog, REPEAT } from "../runtime/decisions.js";
import { onExplain } from "../runtime/explain.js";
import { KeyPlacements } from "../runtime/key-placements.js";
import type { KeyMemoryOptions } from "../runtime/key-placements.js";
import { PeerSync } from "../runtime/peer-sync.js";
import { measuredAllocate } from "../runtime/measured-allocate.js";
import { Registry, allEntries, newTables, noLiveServer, onAttrsSet } from "../runtime/registry.js";
import { serverHealth } from "../runtime/server-health.js";
import type { ServerHealthConfig } from "../runtime/server-health.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { unknownType } from "../runtime/role-actor.js";
import { TICKET_TTL_MS, TicketIssuer, TicketSource } from "../runtime/ticket.js";
import { LeaseDesk } from "../runtime/lease-desk.js";
import type { LeaseConfig } from "../runtime/lease-desk.js";

export interface Tier2Config extends ServerHealthConfig, LeaseConfig {
  /** Selection policy name (see the policy registry). */
  policy?: string;
  /** The other tier-2 distributors of the set, to exchange server entries with. */
  peers?: readonly string[];
  /** How long a dead server's entry stays in the table before it is dropped, ms. Default 300 000. */
  deadRetentionMs?: number;
  /** How long, and how many, (client, key) → server placements are remembered (and shared with the peers). */
  keyMemory?: KeyMemoryOptions;
}

/**
 * A second-tier distributor, the allocator of the tiered design: it holds the attribute database
 * of the app servers that joined it, selects a server for each task by matching the task's
 * attributes to the servers' and then by idle power, reserves the slot, tells the server to
 * expect the client (address and ticket) and answers the client with the server's address.
 */
export function createTier2(ctx: RoleContext, config: Tier2Config = {}): Behaviour & { table: ServerTable } {
  const servers = new Registry(ctx, "app", "server", config.deadRetentionMs, serverHealth(config));
  const table = servers.table;
  const policy: Policy = resolvePolicy(config.policy);
  const tables = newTables();
  const sync = new PeerSync(ctx, table, tables, config.peers ?? []);
  // Who decides, among the set's members: policies with home servers split the servers by it.
  const pctx = sync.policyContext();
  const keys = new KeyPlacements(ctx, table, sync, config.keyMemory);
  // Incarnation: a restarted allocator's counts start again, under a new issuer name.
  const tickets = new TicketIssuer(ctx.id, ctx.incarnation, new TicketSource(ctx.entropy));
  let placed = 0;
  let refused = 0;
  let expectRefused = 0;
  let repeats = 0;
  const log = new DecisionLog();
  // Leases (lease-desk.ts): slots for a client's class of tasks, booked in the same table.
  const leases = new LeaseDesk({ ctx, servers, tables, policy, pctx, issuer: tickets.issuer }, config);

  function onReport(m: Extract<Message, { type: "server.report" | "server.load" }>, ch: Channel): void {
    const result = m.type === "server.report" ? servers.onReport(m, ch) : servers.onLoad(m, ch);
    // A full report may say it drains or no longer fits a lease's class: its leases are checked now.
    if (m.type === "server.report") leases.onServer(m.body.server.id);
    // A broadcasting server reports to every allocator itself: relaying it too would only
    // send each peer a copy it already has (or soon will).
    if (result === undefined || m.body.relay !== true) return;
    const [id, version] = m.type === "server.report" ? [m.body.server.id, m.body.server.version] : [m.body.id, m.body.version];
    sync.reported(id, version, result);
  }

  function onPlace(m: Extract<Message, { type: "task.place" }>, ch: Channel): void {
    const { client } = m.body;
    const task = effectiveTask(m.body.task, tables.client.get(client.id), m.body.task.user === undefined ? undefined : tables.user.get(m.body.task.user), tables["task-type"].get(m.body.task.app));
    // A repeat of a key goes where the key went while that server lives: its run, or its result, is there.
    // Unless the client says that server failed this task: then the key may go elsewhere (at-least-once).
    const remembered = keys.previous(client.id, task);
    const before = remembered !== undefined && m.body.avoid?.includes(remembered.id) === true ? undefined : remembered;
    const started = ctx.now();
    let server: ServerEntry;
    if (before !== undefined) {
      table.reserve(before);
      server = before;
      repeats++;
      log.chose(started, task, server, REPEAT);
    } else {
      const a = measuredAllocate(ctx, table, task, policy, pctx, m.body.avoid);
      if (!a.ok) {
        refused++;
        log.refused(started, task, ErrorCode.NO_SERVER, a.reason);
        ctx.metrics.inc("allot_placements_refused_total", { code: ErrorCode.NO_SERVER });
        // Only "all full" can change by itself soon; a missing application or unmet constraint needs a new server.
        ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, a.reason, { retryable: a.full }));
        return;
      }
      server = a.server;
      log.chose(started, task, server, policy.name);
    }
    const to = servers.reach(server);
    if (to === undefined) {
      log.error(ErrorCode.NO_SERVER);
      ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, `server ${server.id} is no longer connected`, { retryable: true }));
      return;
    }
    const expiresAt = Math.min(task.deadline, ctx.now() + TICKET_TTL_MS);
    const ticket = tickets.issue(server, { taskId: task.id, key: task.key, client: client.id, expiresAt });
    // The answer does not wait for the server's ack: the server checks a signed ticket by itself,
    // so a run that overtakes its expect still runs; the expect only accounts for the slot.
    const expect = { taskId: task.id, key: task.key, ticket, client, expiresAt };
    ctx.ask(to, "task.expect", expect, undefined, (err, ack) => {
      if (ack?.type === "task.expected") {
        log.timed(ctx.now() - started);
        return table.confirm(server, ack.body.load, ack.body.version, ctx.now());
      }
      table.release(server);
      if (!err) return;
      expectRefused++;
      ctx.log.debug({ server: server.id, task: task.id, err: err.message }, "server did not accept expect");
    });
    placed++;
    ctx.metrics.inc("allot_tasks_placed_total");
    keys.placed(client.id, task.key, server.id);
    ch.reply(m, "task.placed", { taskId: task.id, serverId: server.id, serverUrl: server.url, ticket });
  }

  return {
    table,
    stop() {
      keys.stop();
      leases.stop();
      servers.stop();
    },
    handle(m: Message, ch: Channel) {
      if (m.type === "task.place") return onPlace(m, ch);
      if (m.type === "lease.request") return leases.onRequest(m, ch);
      if (m.type === "lease.release") return leases.onRelease(m, ch);
      if (m.type === "server.report" || m.type === "server.load") return onReport(m, ch);
      if (m.type === "status.get") return ch.reply(m, "status", { role: "tier2", node: ctx.id, servers: servers.rows(), tables: allEntries(tables), deadRetentionMs: servers.deadRetentionMs, placementMs: log.stats().placementMs } satisfies StatusBody);
      if (m.type === "attrs.set" || m.type === "attrs.unset") return onAttrsSet(m, ch, ctx, tables, sync);
      // A fresh policy instance per explanation: the live one's state (round-robin's cursor) stays as it is.
      if (m.type === "placement.explain") return onExplain(m, ch, table, tables, () => resolvePolicy(config.policy), pctx);
      if (m.type === "peer.sync") return sync.onSync(m, ch);
      if (m.type === "server.drain") return servers.onDrain(m, ch);
      if (m.type === "server.leave") {
        servers.onLeave(m, ch);
        return;
      }
      if (m.type === "peer.keys") return keys.onKeys(m, ch);
      ch.replyError(m, unknownType("tier-2 distributor", m));
    },
    onHello: (ch: Channel) => sync.onHello(ch),
    onClose(ch: Channel) {
      sync.onClose(ch);
      servers.onClose(ch);
    },
    notReady: () => noLiveServer(table, "app server"),
    stats: () => ({
      placed,
      refused,
      expectRefused,
      reports: servers.reports,
      staleReports: servers.staleReports,
      refusedReports: servers.refusedReports,
      loadReports: servers.loadReports,
      ejected: table.ejectedCount,
      policy: policy.name,
      repeats,
      ...leases.stats(),
      ...sync.stats(keys.stats()),
      ...log.stats(),
      servers: servers.rows(),
    }),
  };
}
