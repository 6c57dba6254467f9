import { AllotError, ErrorCode } from "../../protocol/index.js";
import type { Bodies, ClientRef, Message, StatusBody } from "../../protocol/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { firstConnected, tryNext } from "../runtime/forward.js";
import { linkStatus } from "../runtime/link-status.js";
import { PeerPool } from "../runtime/peer-pool.js";
import { RequestBatcher } from "../runtime/request-batch.js";
import { SLAVE_APP } from "./master.js";
import { DEFAULT_REPORT, createReporter, validateReportModes } from "../runtime/reporter.js";
import type { ReportModes } from "../runtime/reporter.js";
import { unknownType } from "../runtime/role-actor.js";

export const LINK_MODES = ["proxy", "direct"] as const;
export type LinkMode = (typeof LINK_MODES)[number];

export interface SlaveConfig {
  /** Masters to register with and ask for servers; the slave fails over between them. */
  masters: readonly string[];
  /**
   * `proxy` (default): client ⇄ slave ⇄ server, the slave relaying the task and its result.
   * `direct`: the slave hands the client the server's address and ticket.
   */
  link?: LinkMode;
  /** Requests held at once; past it a client is answered OVERLOADED. Default 1024. */
  capacity?: number;
  /** How the slave reports its queue to the masters; default on every change and every second. */
  report?: ReportModes;
  /** Longest wait for one master's answer before asking the next. Default 2 000 ms. */
  masterTimeoutMs?: number;
}

type Submit = Extract<Message, { type: "task.submit" }>;

/** A request a slave holds: whose it is, and once proxied, where it runs (for a cancel). */
interface Held {
  ch: Channel;
  pick: string;
  cancelled: boolean;
  run?: { server: Peer; ticket: string };
}
type Placed = Bodies["task.placed"];

/** The answer to a proxying slave's `task.expect`: the run that follows in the same frame says what the server did. */
const ignoreAnswer = (): void => {};

/** Errors after which the same request may go to another master: it never reached this one, or this one did not answer. */
const nextMaster = (e: AllotError): boolean => tryNext(e) || e.code === ErrorCode.TIMEOUT;

/**
 * A slave of the master/slave design (file 004). It registers with every master and reports its
 * queue. A client brings it a task with the pick a master made; it asks a master for a processing
 * server, sending its queue (and the task's expected cost) as load metrics, and then links client
 * and server: as a proxy that relays the task and its result, or by handing the client the
 * server's address and ticket (direct). A master that stops answering is skipped for the next.
 */
