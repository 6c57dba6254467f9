import type { Attrs, Constraint, Task } from "../protocol/index.js";

/**
 * The task as the allocator matches it: the client's stored attributes under the task's own,
 * the user's stored preferences under the task's, and the task type's defaults where the task
 * says nothing — `minPower` becomes `power>=N` unless the task constrains power itself, and `cost`
 * becomes the task's expected cost unless it has one. The task's weighted `prefer` list is kept
 * as it is: its weights add to the points the stored attributes and preferences score. The task
 * is returned unchanged (no copy) when nothing is stored.
 */
export function effectiveTask(task: Task, client: Attrs | undefined, user: Attrs | undefined, taskType: Attrs | undefined): Task {
  if (client === undefined && user === undefined && taskType === undefined) return task;
  let require: Constraint[] = task.require;
  const minPower = taskType?.minPower;
  if (typeof minPower === "number" && !task.require.some((c) => c.key === "power")) require = [...require, { key: "power", op: ">=", value: minPower }];
  const cost = taskType?.cost;
  return {
    ...task,
    ...(task.cost === undefined && typeof cost === "number" && cost >= 0 ? { cost } : {}),
    require,
    clientAttrs: client === undefined ? task.clientAttrs : { ...client, ...task.clientAttrs },
    prefs: user === undefined ? task.prefs : { ...user, ...task.prefs },
  };
}
