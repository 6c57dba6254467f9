import type { Task } from "../protocol/index.js";

/**
 * Whether the task has soft preferences (client attributes, user preferences, `prefer`). Such a
 * task is scored by `allocate` among gathered candidates: a policy's own `locate` passes it on.
 */
export function hasPreferences(task: Task): boolean {
  for (const k in task.clientAttrs) if (Object.hasOwn(task.clientAttrs, k)) return true;
  for (const k in task.prefs) if (Object.hasOwn(task.prefs, k)) return true;
  return (task.prefer?.length ?? 0) > 0;
}
