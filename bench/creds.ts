// Credentials for the bench's nodes, so that its figures are the default (authenticated) setup:
// a throwaway cluster key, a credential file per node and one for the bench's own connections.
// `undefined` in place of a BenchKeys means the same figure without authentication.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClaimRole } from "../src/protocol/index.js";
import { createAuthenticator, credentialToText, generateClusterKey, issueCredential } from "../src/transport/index.js";
import type { Authenticator, ClusterKey, Credential } from "../src/transport/index.js";

const HOUR_MS = 3_600_000;

export class BenchKeys {
  readonly issuer: ClusterKey = generateClusterKey();
  private readonly dir = mkdtempSync(join(tmpdir(), "allot-bench-keys-"));
  private readonly pub = join(this.dir, "cluster.pub");
  private files = 0;

  constructor() {
    writeFileSync(this.pub, this.issuer.publicKey.export({ format: "pem", type: "spki" }).toString());
    process.once("exit", () => this.remove());
  }

  credential(role: ClaimRole, id: string): Credential {
    return issueCredential(this.issuer.privateKey, { roles: [role], id, expires: Date.now() + HOUR_MS });
  }

  /** `allot start` flags that give a node a credential for `role` and `id`. */
  flags(role: ClaimRole, id: string): string[] {
    const file = join(this.dir, `node-${++this.files}.cred`);
    writeFileSync(file, credentialToText(this.credential(role, id)), { mode: 0o600 });
    return ["--credentials", file, "--cluster-pub", this.pub];
  }

  /** The config an in-process node (startNode) takes for the same. */
  config(role: ClaimRole, id: string): { credentials: Credential; clusterPub: [ClusterKey["publicKey"]] } {
    return { credentials: this.credential(role, id), clusterPub: [this.issuer.publicKey] };
  }

  /** An authenticator for one of the bench's own connections (a Peer). */
  authenticator(id: string): Authenticator {
    return createAuthenticator({ credential: this.credential("client", id), trusted: [this.issuer.publicKey], now: Date.now });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Node flags with a credential, or none when the figure runs without authentication. */
export const authFlags = (keys: BenchKeys | undefined, role: ClaimRole, id: string): string[] => (keys ? keys.flags(role, id) : []);
