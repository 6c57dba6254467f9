import type { NodeConfig } from "../node/config.js";
import type { AppServerSpec, ClientSpec, ExpandedSpec } from "./spec.js";
import { urlOf } from "./hub-transport.js";

/**
 * Spec → the nodes to start, in an order that lets each find what it dials already listening
 * (allocators, then app servers and slaves, then the fronts, then clients); the role fields of
 * each node's config, with ids turned into hub URLs. The common fields (transport, clock, logger)
 * are the cluster's to add, per incarnation.
 */

export interface NodePlan {
  id: string;
  role: NodeConfig["role"];
  /** The role's own configuration (no transport, timers or logger yet). */
  config: NodeConfig;
  /** For an app server, its spec (capacity, attributes) and the allocators it joins. */
  app?: AppServerSpec & { join: string[] };
  /** For a slave, the masters it registers with. */
  joins?: string[];
}

const urls = (ids: readonly string[]): string[] => ids.map(urlOf);

function appPlan(a: AppServerSpec, allocators: string[]): NodePlan {
  const join = a.join ?? allocators;
  return {
    id: a.id,
    role: "app",
    app: { ...a, join },
    config: {
      role: "app",
      id: a.id,
      apps: a.apps,
      capacity: a.capacity,
      power: a.power ?? 1,
      attrs: a.attrs ?? {},
      join: urls(join),
      workers: 0,
      ...(a.report ? { report: a.report } : {}),
      ...(a.mode ? { mode: a.mode } : {}),
    },
  };
}

/** The entries a client uses when its spec names none. */
export function defaultEntries(spec: ExpandedSpec): string[] {
  const t = spec.tiered;
  if (t) {
    const vips = t.vips ?? [];
    const pointedAt = new Set([...vips.flatMap((v) => v.to), ...(t.tier1 ?? []).flatMap((n) => n.to ?? [])]);
    const front = vips.filter((v) => !pointedAt.has(v.id)).map((v) => v.id);
    if (front.length > 0) return front;
    if ((t.tier1 ?? []).length > 0) return (t.tier1 ?? []).map((n) => n.id);
    return t.tier2.map((n) => n.id);
  }
  return (spec.masterSlave?.masters ?? []).map((m) => m.id);
}

export function clientSpecs(spec: ExpandedSpec): ClientSpec[] {
  return (spec.clients ?? []).map((c) => (typeof c === "string" ? { id: c } : c));
}

export function planOf(spec: ExpandedSpec): NodePlan[] {
  const out: NodePlan[] = [];
  const t = spec.tiered;
  if (t) {
    const tier2 = t.tier2.map((n) => n.id);
    for (const n of t.tier2) out.push({ id: n.id, role: "tier2", config: { role: "tier2", id: n.id, ...(n.peers ? { peers: urls(n.peers) } : {}), ...(n.policy ? { policy: n.policy } : {}) } });
    for (const a of t.apps) out.push(appPlan(a, tier2));
    const vips = t.vips ?? [];
    const tier1Ids = new Set((t.tier1 ?? []).map((n) => n.id));
    // Vips over tier-2s first (tier-1s forward to them), then the tier-1s, then vips over tier-1s.
    for (const v of vips.filter((v) => !v.to.some((x) => tier1Ids.has(x)))) out.push({ id: v.id, role: "vip", config: { role: "vip", id: v.id, to: urls(v.to) } });
    for (const n of t.tier1 ?? []) out.push({ id: n.id, role: "tier1", config: { role: "tier1", id: n.id, to: urls(n.to ?? tier2), ...(n.policy ? { policy: n.policy } : {}) } });
    for (const v of vips.filter((v) => v.to.some((x) => tier1Ids.has(x)))) out.push({ id: v.id, role: "vip", config: { role: "vip", id: v.id, to: urls(v.to) } });
  }
  const ms = spec.masterSlave;
  if (ms) {
    const masters = ms.masters.map((m) => m.id);
    for (const m of ms.masters)
      out.push({ id: m.id, role: "master", config: { role: "master", id: m.id, ...(m.peers ? { peers: urls(m.peers) } : {}), ...(m.assign ? { assign: m.assign } : {}), ...(m.policy ? { policy: m.policy } : {}) } });
    for (const a of ms.apps) out.push(appPlan(a, masters));
    for (const s of ms.slaves ?? []) {
      const joins = s.masters ?? masters;
      out.push({ id: s.id, role: "slave", joins, config: { role: "slave", id: s.id, masters: urls(joins), link: s.link, ...(s.capacity ? { capacity: s.capacity } : {}) } });
    }
  }
  const entries = defaultEntries(spec);
  for (const c of clientSpecs(spec)) {
    const { id, entries: e, ...knobs } = c;
    out.push({ id, role: "client", config: { role: "client", id, entries: urls(e ?? entries), ...knobs } });
  }
  return out;
}
