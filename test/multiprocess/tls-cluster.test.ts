import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../src/cli/load.js";
import { makeTestPki } from "../helpers/certs.js";
import type { TestPki } from "../helpers/certs.js";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

const tlsArgs = (): string[] => ["--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-ca", pki.ca];

describe("allot over wss:// with mutual TLS, every role in its own process", () => {
  const procs: NodeProc[] = [];
  let entry = "";
  let apps: NodeProc[] = [];
  let tier2: NodeProc[] = [];

  beforeAll(async () => {
    const start = async (args: string[]): Promise<NodeProc> => {
      const p = await startProc([...args, "--listen", "127.0.0.1:0", ...tlsArgs()]);
      procs.push(p);
      return p;
    };
    // The demo's tiered layout: tier-2 set, app servers joined to it, a vip over it, tier-1s, the entry vip.
    tier2 = await Promise.all([1, 2].map((i) => start(["--role", "tier2", "--id", `t2-${i}`])));
    const t2urls = tier2.map((t) => t.url).join(",");
    apps = await Promise.all([1, 2, 3].map((i) => start(["--role", "app", "--id", `app-${i}`, "--join", t2urls, "--apps", "echo,hash", "--capacity", "8", "--power", String(i), "--workers", "0"])));
    await whenLogged(tier2, () => tier2.every((t) => apps.every((a) => t.stderr().includes(`"server":"${a.id}"`))), "every app server joining every tier-2 over wss", 30_000);
    const vip2 = await start(["--role", "vip", "--id", "vip-2", "--to", t2urls]);
    const tier1 = await Promise.all([1, 2].map((i) => start(["--role", "tier1", "--id", `t1-${i}`, "--to", vip2.url])));
    entry = (await start(["--role", "vip", "--id", "vip-1", "--to", tier1.map((t) => t.url).join(",")])).url;
  }, 60_000);

  afterAll(async () => {
    await killAll(procs);
  });

  it("prints a wss:// URL in every ready line", () => {
    expect(procs).toHaveLength(9);
    for (const p of procs) expect(p.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
  });

  it("runs the demo's workload: 100 tasks through allot submit with a client certificate", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--payload", '{"n":1}', "--count", "100", "--concurrency", "16", "--json", ...tlsArgs()]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s).toMatchObject({ completed: 100, failed: 0 });
    for (const id of Object.keys(s.byServer)) expect(apps.map((a) => a.id)).toContain(id);
    const h = await runCli(["submit", "--entry", entry, "--app", "hash", "--payload", '{"rounds":200,"data":"x"}', "--count", "25", "--json", ...tlsArgs()]);
    expect(h.code, h.stderr).toBe(0);
    expect(JSON.parse(h.stdout)).toMatchObject({ completed: 25, failed: 0 });
  });

  it("answers allot status and allot attrs over wss:// with a client certificate", async () => {
    const t2 = tier2[0] as NodeProc;
    const s = await runCli(["status", "--entry", t2.url, "--json", ...tlsArgs()]);
    expect(s.code, s.stderr).toBe(0);
    expect((JSON.parse(s.stdout) as { servers: unknown[] }).servers).toHaveLength(3);
    const app = apps[1] as NodeProc;
    const a = await runCli(["attrs", "set", "--entry", app.url, "server", app.id, "zone=b", ...tlsArgs()]);
    expect(a.code, a.stderr).toBe(0);
  });

  it("refuses a client without a certificate: its task fails, exit 1", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--timeout-ms", "1500", "--tls-ca", pki.ca]);
    expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/UNREACHABLE|TIMEOUT/);
    const s = await runCli(["status", "--entry", entry, "--timeout-ms", "1500", "--tls-ca", pki.ca, "--tls-cert", pki.otherCert, "--tls-key", pki.otherKey]);
    expect(s.code).toBe(1);
  });
});

describe("a bad --tls-* file", () => {
  // The full table of bad files is test/cli/tls-flags.test.ts, in process; these check what a real process does.
  it("exits 2 before the ready line, naming the flag and what is wrong with the file", async () => {
    const missing = join(pki.dir, "absent.pem");
    const cases: Array<[string[], RegExp]> = [
      [["start", "--role", "tier2", "--tls-cert", missing, "--tls-key", pki.key], /--tls-cert: cannot read .*absent\.pem: no such file/],
      [["start", "--role", "app", "--join", "wss://127.0.0.1:1", "--apps", "echo", "--tls-cert", pki.cert, "--tls-key", pki.otherKey, "--tls-ca", pki.ca], /--tls-key: .*stranger\.key is not the private key of the certificate in .*node\.pem/],
      [["submit", "--entry", "wss://127.0.0.1:1", "--app", "echo", "--tls-ca", pki.key], /--tls-ca: .*node\.key is not a PEM certificate/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, 30_000);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stdout, args.join(" ")).not.toMatch(/^ready /m);
    }
  }, 60_000);
});
