import type { KeyObject } from "node:crypto";
import { delimiter } from "node:path";
import { CredentialFileError, loadClusterPub, loadCredential } from "../node/credentials.js";
import type { Credential } from "../node/credentials.js";
import { CliError } from "./errors.js";

/** The flags of every command that dials or listens. */
export const CREDENTIAL_OPTIONS = {
  credentials: { type: "string" },
  "cluster-pub": { type: "string", multiple: true },
} as const;

export const CREDENTIAL_HELP = `Credentials (every command that dials or listens):
  --credentials FILE    this node's credential (allot keys issue); env ALLOT_CREDENTIALS. With
                        it, the node proves itself and requires every peer to
  --cluster-pub FILE    a cluster public key that signs credentials (cluster.pub); repeat while
                        keys rotate; env ALLOT_CLUSTER_PUB (files separated by "${delimiter}")
`;

export interface CredentialConfig {
  credentials?: Credential;
  clusterPub?: KeyObject[];
}

function load<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof CredentialFileError) throw new CliError(err.message, flag);
    throw err;
  }
}

/** Loads `--credentials` and `--cluster-pub` (or their environment variables); a bad file is a usage error naming the flag. */
export function credentialFlags(v: { credentials?: string | undefined; "cluster-pub"?: string[] | undefined }, env: NodeJS.ProcessEnv = process.env): CredentialConfig {
  const credFlag = v.credentials !== undefined ? "--credentials" : "ALLOT_CREDENTIALS";
  const credFile = v.credentials ?? (env.ALLOT_CREDENTIALS || undefined);
  const pubFlag = v["cluster-pub"] !== undefined ? "--cluster-pub" : "ALLOT_CLUSTER_PUB";
  const pubFiles = v["cluster-pub"] ?? (env.ALLOT_CLUSTER_PUB ?? "").split(delimiter).filter((f) => f !== "");
  if (credFile === undefined) {
    if (pubFiles.length > 0) throw new CliError("needs --credentials too: a node without a credential cannot prove itself to its peers", pubFlag);
    return {};
  }
  const credentials = load(credFlag, () => loadCredential(credFile));
  if (pubFiles.length === 0) throw new CliError("needs at least one --cluster-pub FILE to verify peers with", credFlag);
  const clusterPub = pubFiles.map((f) => load(pubFlag, () => loadClusterPub(f)));
  return { credentials, clusterPub };
}
