import { hash32 } from "../state/index.js";

/**
 * Who the deciding allocator is within its allocator set: what home-server affinity needs. Every
 * member must be given the same `members` (its own id included), so that all agree on who owns
 * which server without talking to each other.
 */
export interface AllocatorIdentity {
  /** This allocator's id; one of `members`. */
  readonly id: string;
  /** The ids of every member of the allocator set, this one included, in any order. */
  readonly members: readonly string[];
}

/** The rendezvous weight of a member (its id's hash as seed) for a server. */
const weight = (memberSeed: number, serverId: string): number => hash32(serverId, memberSeed);

/**
 * The member that owns server `serverId`: rendezvous (highest-random-weight) hashing, the member
 * whose hash with the server's id is highest, ties to the lower member id. Every server has
 * exactly one owner, and a member joining or leaving moves only the servers it takes or held:
 * about 1/K of them. Undefined when there are no members.
 */
export function ownerOf(serverId: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestW = -1;
  for (const m of members) {
    const w = weight(hash32(m), serverId);
    if (w > bestW || (w === bestW && best !== undefined && m < best)) {
      best = m;
      bestW = w;
    }
  }
  return best;
}

/**
 * One allocator's answer to "is this server mine?", cached per server entry, so a decision pays a
 * hash per member only the first time it sees a server under the current member set. The cache is
 * dropped when the set changes (a new `members` array whose ids differ).
 */
export class HomeServers {
  private members: readonly string[] | undefined;
  private key = "";
  private me = "";
  private mySeed = 0;
  private seeds: number[] = [];
  private ids: readonly string[] = [];
  private mine = new WeakMap<object, boolean>();

  /** Whether `server` is owned by `me` among `me.members`. */
  isHome(server: { readonly id: string }, me: AllocatorIdentity): boolean {
    if (me.members !== this.members || me.id !== this.me) this.rekey(me);
    let v = this.mine.get(server);
    if (v === undefined) {
      v = this.owns(server.id);
      this.mine.set(server, v);
    }
    return v;
  }

  private owns(serverId: string): boolean {
    const w = weight(this.mySeed, serverId);
    for (let i = 0; i < this.seeds.length; i++) {
      const o = weight(this.seeds[i] as number, serverId);
      if (o > w || (o === w && (this.ids[i] as string) < this.me)) return false;
    }
    return true;
  }

  /** A new members array: a new cache only if the set or this allocator's id really changed. */
  private rekey(me: AllocatorIdentity): void {
    this.members = me.members;
    const others = [...new Set(me.members)].filter((m) => m !== me.id).sort();
    const key = `${me.id}\u0000${others.join("\u0000")}`;
    if (key === this.key) return;
    this.key = key;
    this.me = me.id;
    this.mySeed = hash32(me.id);
    this.ids = others;
    this.seeds = others.map((m) => hash32(m));
    this.mine = new WeakMap();
  }
}
