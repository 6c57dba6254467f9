import { start, stop as stopSystem } from "nact";
import { createAppServer } from "../actors/roles/app-server.js";
import { createClient } from "../actors/roles/client.js";
import type { ClientBehaviour, Done, TaskResult, TaskSpec } from "../actors/roles/client.js";
import type { Behaviour, RoleContext } from "../actors/runtime/context.js";
import { NO_METRICS } from "../actors/runtime/context.js";
import { createNodeMetrics } from "./metrics.js";
import type { ScrapeSource } from "./metrics.js";
import { MonitorListenError, bearerOf, startMonitor } from "./monitor.js";
import { dashboardRoutes } from "./dashboard/index.js";
import type { DashboardRoutes } from "./dashboard/index.js";
import type { Monitor } from "./monitor.js";
import { verifyAdminToken } from "./admin-token.js";
import { TokenGate } from "./token-gate.js";
import type { Refusal } from "./token-gate.js";
import type { KeyObject } from "node:crypto";
import { createTier1 } from "../actors/roles/distributor-tier1.js";
import { createTier2 } from "../actors/roles/distributor-tier2.js";
import { createMaster } from "../actors/roles/master.js";
import { createSlave } from "../actors/roles/slave.js";
import { spawnRole } from "../actors/runtime/role-actor.js";
import { continuations } from "../actors/runtime/continuations.js";
import { DEFAULT_SUPERVISION } from "../actors/runtime/supervision.js";
import { createVip } from "../actors/roles/vip.js";
import { createHandlerRunner } from "../actors/runtime/handler-runner.js";
import type { HandlerRunner } from "../actors/runtime/handler-runner.js";
import { serverAttrsProblem } from "../protocol/index.js";
import type { Attrs, Role } from "../protocol/index.js";
import { Channel, CloseCode, DEFAULT_DIAL_TIMEOUT_MS, DEFAULT_LIMITS, DEFAULT_PEER, DEFAULT_PING_MS, silenceFor, Peer, bufferCaps, createAuthenticator, createCounters, createWsTransport, parseHostPort, realEntropy, realTimers, sleepOn, timersWithNow, trackedTimers } from "../transport/index.js";
import type { Authenticator, ChannelOptions, Listener, Wire } from "../transport/index.js";
import { credentialIdentity, loadClusterPub, loadCredential, revocationList } from "./credentials.js";
import type { AppNodeConfig, ClientNodeConfig, NodeConfig } from "./config.js";
import { serverHealthOf } from "./config.js";
import type { AppServerBehaviour } from "../actors/roles/app-server.js";
import type { Credential } from "./credentials.js";
import { catchStrayErrors } from "./stray-errors.js";
import { createLogger, exitWhenFlushed } from "./logger.js";
import { loadTls } from "./tls.js";
import type { TlsConfig } from "./tls.js";

/** A started node. */
export interface RunningNode {
  readonly id: string;
  readonly role: Role;
  /** The advertised URL ("" for a client, which does not listen). */
  readonly url: string;
  /** The monitoring port's http://HOST:PORT, when `http` was given. */
  readonly httpUrl?: string;
  stats(): Record<string, unknown>;
  stop(): Promise<void>;
  /**
   * A crash, as SIGKILL would: no goodbye frames and no drain. Its connections are dropped (peers
   * see 1006), its listener, actor system, handler runner and every timer it made stop at once;
   * afterwards the node does nothing more.
   */
  kill(): void;
}

export interface RunningClient extends RunningNode {
  submit(spec: TaskSpec): Promise<TaskResult>;
  /** `submit` with a callback instead of a promise: `done` is called once, after this returns. */
  submitWith(spec: TaskSpec, done: Done): void;
}

