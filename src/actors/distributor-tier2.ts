import { AllotError, ErrorCode } from "../protocol/index.js";
import type { Message, ServerStatusRow } from "../protocol/index.js";
import { allocate, effectiveTask, resolvePolicy } from "../policies/index.js";
import type { Policy } from "../policies/index.js";
import { AttrTable, ServerTable } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";
import type { Channel, Peer } from "../transport/index.js";
import { PeerSync, toReport } from "./peer-sync.js";
import type { Tables } from "./peer-sync.js";
import type { Behaviour, RoleContext } from "./context.js";
import { stampClient } from "./forward.js";
import { unknownType } from "./role-actor.js";
import { newTicket } from "./ticket.js";

/** How often a tier-2 ages its entries; a full scan of the table, so not per task. */
const EXPIRY_CHECK_MS = 100;

export interface Tier2Config {
  /** Selection policy name (see the policy registry). */
  policy?: string;
  /** The other tier-2 distributors of the set, to exchange server entries with. */
  peers?: readonly string[];
}

/**
 * A second-tier distributor, the allocator of the tiered design: it holds the attribute database
 * of the app servers that joined it, selects a server for each task by matching the task's
 * attributes to the servers' and then by idle power, reserves the slot, tells the server to
 * expect the client (address and ticket) and answers the client with the server's address.
 */
export function createTier2(ctx: RoleContext, config: Tier2Config = {}): Behaviour & { table: ServerTable } {
  const table = new ServerTable();
  const policy: Policy = resolvePolicy(config.policy);
  const links = new Map<string, Channel>();
  // Servers known only through a peer are told to expect a client over a connection we open.
  const dialed = new Map<string, Peer>();
  const tables: Tables = { client: new AttrTable(), user: new AttrTable(), "task-type": new AttrTable() };
  const sync = new PeerSync(ctx, table, tables, config.peers ?? []);
  const pctx = { random: ctx.random, now: ctx.now };
  const rows = (): ServerStatusRow[] => {
    const now = ctx.now();
    return [...table.all()].map((e) => row(e, now));
  };
  let placed = 0;
  let refused = 0;
  let expectRefused = 0;
  let reports = 0;
  let staleReports = 0;

  function onReport(m: Extract<Message, { type: "server.report" }>, ch: Channel): void {
    const r = m.body.server;
    if (ch.peerRole !== "app" || ch.peerId !== r.id) {
      ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `node ${ch.label()} may not report for server ${r.id}`));
      return;
    }
    const result = table.apply(r, ctx.now());
    reports++;
    if (links.get(r.id) !== ch) {
      links.set(r.id, ch);
      table.setStatus(r.id, "alive");
      ctx.log.info({ server: r.id, url: r.url, apps: r.apps }, "server joined");
    }
    if (result === "stale") {
      staleReports++;
      ctx.log.debug({ server: r.id, version: r.version }, "stale report ignored");
    }
    // A broadcasting server reports to every allocator itself: relaying it too would only
    // send each peer a copy it already has (or soon will).
    else if (m.body.relay === true) sync.changed(r.id);
    ch.reply(m, "ack", {});
  }

  /** A connection of our own to a server that registered with a peer. */
  function viaDial(url: string): Peer {
    let p = dialed.get(url);
    if (!p || p.state === "closed") dialed.set(url, (p = ctx.connect(url, { onDown: (peer) => dialed.get(url) === peer && (dialed.delete(url), peer.close()) })));
    return p;
  }

  function onPlace(m: Extract<Message, { type: "task.place" }>, ch: Channel): void {
    stampClient(m, ch);
    const { client } = m.body;
    const task = effectiveTask(m.body.task, tables.client.get(client.id), m.body.task.user === undefined ? undefined : tables.user.get(m.body.task.user), tables["task-type"].get(m.body.task.app));
    const a = allocate(table, task, policy, pctx);
    if (!a.ok) {
      refused++;
      // Only "all full" can change by itself soon; a missing application or unmet constraint needs a new server.
      ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, a.reason, { retryable: a.full }));
      return;
    }
    const server = a.server;
    const link = links.get(server.id);
    const direct = link !== undefined && !link.closed;
    if (link !== undefined && !direct) {
      table.release(server.id);
      table.setStatus(server.id, "dead");
      ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, `server ${server.id} is no longer connected`, { retryable: true }));
      return;
    }
    const ticket = newTicket();
    // The answer does not wait for the server's ack: the expect is sent first on a connection the
    // client's run cannot overtake by much, and the server holds an early run for a short while.
    const expect = { taskId: task.id, key: task.key, ticket, client, expiresAt: task.deadline };
    (direct ? link.request("task.expect", expect) : viaDial(server.url).request("task.expect", expect)).then(
      (ack) => ctx.enqueue(() => (ack.type === "task.expected" ? table.confirm(server.id, ack.body.load, ack.body.version, ctx.now()) : table.release(server.id))),
      (err: unknown) =>
        ctx.enqueue(() => {
          table.release(server.id);
          expectRefused++;
          ctx.log.debug({ server: server.id, task: task.id, err: AllotError.from(err).message }, "server did not accept expect");
        }),
    );
    placed++;
    ch.reply(m, "task.placed", { taskId: task.id, serverId: server.id, serverUrl: server.url, ticket });
  }

  // Servers that promised periodic reports and went silent turn suspect, then dead.
  const expiry = setInterval(
    () =>
      ctx.enqueue(() => {
        for (const e of table.expire(ctx.now())) ctx.log.info({ server: e.id, status: e.status, silentMs: ctx.now() - e.updatedAt }, "server status changed");
      }),
    EXPIRY_CHECK_MS,
  );
  expiry.unref();

  return {
    table,
    stop: () => clearInterval(expiry),
    handle(m: Message, ch: Channel) {
      if (m.type === "task.place") return onPlace(m, ch);
      if (m.type === "server.report") return onReport(m, ch);
      if (m.type === "status.get") return ch.reply(m, "status", { node: ctx.id, servers: rows(), tables: { client: tables.client.all(), user: tables.user.all(), "task-type": tables["task-type"].all() } });
      if (m.type === "attrs.set") {
        const t = m.body.table;
        if (t === "server") return ch.replyError(m, new AllotError(ErrorCode.INVALID, "server attributes belong to the app server: send attrs.set to it"));
        sync.changedEntry(t, tables[t].set(m.body.id, m.body.attrs, ctx.now(), ctx.id));
        return ch.reply(m, "ack", {});
      }
      if (m.type === "peer.sync") {
        if (ch.peerRole !== "tier2") return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `only a tier-2 distributor may sync server entries, not a ${ch.peerRole || "stranger"}`));
        return sync.onSync(m, ch);
      }
      ch.replyError(m, unknownType("tier-2 distributor", m));
    },
    onHello: (ch: Channel) => sync.onHello(ch),
    onClose(ch: Channel) {
      sync.onClose(ch);
      for (const [id, c] of links) {
        if (c !== ch) continue;
        links.delete(id);
        table.setStatus(id, "dead");
        ctx.log.info({ server: id }, "server left");
      }
    },
    stats: () => ({ placed, refused, expectRefused, reports, staleReports, policy: policy.name, syncReceived: sync.received, syncSent: sync.sent, syncLinks: sync.linked, servers: rows() }),
  };
}

function row(e: ServerEntry, now: number): ServerStatusRow {
  return { ...toReport(e), status: e.status, reserved: e.reserved, ageMs: Math.max(0, now - e.updatedAt) };
}
