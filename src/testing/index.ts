// allot/testing: a whole cluster in one process under a virtual clock and a controlled network,
// recording a history for checkers. Re-exports only.
export { createTestCluster } from "./cluster.js";
export type { ClientHandle, NodeHandle, SubmitHandle, TestCluster } from "./cluster.js";
export { validateSpec, BUILTIN_APPS } from "./spec.js";
export type { AppServerSpec, ClientSpec, FaultSpec, MasterSlaveSpec, MasterSpec, SlaveSpec, TestClusterSpec, Tier1Spec, Tier2Spec, TieredSpec, VipSpec } from "./spec.js";
export { StartupTimeoutError, StepLimitError, TestClusterSpecError, UnknownNodeError } from "./errors.js";
export type { Delivery, SchedulerLike } from "./scheduler.js";
export type { RunOptions, RunResult } from "./run.js";
export type { Faults, LinkFaults } from "./faults.js";
export type { HubCounters } from "./hub.js";
export type { AttrsEvent, Checker, CheckResult, FaultEvent, FatalEvent, History, HistoryEvent, LifecycleEvent, RunEndEvent, RunStartEvent, SettleEvent, SubmitEvent, TablesEvent } from "./history.js";
export * as checkers from "./checkers.js";
export { atMostOnceExecution, capacityRespected, check, constraintsRespected, convergence, formatFailure, noTaskLost } from "./checkers.js";
// What a spec's handlers and configure are typed with, so a test needs no second import.
export type { Handler, TaskContext } from "../actors/runtime/handlers.js";
export type { NodeConfig } from "../node/config.js";