export interface RunningApp extends RunningNode {
  /**
   * Changes the server's attributes while it runs; the distributors hear of it at once. `power`
   * and `capacity` change the server's own figures; the other built-in names (`id`, `app`, `load`,
   * `free`, `url`, …) are refused with a RangeError, as is a power or capacity out of range.
   */
  setAttrs(attrs: Attrs): void;
  /** Removes attributes while it runs; a built-in field cannot be removed (RangeError). */
  unsetAttrs(keys: readonly string[]): void;
  /**
   * Drains the server (see AppServerBehaviour.drain): resolves once its running tasks have
   * finished (or its drain timed out) and it has left its allocators. The caller then stops it.
   */
  drain(): Promise<void>;
  /** Resolves once a drain, however started (`drain`, an operator's `server.drain`), has finished. */
  readonly drained: Promise<void>;
}

/** Whether a started node is an app server. */
export function isApp(n: RunningNode): n is RunningApp {
  return n.role === "app" && "drain" in n;
}

function behaviourFor(config: NodeConfig, ctx: RoleContext, requestTimeoutMs: number, runner: HandlerRunner | undefined): Behaviour {
  switch (config.role) {
    case "vip":
      return createVip(ctx, { to: config.to, requestTimeoutMs });
    case "tier1":
      return createTier1(ctx, { to: config.to, requestTimeoutMs, ...(config.policy === undefined ? {} : { policy: config.policy }) });
    case "tier2":
      return createTier2(ctx, {
        ...(config.policy === undefined ? {} : { policy: config.policy }),
        ...(config.peers === undefined ? {} : { peers: config.peers }),
        ...(config.deadRetentionMs === undefined ? {} : { deadRetentionMs: config.deadRetentionMs }),
        ...(config.keyMemory === undefined ? {} : { keyMemory: config.keyMemory }),
        ...(config.maxLeaseSlotsPerClient === undefined ? {} : { maxLeaseSlotsPerClient: config.maxLeaseSlotsPerClient }),
        ...(config.maxLeaseMs === undefined ? {} : { maxLeaseMs: config.maxLeaseMs }),
        ...serverHealthOf(config),
      });
    case "app":
      if (!runner) throw new Error("an app server needs its handler runner");
      return createAppServer(ctx, config, runner);
    case "client":
      return createClient(ctx, config);
    case "master":
      return createMaster(ctx, config);
    case "slave":
      return createSlave(ctx, config);
  }
}

/** The node's TLS files read and checked (a TlsConfigError names the bad one), before anything starts. */
function checkedTls(config: NodeConfig, tls: TlsConfig): ReturnType<typeof loadTls> {
  if (config.transport) throw new TypeError("tls configures the WebSocket transport: give tls or transport, not both");
  if (config.advertise !== undefined && !config.advertise.startsWith("wss://")) throw new TypeError(`advertise: the node serves wss:// (tls), got ${JSON.stringify(config.advertise)}`);
  // A node given TLS never dials in the clear; a ws:// URL in its configuration is a mistake to report now, not a dial failing for ever.
  const [field, dialed] = dialedUrls(config);
  const plain = dialed.find((u) => !u.startsWith("wss://"));
  if (plain !== undefined) throw new TypeError(`${field}: ${JSON.stringify(plain)} is not a wss:// URL, and a node configured for TLS never dials in the clear`);
  return loadTls(tls, config.role !== "client");
}

/** The URLs a node's configuration tells it to dial, with the field that holds them. */
function dialedUrls(config: NodeConfig): [string, readonly string[]] {
  switch (config.role) {
    case "vip":
    case "tier1":
      return ["to", config.to];
    case "tier2":
    case "master":
      return ["peers", config.peers ?? []];
    case "app":
      return ["join", config.join];
    case "slave":
      return ["masters", config.masters];
    case "client":
      return ["entries", config.entries];
  }
}

interface Trust {
  trusted: KeyObject[];
  revoked?: () => ReadonlySet<string>;
}

function trustOf(config: NodeConfig): Trust {
  const trusted = (config.clusterPub ?? []).map((k) => (typeof k === "string" ? loadClusterPub(k) : k));
  if (trusted.length === 0) throw new RangeError("credentials need at least one cluster public key (clusterPub) to verify peers with");
  const r = config.revoked;
  const revoked = r === undefined ? undefined : typeof r === "string" ? revocationList(r) : () => r;
  return { trusted, ...(revoked ? { revoked } : {}) };
}

