import type { Behaviour, RoleContext } from "../actors/runtime/context.js";
import type { SupervisionStrategy } from "../actors/runtime/supervision.js";
import type { ContinuationHook } from "../actors/runtime/continuations.js";
import type { AppServerConfig } from "../actors/roles/app-server.js";
import type { ClientConfig } from "../actors/roles/client.js";
import type { Tier1Config } from "../actors/roles/distributor-tier1.js";
import type { Tier2Config } from "../actors/roles/distributor-tier2.js";
import type { MasterConfig } from "../actors/roles/master.js";
import type { ServerHealthConfig } from "../actors/runtime/server-health.js";
import type { SlaveConfig } from "../actors/roles/slave.js";
import type { VipConfig } from "../actors/roles/vip.js";
import type { Credential, Entropy, Timers, Transport } from "../transport/index.js";
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { LogFormat, LogLevel } from "./logger.js";
import type { TlsConfig } from "./tls.js";
import type { MonitoredNode, MonitorRoute } from "./monitor.js";

/** Settings every node shares; each has a default. */
export interface CommonConfig {
  /** Node id; default `ROLE-xxxxxx`. */
  id?: string;
  /** HOST:PORT to bind; port 0 picks a free one. Default 127.0.0.1:0. */
  listen?: string;
  /** The URL others should use to reach this node (needed across hosts); default the bound URL. */
  advertise?: string;
  logLevel?: LogLevel;
  /** Log lines as pino JSON, as human lines, or `auto` (default): human iff stderr is a terminal. */
  logFormat?: LogFormat;
  /** Use this pino logger instead of one on stderr. */
  logger?: Logger;
  /** WebSockets unless given (tests pass an in-memory transport). */
  transport?: Transport;
  /**
   * TLS for the WebSocket transport (not with `transport`): each of `cert`, `key`, `ca` is PEM
   * text or a PEM file's path, read and checked when the node starts (a TlsConfigError names the
   * bad one). With it the node listens on wss:// (`cert` and `key` required for every role but
   * the client), requires client certificates signed by `ca` when given (mTLS), and dials only
   * wss://, verifying servers against `ca` (the system store without it) and presenting `cert`.
   */
  tls?: TlsConfig;
  supervision?: SupervisionStrategy;
  /** Requests a peer may have in flight on one connection. Default 4096. */
  maxInFlight?: number;
  /** Connections this node accepts at once; the next upgrade is refused with HTTP 503. Default 10 000. */
  maxConnections?: number;
  /** Connections it accepts at once from one IP address; the next is refused with HTTP 429. Default 1 024. */
  maxConnectionsPerAddress?: number;
  /**
   * Backpressure on every connection: when this many bytes sent to a peer are still unsent (it
   * does not read), stop reading that peer until half has drained. Default 1 MiB.
   */
  pauseBufferedBytes?: number;
  /** Close a connection (4004) whose peer leaves more than this unread. Default 16 MiB; must exceed pauseBufferedBytes. */
  closeBufferedBytes?: number;
  /** Default deadline of a request. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Time a connecting peer has to say hello. Default 5 000 ms. */
  handshakeMs?: number;
  /**
   * Failure detection, on every connection: one that has received nothing for this long is
   * pinged (a busy link carries no pings: its traffic is the heartbeat). 0 turns detection off.
   * Default 500 ms.
   */
  heartbeatMs?: number;
  /**
   * A peer that sends nothing for this long while a ping of ours waits is dead: the connection
   * closes, an allocator takes its servers out of selection, and a client places what it had
   * running there again. Must exceed heartbeatMs. Default 3 × heartbeatMs (1 500 ms), so a stopped
   * or wedged peer is found within 2 s of its last frame.
   */
  silenceMs?: number;
  /**
   * Keep the process up through a throw nothing awaits (an inline handler's stray callback),
   * logged, within the supervision budget; past it, `onFatal`. For a process that is only this
   * node (`allot start` sets it); an embedding application owns its process. Default false.
   */
  catchStrayErrors?: boolean;
  /**
   * Wraps every asynchronous continuation of the role (a request's answer, a timer) before it
   * runs inside the actor: for tracing, or for a test that makes one throw. Default none.
   */
  continuationHook?: ContinuationHook;
  /**
   * Changes the role's behaviour before the node uses it (replace its methods on the object it is
   * given, and return it): for a test that breaks a role on purpose, a mutant its checkers must
   * catch, or that traces what a role is handed. Default none.
   */
  wrapBehaviour?: (b: Behaviour) => Behaviour;
  /** Called when an actor exceeds its restart budget; default: log fatal and exit the process with code 70. */
  onFatal?: (err: unknown) => void;
  /** The node's clock; default `timers.now` when `timers` is given, else Date.now. */
  now?: () => number;
  random?: () => number;
  /**
   * Where every timer and deferral of the node comes from (transport, roles, handler contexts);
   * default real timers on `now`. A test cluster gives a virtual clock.
   */
  timers?: Timers;
  /** Random bytes (nonces, ticket keys, tickets, the default id); default crypto.randomBytes. */
  entropy?: Entropy;
  /** This run of the node (reporter versions, ticket issuers, client task ids); default now() at start. */
  incarnation?: number;
  /** Counts work queued for the role's actor and not yet finished; 0 when the actor is idle (test quiescence). */
  activity?: { busy: number };
  /**
   * This node's credential (as loaded, or the path of a file from `allot keys issue`). With one,
   * the node proves itself in every handshake and requires every peer to prove itself, and what
   * a peer may send follows from its verified roles. It also gives the node its id (see
   * `credentialIdentity`). Without one the node runs without authentication, on loopback only
   * unless `insecure`.
   */
  credentials?: Credential | string;
  /** Cluster public keys that sign credentials (loaded, or `cluster.pub` paths): several while keys rotate. Needed with `credentials`. */
  clusterPub?: ReadonlyArray<KeyObject | string>;
  /** Revoked node ids and key fingerprints: a set, or a file (one a line) re-read when it changes. Checked at every handshake. */
  revoked?: ReadonlySet<string> | string;
  /** Listen beyond loopback without credentials (a warning is logged). Default false. */
  insecure?: boolean;
  /**
   * HOST:PORT of the node's monitoring port (`GET /metrics`, `/healthz`, `/readyz`); port 0 picks a
   * free one. Off unless given; with it the role's metrics are counted. With `credentials`,
   * everything but /healthz and /readyz needs an admin's bearer token (`allot keys token`).
   */
  http?: string;
  /**
   * Routes mounted on the monitoring port after /metrics (the dashboard): see MonitorRoute. A
   * list, or a function given the node (its stats and registry) once its role is built that
   * returns the list. Needs `http`.
   */
  httpRoutes?: readonly MonitorRoute[] | ((node: MonitoredNode) => readonly MonitorRoute[]);
}

