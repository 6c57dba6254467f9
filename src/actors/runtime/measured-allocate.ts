import { MAX_UNCONFIRMED, allocate } from "../../policies/index.js";
import type { Allocation, Policy, PolicyContext } from "../../policies/index.js";
import type { Task } from "../../protocol/index.js";
import type { ServerTable } from "../../state/index.js";
import type { RoleContext } from "./context.js";

/** allocate(), counted and timed on the role's metrics when they are served (one decision, one place for both allocator roles). */
export function measuredAllocate(ctx: RoleContext, table: ServerTable, task: Task, policy: Policy, pctx: PolicyContext, avoid: readonly string[] | undefined): Allocation {
  const metrics = ctx.metrics;
  const t0 = metrics.clock();
  const a = allocate(table, task, policy, pctx, MAX_UNCONFIRMED, avoid);
  if (metrics.on) {
    metrics.inc("allot_decisions_total");
    metrics.observe("allot_decision_seconds", metrics.clock() - t0);
  }
  return a;
}