export function createSlave(ctx: RoleContext, config: SlaveConfig): Behaviour {
  if (config.masters.length === 0) throw new TypeError("a slave needs at least one master URL (--master)");
  const link: LinkMode = config.link ?? "proxy";
  if (!LINK_MODES.includes(link)) throw new TypeError(`link must be one of ${LINK_MODES.join(", ")}, got ${JSON.stringify(link)}`);
  const capacity = config.capacity ?? 1024;
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  const modes = config.report ?? DEFAULT_REPORT;
  validateReportModes(modes, "a slave");
  const masterTimeoutMs = config.masterTimeoutMs ?? 2000;
  let queue = 0;
  const reporter = createReporter(ctx, {
    join: config.masters,
    mode: "broadcast",
    modes,
    load: () => queue,
    build: (version) => ({
      id: ctx.id,
      url: ctx.url,
      apps: [SLAVE_APP],
      capacity,
      power: 1,
      load: queue,
      attrs: { link },
      version,
      ...(modes.periodicMs > 0 ? { periodMs: modes.periodicMs } : {}),
    }),
  });
  const servers = new PeerPool(ctx);
  const requests = new RequestBatcher(ctx);
  let nextMasterAt = 0;
  let received = 0;
  let answered = 0;
  let misdirected = 0;
  /** Submits not passed on because their client had closed the link before they were handled. */
  let abandoned = 0;
  let failovers = 0;

  /** Asks `first` (the master that made the pick, while it is connected), then the masters in turn, until one answers or all failed. */
  function askMaster(body: Bodies["server.request"], first: string, deadline: number, done: (err: AllotError | undefined, placed: Placed | undefined) => void): void {
    const masters = reporter.links();
    let tries = masters.length;
    let preferred = masters.findIndex((p) => p.current?.peerId === first);
    // The masters asked already (bit i for masters[i]): a failover goes to one not asked yet.
    let tried = 0;
    const attempt = (): void => {
      const remaining = deadline - ctx.now();
      if (remaining <= 0) return done(new AllotError(ErrorCode.TIMEOUT, `no master found a server for task ${body.task.id} before its deadline`), undefined);
      // The master that picked this slave holds a place for the task until it hears of it.
      const at = preferred >= 0 ? preferred : untried(masters, tried);
      preferred = -1;
      if (at === nextMasterAt) nextMasterAt = (at + 1) % masters.length;
      const master = masters[at] as Peer;
      tried |= 1 << at % 31;
      // The requests of this turn for one master leave together (see RequestBatcher).
      requests.ask(master, body, Math.min(remaining, masterTimeoutMs), (err, placed) => {
        if (placed) return done(undefined, placed);
        if (err === undefined) return done(new AllotError(ErrorCode.INTERNAL, "server.request ended with neither answer nor error"), undefined);
        if (nextMaster(err) && --tries > 0) {
          failovers++;
          ctx.log.info({ master: master.url, err: err.message }, "master did not answer; asking the next");
          return attempt();
        }
        done(err, undefined);
      });
    };
    attempt();
  }

  /** The next connected master in turn not in `tried`; the next in turn when every connected one was tried. */
  function untried(masters: readonly Peer[], tried: number): number {
    for (let i = 0; i < masters.length; i++) {
      const k = (nextMasterAt + i) % masters.length;
      if (masters[k]?.current && (tried & (1 << k % 31)) === 0) return k;
    }
    return firstConnected(masters, nextMasterAt);
  }

  /** The requests held, by task id: a client's cancel finds its run here (only on the connection that sent it). */
  const held = new Map<string, Held>();

  function onCancel(m: Extract<Message, { type: "task.cancel" }>, ch: Channel): void {
    const h = held.get(m.body.taskId);
    if (h === undefined || h.ch !== ch || h.pick !== m.body.ticket) return;
    h.cancelled = true;
    // Running: the server stops it and answers the run CANCELLED, which is relayed. Not yet: it will not start.
    if (h.run) h.run.server.current?.notify("task.cancel", { taskId: m.body.taskId, ticket: h.run.ticket });
  }

  function finish(taskId?: string): void {
    if (taskId !== undefined) held.delete(taskId);
    queue--;
    answered++;
    reporter.changed();
  }

  function onSubmit(m: Submit, ch: Channel, lookedAgain = false): void {
    // A submit whose client already closed the link (it judged this slave silent while it was
    // paused, and placed the task elsewhere) is not passed on: nobody would take its answer.
    if (!ch.open) {
      abandoned++;
      return;
    }
    // Just back from a stall: the client's close may be waiting unread; look after this turn's reads.
    if (!lookedAgain && ch.stalled) return ctx.enqueue(() => onSubmit(m, ch, true));
    const { task, pick } = m.body;
    // SLAVE/TASK/MASTER/nonce, compared as a prefix: ids may hold a "/" themselves.
    const mine = `${ctx.id}/${task.id}/`;
    if (!pick.startsWith(mine)) {
      misdirected++;
      return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `slave ${ctx.id} was not picked for task ${task.id} (pick ${JSON.stringify(pick.slice(0, 200))}); ask a master again`, { retryable: true }));
    }
    const rest = pick.slice(mine.length);
    const pickedBy = rest.slice(0, Math.max(0, rest.lastIndexOf("/")));
    if (queue >= capacity) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `slave ${ctx.id} holds ${capacity} requests`));
    queue++;
    received++;
    reporter.changed();
    const h: Held = { ch, pick, cancelled: false };
    held.set(task.id, h);
    const client: ClientRef = { id: ch.peerId, addr: ch.remoteAddress };
    const metrics = { queue, version: reporter.version(), ...(task.cost === undefined ? {} : { cost: task.cost }) };
    // The master needs the task's attributes, not its payload.
    askMaster({ task: { ...task, payload: null }, client, metrics, pick, ...(m.body.avoid === undefined ? {} : { avoid: m.body.avoid }) }, pickedBy, task.deadline, (err, placed) => {
      if (!placed) {
        finish(task.id);
        return ch.replyError(m, err ?? new AllotError(ErrorCode.INTERNAL, "no answer and no error from the masters"));
      }
      if (h.cancelled) {
        finish(task.id);
        return ch.replyError(m, new AllotError(ErrorCode.CANCELLED, `the client cancelled task ${task.id}`, { retryable: false }));
      }
      ctx.log.debug({ task: task.id, server: placed.serverId }, "master identified a server");
      const remaining = Math.max(1, task.deadline - ctx.now());
      const expect = { taskId: task.id, key: task.key, ticket: placed.ticket, client, expiresAt: task.deadline };
      if (link === "direct") {
        const toClient = (): void => {
          finish(task.id);
          ch.reply(m, "task.placed", { taskId: task.id, serverId: placed.serverId, serverUrl: placed.serverUrl, ticket: placed.ticket });
        };
        if (!placed.announce) return toClient(); // the master told the server already
        // The server learns of the client's ticket before the client learns of the server.
        ctx.ask(servers.get(placed.serverUrl), "task.expect", expect, remaining, (e) => {
          if (!e) return toClient();
          finish(task.id);
          ch.replyError(m, e);
        });
        return;
      }
      // Proxy: the expect (when the master left it to us) and the run leave in one frame, in order.
      const server = servers.get(placed.serverUrl);
      h.run = { server, ticket: placed.ticket };
      // Its answer is not read (not even decoded): a refusal comes back as the run's OVERLOADED.
      if (placed.announce) server.requestUnread("task.expect", expect, remaining, ignoreAnswer);
      server.requestUnread("task.run", { taskId: task.id, key: task.key, app: task.app, ticket: placed.ticket, payload: task.payload, deadline: task.deadline, client: client.id }, remaining, (e, answer) =>
        ctx.enqueue(() => {
          finish(task.id);
          if (answer) ch.relay(m, answer);
          else ch.replyError(m, e ?? new AllotError(ErrorCode.INTERNAL, "run ended with neither answer nor error"));
        }),
      );
    });
  }

  return {
    handle(m: Message, ch: Channel) {
      if (m.type === "task.submit") return onSubmit(m, ch);
      if (m.type === "task.cancel") return onCancel(m, ch);
      if (m.type === "status.get") {
        const masters = reporter.links().map((p) => linkStatus(p));
        const body: StatusBody = { role: "slave", node: ctx.id, link, held: queue, capacity, received, answered, failovers, masters, servers: servers.list().map((p) => linkStatus(p)) };
        return ch.reply(m, "status", body);
      }
      ch.replyError(m, unknownType("slave", m));
    },
    notReady: () => (reporter.registered() > 0 ? undefined : `linked to no master (of ${config.masters.length})`),
    stats: () => ({ link, queue, capacity, received, answered, misdirected, abandoned, failovers, requestBatches: requests.batches, batchedRequests: requests.batched, servers: servers.size, version: reporter.version() }),
    stop() {
      reporter.stop();
      servers.close();
    },
  };
}