export type VipNodeConfig = CommonConfig & { role: "vip" } & Omit<VipConfig, "requestTimeoutMs">;
export type Tier1NodeConfig = CommonConfig & { role: "tier1" } & Omit<Tier1Config, "requestTimeoutMs">;
export type Tier2NodeConfig = CommonConfig & { role: "tier2" } & Tier2Config;
export type AppNodeConfig = CommonConfig & { role: "app" } & AppServerConfig;
export type ClientNodeConfig = CommonConfig & { role: "client" } & ClientConfig;
export type MasterNodeConfig = CommonConfig & { role: "master" } & MasterConfig;
export type SlaveNodeConfig = CommonConfig & { role: "slave" } & SlaveConfig;

/** One node's configuration, discriminated by role. */
export type NodeConfig = VipNodeConfig | Tier1NodeConfig | Tier2NodeConfig | AppNodeConfig | ClientNodeConfig | MasterNodeConfig | SlaveNodeConfig;

/** The outlier-ejection and slow-start settings of a tier-2 or master config, only those set. */
export function serverHealthOf(c: ServerHealthConfig): ServerHealthConfig {
  return {
    ...(c.ejectAfter === undefined ? {} : { ejectAfter: c.ejectAfter }),
    ...(c.ejectMs === undefined ? {} : { ejectMs: c.ejectMs }),
    ...(c.maxEjectMs === undefined ? {} : { maxEjectMs: c.maxEjectMs }),
    ...(c.maxEjectedPercent === undefined ? {} : { maxEjectedPercent: c.maxEjectedPercent }),
    ...(c.slowStartMs === undefined ? {} : { slowStartMs: c.slowStartMs }),
  };
}

export type BehaviourFactory = (ctx: RoleContext) => Behaviour;

// The configuration vocabulary, in one place for the CLI and for embedders. Each word is defined
// beside the role code that enforces it (actors may not import node); this is where they are read.
export type { TaskResult, TaskSpec } from "../actors/roles/client.js";
export { ASSIGN_MODES } from "../actors/roles/master.js";
export type { AssignMode } from "../actors/roles/master.js";
export { LINK_MODES } from "../actors/roles/slave.js";
export type { LinkMode } from "../actors/roles/slave.js";
export { DEFAULT_REPORT } from "../actors/runtime/reporter.js";
export { DEFAULT_KEY_MEMORY } from "../state/index.js";
export type { KeyMemoryOptions } from "../state/index.js";
export type { ServerHealthConfig } from "../actors/runtime/server-health.js";
export type { ReportModes } from "../actors/runtime/reporter.js";
export { DEFAULT_POLICY, policyNames, resolvePolicy } from "../policies/index.js";
export { HandlerModuleError } from "../actors/runtime/handler-module.js";
/** The applications an app server runs without --handlers (the CLI checks --apps against them). */
export { builtinHandlers } from "../actors/runtime/handlers.js";
export { TlsConfigError, loadTls } from "./tls.js";
export type { TlsConfig, TlsField } from "./tls.js";
export { DEFAULT_PING_MS, SILENCE_PER_PING } from "../transport/index.js";
/** Whether the wire codec's native decoder loaded (the transport is chosen here, in node). */
export { nativeCodec } from "../transport/index.js";