function authenticatorFor(trust: Trust, credential: Credential, now: () => number): Authenticator {
  return createAuthenticator({ credential, trusted: trust.trusted, now, ...(trust.revoked ? { revoked: trust.revoked } : {}) });
}

/** How long /healthz waits for the role's actor to run a no-op before it says the actor does not answer. */
const HEALTH_TIMEOUT_MS = 2000;

/** Refusals logged per second at most; past it they are counted and summed up in the next second's first line. */
const REFUSALS_LOGGED_PER_SECOND = 5;

/**
 * Logs refused peers and messages (warn) with the peer's address, at most a few a second: a
 * stranger hammering the node must not fill its disk. What was left out is counted and reported.
 */
function refusedLog(log: { warn(obj: object, msg: string): void }, now: () => number): NonNullable<ChannelOptions["onRefused"]> {
  let second = 0;
  let logged = 0;
  let dropped = 0;
  return (ch, err, closing) => {
    const s = Math.floor(now() / 1000);
    if (s !== second) {
      second = s;
      logged = 0;
    }
    if (logged >= REFUSALS_LOGGED_PER_SECOND) {
      dropped++;
      return;
    }
    logged++;
    const more = dropped > 0 ? { unlogged: dropped } : {};
    dropped = 0;
    log.warn({ peer: ch.label(), addr: ch.remoteAddress, err: err.message, ...more }, closing ? "peer refused" : "message refused");
  };
}

