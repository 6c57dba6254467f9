import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { runCli, startProc } from "./proc.js";
import type { NodeProc } from "./proc.js";

/** One simulated host: a network namespace with one interface, `eth0`, on the shared bridge. */
export interface Host {
  name: string;
  /** The namespace's name, unique to this run. */
  ns: string;
  /** Its address on the bridge's subnet, without the prefix length. */
  addr: string;
}

/** Hosts joined by veth pairs to one bridge, which lives in a namespace of its own. */
export interface HostNet {
  hosts: ReadonlyMap<string, Host>;
  host(name: string): Host;
  /** Takes the host's end of its veth pair down: the host is cut from the bridge, its processes keep running. */
  cut(name: string): void;
  /** Runs a command inside the host's namespace and returns its stdout; throws with its stderr when it fails. */
  exec(name: string, command: string, args: readonly string[]): string;
  /** SIGKILLs whatever still runs in the namespaces, deletes them (their veths and the bridge go with them) and checks none is left. */
  remove(): Promise<void>;
}

export interface HostSpec {
  name: string;
  /** An address with its prefix length, e.g. 10.77.0.11/24. */
  cidr: string;
}

/**
 * The cleanup, as a shell script run by a separate, detached bash: it waits for its stdin to
 * close — when `remove()` ends it, or when the test process dies however it dies — then kills
 * what runs in the namespaces and deletes them. So a crashed or killed test run leaves nothing.
 */
const GUARD = `
names=("$@")
cleanup() {
  for ns in "\${names[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "\${names[@]}"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
while read -r _; do :; done
`;

function ip(args: readonly string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  } catch (err) {
    const stderr = err instanceof Error && "stderr" in err ? String(err.stderr).trim() : "";
    throw new Error(`ip ${args.join(" ")} failed (multi-host tests need root and iproute2): ${stderr || String(err)}`, { cause: err });
  }
}

/** The namespaces named `PREFIX-…`, as `ip netns list` shows them (`allot12-` is no prefix of another run's `allot123-br`). */
export function namespacesNamed(prefix: string): string[] {
  return ip(["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${prefix}-`));
}

/**
 * Starts the guard over `names`: a detached bash (its own process group, so a Ctrl-C or a kill
 * of the test's group does not end it before it cleans up) that deletes them when its stdin closes.
 */
export function guardNamespaces(names: readonly string[]): ChildProcess {
  const guard = spawn("bash", ["-c", GUARD, "netns-guard", ...names], { stdio: ["pipe", "ignore", "inherit"], detached: true });
  guard.on("error", () => {});
  return guard;
}

async function endGuard(guard: ChildProcess): Promise<void> {
  if (guard.exitCode !== null || guard.signalCode !== null) return;
  const exited = once(guard, "exit");
  guard.stdin?.end();
  const timer = setTimeout(() => guard.kill("SIGTERM"), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Builds the hosts: `PREFIX-br` holding bridge `br0`, and per host `PREFIX-NAME` with `eth0` at
 * its address, whose peer `v-NAME` is a port of the bridge. Nothing is created in the root
 * namespace. Throws, naming `ip`'s error, when any step fails — after removing what it made.
 */
export async function createHostNet(prefix: string, specs: readonly HostSpec[]): Promise<HostNet> {
  const bridge = `${prefix}-br`;
  const hosts = new Map<string, Host>(specs.map((s) => [s.name, { name: s.name, ns: `${prefix}-${s.name}`, addr: s.cidr.split("/")[0] ?? s.cidr }]));
  const names = [bridge, ...[...hosts.values()].map((h) => h.ns)];
  const guard = guardNamespaces(names);

  const remove = async (): Promise<void> => {
    await endGuard(guard);
    const left = namespacesNamed(prefix);
    if (left.length > 0) throw new Error(`namespaces left after cleanup: ${left.join(", ")}`);
  };
  const host = (name: string): Host => {
    const h = hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  };

  try {
    ip(["netns", "add", bridge]);
    ip(["-n", bridge, "link", "add", "br0", "type", "bridge"]);
    ip(["-n", bridge, "link", "set", "br0", "up"]);
    for (const s of specs) {
      const h = host(s.name);
      ip(["netns", "add", h.ns]);
      ip(["-n", bridge, "link", "add", `v-${s.name}`, "type", "veth", "peer", "name", "eth0", "netns", h.ns]);
      ip(["-n", bridge, "link", "set", `v-${s.name}`, "master", "br0", "up"]);
      ip(["-n", h.ns, "addr", "add", s.cidr, "dev", "eth0"]);
      ip(["-n", h.ns, "link", "set", "eth0", "up"]);
      ip(["-n", h.ns, "link", "set", "lo", "up"]);
    }
  } catch (err) {
    // The build's error is the one to report; the guard removes what was made before it.
    await endGuard(guard);
    throw err;
  }

  return {
    hosts,
    host,
    cut: (name) => void ip(["-n", host(name).ns, "link", "set", "eth0", "down"]),
    exec: (name, command, args) => ip(["netns", "exec", host(name).ns, command, ...args]),
    remove,
  };
}

/** A TCP connection, as `ss -tn` prints it: the host's end and the peer's, each ADDR:PORT. */
export interface Connection {
  local: string;
  peer: string;
}

/** The established TCP connections inside the host's namespace. */
export function establishedIn(net: HostNet, name: string): Connection[] {
  return net
    .exec(name, "ss", ["-tnH", "state", "established"])
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.length >= 4)
    .map((cols) => ({ local: cols[2] ?? "", peer: cols[3] ?? "" }));
}

const inNamespace = (host: Host): string[] => ["ip", "netns", "exec", host.ns];

/** `allot start …` inside the host's namespace; resolves on its `ready ROLE ID URL` line, as startProc does. */
export function startIn(host: Host, args: readonly string[], timeoutMs = 20_000): Promise<NodeProc> {
  return startProc(args, timeoutMs, undefined, inNamespace(host));
}

/** Runs an allot command to completion inside the host's namespace (SIGKILLed past `timeoutMs`). */
export function runIn(host: Host, args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args, timeoutMs, inNamespace(host));
}
