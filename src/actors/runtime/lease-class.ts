import type { Attrs, Constraint, TaskClass } from "../../protocol/index.js";

/** The fields of a task a caller gives that matching reads: what makes two tasks one lease class. */
export interface ClassFields {
  app: string;
  user?: string | undefined;
  cost?: number | undefined;
  require?: readonly Constraint[] | undefined;
  prefer?: ReadonlyArray<Constraint & { weight?: number | undefined }> | undefined;
  clientAttrs?: Attrs | undefined;
  prefs?: Attrs | undefined;
}

/** The lease class of a task's fields, as `lease.request` carries it (a preference's weight defaults to 1, as a placement's does). */
export function leaseClassOf(f: ClassFields): TaskClass {
  return {
    app: f.app,
    ...(f.user === undefined ? {} : { user: f.user }),
    ...(f.cost === undefined ? {} : { cost: f.cost }),
    require: f.require === undefined ? [] : [...f.require],
    ...(f.prefer === undefined ? {} : { prefer: f.prefer.map((p) => ({ key: p.key, op: p.op, value: p.value, weight: p.weight ?? 1 })) }),
    clientAttrs: f.clientAttrs ?? {},
    prefs: f.prefs ?? {},
  };
}

/**
 * A stable key for a class: equal for classes that match the same way, whatever the order of
 * their attributes' keys (constraint lists keep their order: reordered, they are another key, which
 * costs only a second lease).
 */
export function leaseClassKey(c: TaskClass): string {
  const require = c.require.map((r) => [r.key, r.op, r.value]);
  const prefer = (c.prefer ?? []).map((p) => [p.key, p.op, p.value, p.weight]);
  return JSON.stringify([c.app, c.user ?? null, c.cost ?? null, require, prefer, sorted(c.clientAttrs), sorted(c.prefs)]);
}

function sorted(a: Attrs): Array<[string, Attrs[string]]> {
  return Object.keys(a)
    .sort()
    .map((k): [string, Attrs[string]] => [k, a[k] as Attrs[string]]);
}