/** Whether HOST:PORT binds loopback only. */
export function isLoopback(hostPort: string): boolean {
  const { host } = parseHostPort(hostPort);
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function loopbackOrBad(hostPort: string): boolean {
  try {
    return isLoopback(hostPort);
  } catch {
    return true;
  }
}

/**
 * Starts one node: its actor system, its role's actor, its listener (all roles but the client)
 * and its outbound connections. Resolves once it accepts connections.
 */
export async function startNode(config: ClientNodeConfig): Promise<RunningClient>;
export async function startNode(config: AppNodeConfig): Promise<RunningApp>;
export async function startNode(config: NodeConfig): Promise<RunningNode>;
export async function startNode(config: NodeConfig): Promise<RunningNode | RunningClient | RunningApp> {
  const role = config.role;
  bufferCaps(config); // a bad pair fails startNode here, before anything starts, not each connection
  const given = config.timers;
  const now = config.now ?? (given ? () => given.now() : realTimers.now);
  // Every timer the node makes goes through `tracked`, so kill() can cancel them all.
  const tracked = trackedTimers(given ?? (config.now ? timersWithNow(now) : realTimers));
  const timers = tracked.timers;
  const entropy = config.entropy ?? realEntropy;
  const credential = typeof config.credentials === "string" ? loadCredential(config.credentials) : config.credentials;
  const id = credential ? credentialIdentity(credential, role, config.id, entropy) : (config.id ?? `${role}-${Buffer.from(entropy.bytes(3)).toString("hex")}`);
  const logger = (config.logger ?? createLogger(config.logLevel, config.logFormat)).child({ node: id, role });
  const trust = credential ? trustOf(config) : undefined;
  const auth = credential && trust ? authenticatorFor(trust, credential, now) : undefined;
  if (config.httpRoutes !== undefined && config.http === undefined) throw new TypeError("httpRoutes: mounted on the monitoring port, which needs http");
  if (!auth) {
    const listen = config.listen ?? "127.0.0.1:0";
    if (role !== "client" && !isLoopback(listen) && config.insecure !== true) {
      throw new RangeError(`listening on ${listen}, beyond loopback, needs credentials (or insecure: true)`);
    }
    // Without credentials the monitoring port asks for no token: beyond loopback its metrics and dashboard would be anyone's.
    // (An address that does not parse is startMonitor's to refuse, as a MonitorListenError.)
    if (config.http !== undefined && config.insecure !== true && !loopbackOrBad(config.http)) {
      throw new RangeError(`a monitoring port on ${config.http}, beyond loopback, needs credentials (or insecure: true)`);
    }
    const httpBeyond = config.http !== undefined && !loopbackOrBad(config.http);
    if (config.insecure === true && ((role !== "client" && !isLoopback(listen)) || httpBeyond)) logger.warn({ listen, ...(httpBeyond ? { http: config.http } : {}) }, "running WITHOUT authentication beyond loopback (insecure): anyone who can reach this node may say anything to it");
    else logger.info({}, "running without authentication: every peer is believed (loopback only)");
  }
  const random = config.random ?? Math.random;
  const tls = config.tls === undefined ? undefined : checkedTls(config, config.tls);
  const requestTimeoutMs = config.requestTimeoutMs ?? 10_000;
  // Refused here, once, rather than by every connection the node makes.
  const pingMs = config.heartbeatMs ?? DEFAULT_PING_MS;
  const silenceMs = pingMs > 0 ? silenceFor(pingMs, config.silenceMs) : undefined;
  // A dial that is not an open link within the silence threshold is as silent as a link that
  // stopped answering: a stopped node accepts TCP (its kernel does) but never the upgrade.
  const transport = config.transport ?? createWsTransport(DEFAULT_LIMITS, tls, silenceMs ?? DEFAULT_DIAL_TIMEOUT_MS);
  const onFatal =
    config.onFatal ??
    ((err: unknown) => {
      logger.fatal({ err: err instanceof Error ? err.message : String(err) }, "restart budget exhausted; exiting");
      exitWhenFlushed(logger, 70);
    });

  const uncatch = config.catchStrayErrors === true ? catchStrayErrors(logger, config.supervision ?? DEFAULT_SUPERVISION, now, onFatal) : undefined;
  const system = start();
  const channels = new Set<Channel>();
  const peers = new Set<Peer>();
  let behaviour: Behaviour | undefined;
  let listener: Listener | undefined;
  let runner: HandlerRunner | undefined;
  let monitor: Monitor | undefined;
  let dashboard: DashboardRoutes | undefined;
  // Counted only when served: without a monitoring port the roles count into nothing.
  const measured = config.http === undefined ? undefined : createNodeMetrics({ id, role }, () => scrape);
  let scrape: ScrapeSource | undefined;

  const spawned = spawnRole(system, role, () => behaviour, config.supervision ?? DEFAULT_SUPERVISION, logger, now, onFatal, config.activity, measured ? (d) => measured.crashed(d) : undefined);
  // Once killed, nothing reaches the actor: late frames, closes, handler results, timers.
  let killed = false;
  const actor: Omit<typeof spawned, "abandon"> = {
    deliver: (m, ch) => {
      if (!killed) spawned.deliver(m, ch);
    },
    enqueue: (fn) => {
      if (!killed) spawned.enqueue(fn);
    },
  };
  const traffic = createCounters();
  const channelOptions: Omit<ChannelOptions, "dialer"> = {
    counters: traffic,
    node: id,
    role,
    maxFrameBytes: transport.limits.maxFrameBytes,
    maxInFlight: config.maxInFlight ?? 4096,
    ...(config.pauseBufferedBytes === undefined ? {} : { pauseBufferedBytes: config.pauseBufferedBytes }),
    ...(config.closeBufferedBytes === undefined ? {} : { closeBufferedBytes: config.closeBufferedBytes }),
    requestTimeoutMs,
    handshakeMs: config.handshakeMs ?? 5000,
    heartbeatMs: config.heartbeatMs ?? DEFAULT_PING_MS,
    ...(config.silenceMs === undefined ? {} : { silenceMs: config.silenceMs }),
    now,
    timers,
    entropy,
    log: logger,
    ...(auth ? { auth } : {}),
    onRefused: refusedLog(logger, now),
    onMessage: (m, ch) => actor.deliver(m, ch),
    opaque: (type, ch) => behaviour?.opaque?.(type, ch) === true,
    onHello: (ch) => {
      logger.info({ peer: ch.peerId, peerRole: ch.peerRole, addr: ch.remoteAddress }, "peer connected");
      actor.enqueue(() => behaviour?.onHello?.(ch));
    },
    onClose: (ch, reason) => {
      channels.delete(ch);
      logger.debug({ peer: ch.label(), reason: reason.message }, "connection closed");
      actor.enqueue(() => behaviour?.onClose?.(ch));
    },
  };

  let url = config.advertise ?? "";
  const hook = config.continuationHook;
  const ctx: RoleContext = {
    id,
    role,
    get url() {
      return url;
    },
    log: logger,
    metrics: measured?.metrics ?? NO_METRICS,
    now,
    random,
    entropy,
    incarnation: config.incarnation ?? now(),
    defer: (fn) => timers.defer(fn),
    // On real time a sleep holds the process open, as the client's backoff always did; never on a test's clock.
    sleep: sleepOn(timers, { keepAlive: given === undefined }),
    connect(target, hooks = {}) {
      // Pools drop peers whose connection is lost and dial afresh: the node forgets closed ones.
      const p = new Peer(target, transport, channelOptions, { ...DEFAULT_PEER, random, ...hooks, onClosed: (closed) => peers.delete(closed) });
      peers.add(p);
      return p;
    },
    enqueue: hook ? (fn) => actor.enqueue(hook(fn, "continuation")) : (fn) => actor.enqueue(fn),
    ...continuations((fn) => actor.enqueue(fn), hook, timers),
  };

  try {
    // A handler module is loaded (and checked against the applications) before anything listens.
    if (config.role === "app") {
      runner = await createHandlerRunner({
        apps: config.apps,
        handlers: config.handlers,
        workers: config.workers,
        onPoolError: (err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, "handler worker thread failed"),
      });
    }
    if (role !== "client") {
      const caps = {
        ...(config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections }),
        ...(config.maxConnectionsPerAddress === undefined ? {} : { maxConnectionsPerAddress: config.maxConnectionsPerAddress }),
      };
      listener = await transport.listen(config.listen ?? "127.0.0.1:0", (wire: Wire) => channels.add(new Channel(wire, { ...channelOptions, dialer: false })), caps);
      url ||= listener.url;
    }
    // Built here, not lazily in the actor, so that a bad configuration fails startNode itself.
    const built = behaviourFor(config, ctx, requestTimeoutMs, runner);
    behaviour = config.wrapBehaviour ? config.wrapBehaviour(built) : built;
    if (measured && config.http !== undefined) {
      const b = behaviour;
      scrape = {
        stats: () => b.stats?.() ?? {},
        traffic,
        *connections() {
          yield* channels;
          for (const p of peers) if (p.current) yield p.current;
        },
      };
      // Allocators (tier-2s, masters) also serve the live dashboard on their monitoring port.
      dashboard = role === "tier2" || role === "master" ? dashboardRoutes({ stats: () => scrapeStats(b) }, { timers }) : undefined;
      const userRoutes = config.httpRoutes ? (typeof config.httpRoutes === "function" ? config.httpRoutes({ id, role, stats: () => scrapeStats(b), registry: measured.registry }) : config.httpRoutes) : [];
      const routes = dashboard ? [...userRoutes, dashboard] : userRoutes;
      monitor = await startMonitor({
        listen: config.http,
        registry: measured.registry,
        node: { id, role },
        log: logger,
        health: () => actorAnswers(),
        ready: () => (killed ? "node killed" : b.notReady?.()),
        ...(trust ? { authorize: adminCheck(trust, now) } : {}),
        ...(routes.length > 0 ? { routes } : {}),
      });
      logger.info({ http: monitor.url }, "monitoring port listening");
    }
  } catch (err) {
    dashboard?.close();
    await monitor?.close();
    await runner?.close();
    // Nothing started may outlive a failed start, or the process would not exit.
    for (const p of peers) p.close();
    for (const ch of channels) ch.close(CloseCode.shutdown, "node failed to start");
    await listener?.close();
    stopSystem(system);
    tracked.cancelAll();
    uncatch?.();
    throw err;
  }
  const b = behaviour;
  /** The node's stats: its connections and traffic, and the role's own. */
  function scrapeStats(beh: Behaviour): Record<string, unknown> {
    return { id, role, url, connections: channels.size, outbound: peers.size, traffic: { ...traffic }, ...(listener ? { refusedConnections: { ...listener.refused } } : {}), ...beh.stats?.() };
  }

  /** Whether the role's actor runs a no-op within HEALTH_TIMEOUT_MS (a wedged or stopped actor does not). */
  function actorAnswers(): Promise<string | undefined> {
    if (killed) return Promise.resolve("node killed");
    return new Promise((resolve) => {
      const cancel = timers.after(HEALTH_TIMEOUT_MS, () => resolve(`the ${role} actor did not answer within ${HEALTH_TIMEOUT_MS} ms`));
      actor.enqueue(() => {
        cancel();
        resolve(undefined);
      });
    });
  }

  const node: RunningNode = {
    id,
    role,
    url,
    ...(monitor ? { httpUrl: monitor.url } : {}),
    stats: () => scrapeStats(b),
    async stop() {
      dashboard?.close();
      await monitor?.close();
      await b.stop?.();
      for (const p of peers) p.close();
      for (const ch of channels) ch.close(CloseCode.shutdown, "node stopping");
      await listener?.close();
      stopSystem(system);
      tracked.cancelAll();
      uncatch?.();
    },
    kill() {
      if (killed) return;
      killed = true;
      tracked.cancelAll();
      for (const p of [...peers]) p.abort();
      for (const ch of [...channels]) ch.abort("node killed");
      void listener?.close().catch(() => {});
      dashboard?.close();
      void monitor?.close().catch(() => {});
      spawned.abandon();
      stopSystem(system);
      void runner?.close().catch(() => {});
      uncatch?.();
    },
  };
  if (config.role === "client") {
    const c = b as ClientBehaviour;
    return { ...node, submit: (spec: TaskSpec) => c.submit(spec), submitWith: (spec: TaskSpec, done: Done) => c.submitWith(spec, done) };
  }
  if (config.role === "app") {
    // Checked here, in the caller's turn: inside the actor a bad value would be a crash, not an error.
    const change = (attrs: Attrs, unset: readonly string[]): void => {
      const problem = serverAttrsProblem(attrs, unset);
      if (problem) throw new RangeError(`${problem.key}: ${problem.reason}`);
      actor.enqueue(() => (b as AppServerBehaviour).setAttrs(attrs, unset));
    };
    const app = b as AppServerBehaviour;
    const drain = (): Promise<void> => {
      actor.enqueue(() => void app.drain());
      return app.drained;
    };
    return { ...node, setAttrs: (attrs: Attrs) => change({ ...attrs }, []), unsetAttrs: (keys: readonly string[]) => change({}, [...keys]), drain, drained: app.drained };
  }
  return node;
}

/** With authentication on, the monitoring port lets through only a request with an admin's valid bearer token. */
function adminCheck(trust: Trust, now: () => number): (req: Parameters<typeof bearerOf>[0]) => Refusal | undefined {
  const gate = new TokenGate((token) => verifyAdminToken(token, { trusted: trust.trusted, now, ...(trust.revoked ? { revoked: trust.revoked } : {}) }), now);
  return (req) => {
    const token = bearerOf(req);
    if (token === undefined) return { status: 401, error: "authentication is on: send an admin's token (allot keys token) as Authorization: Bearer TOKEN" };
    return gate.admit(token, req.socket.remoteAddress ?? "");
  };
}

export { MonitorListenError };
