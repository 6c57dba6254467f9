import { CredentialFileError, credentialFingerprint, initClusterKeys, issueCredentialFile, loadClusterKey, loadCredential } from "../node/credentials.js";
import { MAX_TOKEN_TTL_MS, createAdminToken } from "../node/admin-token.js";
import { CLAIM_ROLES, MAX_ID } from "../protocol/index.js";
import type { ClaimRole } from "../protocol/index.js";
import { CliError, idFlag, list } from "./errors.js";
import { parseFlags } from "./flags.js";

export const KEYS_HELP = `allot keys init --out DIR
allot keys issue --cluster-key DIR/cluster.key --role ROLE[,ROLE…] [--id ID | --id-prefix P]
                 [--expires 30d] --out FILE
allot keys token --credentials ADMIN_FILE [--ttl 1h]

init   creates DIR (mode 0700) with a new cluster key pair: DIR/cluster.key (private, mode
       0600: keep it off the nodes) and DIR/cluster.pub (give it to every node, --cluster-pub).
       It never overwrites a key.
issue  writes a node credential to FILE (mode 0600, never overwritten): a new key pair for the
       node and a claim signed by the cluster key: its roles (${CLAIM_ROLES.join(", ")}; admin may
       read status, set and unset attributes, drain servers, explain anyone's placement and
       sign monitoring tokens), the id it covers (--id) or the prefix its ids start with
       (--id-prefix), and its expiry (--expires N[s|m|h|d], default 30d). Prints the
       key's fingerprint, which a --revoked list may name.
token  prints a bearer token for the monitoring ports (--http) of nodes that run with
       credentials: signed by the admin credential's key, good for --ttl N[s|m|h|d] (default
       1h, at most 7d, never past the credential's expiry). Send it as
       Authorization: Bearer TOKEN.
`;

const OPTIONS = {
  out: { type: "string" },
  "cluster-key": { type: "string" },
  role: { type: "string" },
  id: { type: "string" },
  "id-prefix": { type: "string" },
  expires: { type: "string" },
  credentials: { type: "string" },
  ttl: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m`, `45s`: a duration in ms. */
export function parseDuration(flag: string, s: string): number {
  const m = /^(\d+)([smhd])$/.exec(s);
  if (!m) throw new CliError(`expected N followed by s, m, h or d (e.g. 30d), got ${JSON.stringify(s)}`, flag);
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (ms <= 0 || !Number.isSafeInteger(ms)) throw new CliError(`must be a positive duration, got ${JSON.stringify(s)}`, flag);
  return ms;
}

function file<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof CredentialFileError) throw new CliError(err.message, flag);
    throw err;
  }
}

export async function keys(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h") {
    process.stdout.write(KEYS_HELP);
    return 0;
  }
  if (verb !== "init" && verb !== "issue" && verb !== "token") throw new CliError(`unknown subcommand ${JSON.stringify(verb)}; expected init, issue or token`);
  const { values: v } = parseFlags(rest, OPTIONS);
  if (v.help) {
    process.stdout.write(KEYS_HELP);
    return 0;
  }
  if (verb === "token") return token(v);
  for (const f of ["credentials", "ttl"] as const) if (v[f] !== undefined) throw new CliError(`does not apply to keys ${verb}`, `--${f}`);
  const out = v.out;
  if (out === undefined || out === "") throw new CliError("is required", "--out");
  if (verb === "init") {
    for (const f of ["cluster-key", "role", "id", "id-prefix", "expires"] as const) if (v[f] !== undefined) throw new CliError("does not apply to keys init", `--${f}`);
    const made = file("--out", () => initClusterKeys(out));
    process.stdout.write(`wrote ${made.key} (private: keep it off the nodes) and ${made.pub}\n`);
    return 0;
  }
  if (v["cluster-key"] === undefined) throw new CliError("is required", "--cluster-key");
  const clusterKey = file("--cluster-key", () => loadClusterKey(v["cluster-key"] as string));
  const roles = list("--role", v.role, true).map((r): ClaimRole => {
    if (!(CLAIM_ROLES as readonly string[]).includes(r)) throw new CliError(`expected ${CLAIM_ROLES.join(", ")}, got ${JSON.stringify(r)}`, "--role");
    return r as ClaimRole;
  });
  if ((v.id === undefined) === (v["id-prefix"] === undefined)) throw new CliError("give exactly one of --id ID and --id-prefix P", v.id === undefined ? "--id" : "--id-prefix");
  const who = v.id !== undefined ? { id: idFlag("--id", v.id, MAX_ID) } : { idPrefix: idFlag("--id-prefix", v["id-prefix"] as string, MAX_ID - 8) };
  const expires = Date.now() + parseDuration("--expires", v.expires ?? "30d");
  const c = file("--out", () => issueCredentialFile(clusterKey, { roles, expires, ...who }, out));
  process.stdout.write(`wrote ${out}: ${roles.join(",")} for ${who.id ?? `${who.idPrefix}…`}, expires ${new Date(expires).toISOString()}, key ${credentialFingerprint(c)}\n`);
  return 0;
}

function token(v: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string | undefined }): number {
  for (const f of ["out", "cluster-key", "role", "id", "id-prefix", "expires"] as const) if (v[f] !== undefined) throw new CliError("does not apply to keys token", `--${f}`);
  if (v.credentials === undefined || v.credentials === "") throw new CliError("is required (an admin credential from allot keys issue --role admin)", "--credentials");
  const c = file("--credentials", () => loadCredential(v.credentials as string));
  if (!c.claim.roles.includes("admin")) throw new CliError(`grants ${c.claim.roles.join(",")}, not admin: only an admin credential signs monitoring tokens`, "--credentials");
  const ttl = parseDuration("--ttl", typeof v.ttl === "string" ? v.ttl : "1h");
  if (ttl > MAX_TOKEN_TTL_MS) throw new CliError(`at most 7d, got ${JSON.stringify(v.ttl)}`, "--ttl");
  const now = Date.now();
  if (c.claim.expires <= now) throw new CliError(`the credential expired at ${new Date(c.claim.expires).toISOString()}`, "--credentials");
  process.stdout.write(`${createAdminToken(c, ttl, now)}\n`);
  return 0;
}
