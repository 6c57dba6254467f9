import type { ServerStatusRow, StatusBody } from "../protocol/index.js";
import { AllotError } from "../protocol/index.js";
import { queryStatus } from "../node/query.js";
import type { QueryOptions } from "../node/query.js";

/** One entry of a set as `allot status` and `allot top` see it: its answer, or why there is none. */
export type MemberView = { entry: string; status: StatusBody; error?: undefined } | { entry: string; status?: undefined; error: string };

/** A server of the merged table of a set: the newest row any allocator holds, and which allocators hold it. */
export interface MergedServer extends ServerStatusRow {
  /** Node ids of the allocators whose tables list it. */
  seenBy: string[];
}

export const errorText = (err: unknown): string => (err instanceof AllotError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err));

/** Asks every entry at once; one that does not answer is a member with an error, not a failure of the whole. */
export async function querySet(entries: readonly string[], options: QueryOptions): Promise<MemberView[]> {
  return Promise.all(
    entries.map(async (entry): Promise<MemberView> => {
      try {
        return { entry, status: await queryStatus(entry, options) };
      } catch (err) {
        return { entry, error: errorText(err) };
      }
    }),
  );
}

const newer = (a: readonly [number, number], b: readonly [number, number]): boolean => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** The servers every allocator member lists, once each: the row of the highest version (then the freshest report) wins. */
export function mergeServers(members: readonly MemberView[]): MergedServer[] {
  const byId = new Map<string, MergedServer>();
  for (const m of members) {
    const s = m.status;
    if (s === undefined || (s.role !== "tier2" && s.role !== "master")) continue;
    for (const r of s.servers) {
      const had = byId.get(r.id);
      if (had === undefined) byId.set(r.id, { ...r, seenBy: [s.node] });
      else {
        const seenBy = had.seenBy.includes(s.node) ? had.seenBy : [...had.seenBy, s.node];
        byId.set(r.id, newer(r.version, had.version) || (r.version[0] === had.version[0] && r.version[1] === had.version[1] && r.ageMs < had.ageMs) ? { ...r, seenBy } : { ...had, seenBy });
      }
    }
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
