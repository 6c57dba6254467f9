// The public API for embedding Allot. Re-exports only.
export { startNode } from "./node/node.js";
export type { RunningApp, RunningClient, RunningNode } from "./node/node.js";
export { queryStatus, setAttrs } from "./node/query.js";
export type { AppNodeConfig, ClientNodeConfig, CommonConfig, NodeConfig, Tier1NodeConfig, Tier2NodeConfig, VipNodeConfig } from "./node/config.js";
export { createLogger } from "./node/logger.js";
export type { LogLevel } from "./node/logger.js";
export type { TaskResult, TaskSpec } from "./actors/client.js";
export { builtinHandlers } from "./actors/handlers.js";
export type { Handler, TaskInfo } from "./actors/handlers.js";
export { DEFAULT_SUPERVISION } from "./actors/supervision.js";
export type { SupervisionStrategy } from "./actors/supervision.js";
export { AllotError, ErrorCode } from "./protocol/index.js";
export type { Attrs, Constraint, Message, Task } from "./protocol/index.js";
export { parseConstraint, registerPolicy, resolvePolicy, policyNames, DEFAULT_POLICY } from "./policies/index.js";
export type { Policy, PolicyContext } from "./policies/index.js";
export type { ServerEntry } from "./state/index.js";
export { createMemoryTransport, createWsTransport, nativeCodec } from "./transport/index.js";
export type { Transport } from "./transport/index.js";
