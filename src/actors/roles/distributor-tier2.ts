import { ErrorCode } from "../../protocol/index.js";
import type { BadBatchTask, BatchTask, Bodies, ClientRef, Message, PlacedOne, RefusedOne, StatusBody, Task } from "../../protocol/index.js";
import { effectiveTask, resolvePolicy } from "../../policies/index.js";
import type { Policy } from "../../policies/index.js";
import type { ServerEntry, ServerTable } from "../../state/index.js";
import type { Channel, Peer } from "../../transport/index.js";
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

/** Where a decided task's expect goes: sent at once (one task), or gathered per server (a batch). */
type Announce = (server: ServerEntry, to: Channel | Peer, expect: Bodies["task.expect"], started: number) => void;

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

  /**
   * Decides one task of client `client`, as `task.place` or as one of a batch: the effective task
   * (the stored client, user and task-type attributes joined), a repeat of its key sent where the
   * key went, or the policy's choice among the servers not in `avoid`; then the slot reserved,
   * the ticket issued and the expect handed to `announce` (sent alone, or with the batch's others
   * for the same server). A refusal is the error `task.place` answers.
   */
  function placeOne(t: Task, client: ClientRef, avoid: readonly string[] | undefined, started: number, announce: Announce): PlacedOne | RefusedOne {
    const task = effectiveTask(t, tables.client.get(client.id), t.user === undefined ? undefined : tables.user.get(t.user), tables["task-type"].get(t.app));
    // A repeat of a key goes where the key went while that server lives: its run, or its result, is there.
    // Unless the client says that server failed this task: then the key may go elsewhere (at-least-once).
    const remembered = keys.previous(client.id, task);
    const before = remembered !== undefined && avoid?.includes(remembered.id) === true ? undefined : remembered;
    let server: ServerEntry;
    if (before !== undefined) {
      table.reserve(before);
      server = before;
      repeats++;
      log.chose(started, task, server, REPEAT);
    } else {
      const a = measuredAllocate(ctx, table, task, policy, pctx, avoid);
      if (!a.ok) {
        refused++;
        log.refused(started, task, ErrorCode.NO_SERVER, a.reason);
        ctx.metrics.inc("allot_placements_refused_total", { code: ErrorCode.NO_SERVER });
        // Only "all full" can change by itself soon; a missing application or unmet constraint needs a new server.
        return { taskId: task.id, error: { code: ErrorCode.NO_SERVER, message: a.reason, retryable: a.full } };
      }
      server = a.server;
      log.chose(started, task, server, policy.name);
    }
    const to = servers.reach(server);
    if (to === undefined) {
      log.error(ErrorCode.NO_SERVER);
      return { taskId: task.id, error: { code: ErrorCode.NO_SERVER, message: `server ${server.id} is no longer connected`, retryable: true } };
    }
    const expiresAt = Math.min(task.deadline, ctx.now() + TICKET_TTL_MS);
    const ticket = tickets.issue(server, { taskId: task.id, key: task.key, client: client.id, expiresAt });
    // The answer does not wait for the server's ack: the server checks a signed ticket by itself,
    // so a run that overtakes its expect still runs; the expect only accounts for the slot.
    announce(server, to, { taskId: task.id, key: task.key, ticket, client, expiresAt }, started);
    placed++;
    ctx.metrics.inc("allot_tasks_placed_total");
    keys.placed(client.id, task.key, server.id);
    return { taskId: task.id, serverId: server.id, serverUrl: server.url, ticket };
  }

  /** Tells one server of one ticket: its ack confirms the slot, anything else releases it. */
  function expectOne(server: ServerEntry, to: Channel | Peer, expect: Bodies["task.expect"], started: number): void {
    ctx.ask(to, "task.expect", expect, undefined, (err, ack) => {
      if (ack?.type === "task.expected") {
        log.timed(ctx.now() - started);
        return table.confirm(server, ack.body.load, ack.body.version, ctx.now());
      }
      table.release(server);
      if (!err) return;
      expectRefused++;
      ctx.log.debug({ server: server.id, task: expect.taskId, err: err.message }, "server did not accept expect");
    });
  }

  /**
   * Tells one server of a batch's tickets for it in one message: the slots it accepted are
   * confirmed at once (with the load it answered), the ones it refused (by index) released, and
   * all of them released when it does not answer.
   */
  function expectMany(server: ServerEntry, to: Channel | Peer, expects: Array<Bodies["task.expect"]>, started: number): void {
    ctx.ask(to, "task.expectBatch", { expects }, undefined, (err, ack) => {
      const n = expects.length;
      if (ack?.type !== "task.expectedBatch") {
        table.release(server, n);
        if (!err) return;
        expectRefused += n;
        ctx.log.debug({ server: server.id, tasks: n, err: err.message }, "server did not accept expect batch");
        return;
      }
      // A server naming one index twice (or one past the batch) must not release a slot twice.
      const out = new Uint8Array(n);
      let no = 0;
      for (const r of ack.body.refused ?? []) {
        if (r.at < n && out[r.at] === 0) {
          out[r.at] = 1;
          no++;
          ctx.log.debug({ server: server.id, task: expects[r.at]?.taskId, err: r.error.message }, "server did not accept expect");
        }
      }
      const now = ctx.now();
      table.confirm(server, ack.body.load, ack.body.version, now, n - no);
      table.release(server, no);
      expectRefused += no;
      for (let i = n - no; i > 0; i--) log.timed(now - started);
    });
  }

  function onPlace(m: Extract<Message, { type: "task.place" }>, ch: Channel): void {
    const r = placeOne(m.body.task, m.body.client, m.body.avoid, ctx.now(), expectOne);
    if ("error" in r) return ch.reply(m, "error", r.error);
    ch.reply(m, "task.placed", r);
  }

  /**
   * A batch, decided in this one turn: each task as `task.place` would be (a task that did not
   * validate answered INVALID in its place), then one expect message per chosen server and one
   * answer with the results in the batch's order.
   */
  function onPlaceBatch(m: Extract<Message, { type: "task.placeBatch" }>, ch: Channel): void {
    const { client } = m.body;
    const started = ctx.now();
    const groups = new Map<ServerEntry, { to: Channel | Peer; expects: Array<Bodies["task.expect"]> }>();
    const gather: Announce = (server, to, expect) => {
      const g = groups.get(server);
      if (g === undefined) groups.set(server, { to, expects: [expect] });
      else g.expects.push(expect);
    };
    const tasks = m.body.tasks;
    const results = new Array<PlacedOne | RefusedOne>(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i] as BatchTask | BadBatchTask;
      if ("invalid" in t) {
        log.error(ErrorCode.INVALID);
        results[i] = { taskId: t.taskId ?? "", error: { code: ErrorCode.INVALID, message: `task.placeBatch: ${t.invalid}`, retryable: false } };
      } else results[i] = placeOne(t.task, client, t.avoid, started, gather);
    }
    for (const [server, g] of groups) {
      if (g.expects.length === 1) expectOne(server, g.to, g.expects[0] as Bodies["task.expect"], started);
      else expectMany(server, g.to, g.expects, started);
    }
    ch.reply(m, "task.placedBatch", { results });
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
      if (m.type === "task.placeBatch") return onPlaceBatch(m, ch);
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
