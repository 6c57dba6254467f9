import type { Peer } from "../transport/index.js";
import type { RoleContext } from "./context.js";

/**
 * Connections dialled on first use, one per URL. A connection that is lost is dropped from the
 * pool and closed rather than redialled forever: the next use dials afresh. Clients pool their
 * servers and slaves this way, slaves their servers, allocators the servers a peer told them of.
 */
export class PeerPool {
  private readonly peers = new Map<string, Peer>();

  constructor(private readonly ctx: RoleContext) {}

  get size(): number {
    return this.peers.size;
  }

  /** The pooled connections, for `status`. */
  list(): Peer[] {
    return [...this.peers.values()];
  }

  get(url: string): Peer {
    let p = this.peers.get(url);
    if (!p || p.state === "closed") {
      p = this.ctx.connect(url, { onDown: (down) => this.drop(url, down) });
      this.peers.set(url, p);
    }
    return p;
  }

  close(): void {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }

  private drop(url: string, p: Peer): void {
    if (this.peers.get(url) !== p) return;
    this.peers.delete(url);
    p.close();
  }
}
