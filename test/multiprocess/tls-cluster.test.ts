import { writeFileSync } from "node:fs";
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
    await whenLogged(tier2, () => tier2.every((t) => apps.every((a) => t.stderr().includes(`"server":"${a.id}"`))), "every app server joining every tier-2 over wss");
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
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNREACHABLE|TIMEOUT/);
    const s = await runCli(["status", "--entry", entry, "--timeout-ms", "1500", "--tls-ca", pki.ca, "--tls-cert", pki.otherCert, "--tls-key", pki.otherKey]);
    expect(s.code).toBe(1);
  });
});

describe("a bad --tls-* file", () => {
  it("exits 2 before the ready line, naming the flag and what is wrong with the file", async () => {
    const notPem = join(pki.dir, "notes.txt");
    writeFileSync(notPem, "not a certificate\n");
    const missing = join(pki.dir, "absent.pem");
    const t2 = ["start", "--role", "tier2"];
    const cases: Array<[string[], RegExp]> = [
      [[...t2, "--tls-cert", missing, "--tls-key", pki.key], /--tls-cert: cannot read .*absent\.pem: no such file/],
      [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.otherKey], /--tls-key: .*stranger\.key is not the private key of the certificate in .*node\.pem/],
      [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-ca", notPem], /--tls-ca: .*notes\.txt is not a PEM certificate/],
      [[...t2, "--tls-cert", pki.key, "--tls-key", pki.key], /--tls-cert: .*node\.key is not a PEM certificate/],
      [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.dir], /--tls-key: cannot read .*: is a directory/],
      [[...t2, "--tls-ca", pki.ca], /--tls-cert: is required: a node that listens serves wss:\/\//],
      [["start", "--role", "app", "--join", "wss://127.0.0.1:1", "--apps", "echo", "--tls-cert", pki.cert], /--tls-key: is required/],
      [[...t2, ...tlsArgs(), "--advertise", "ws://10.0.0.1:7000"], /--advertise: the node serves wss:\/\//],
      [["start", "--role", "app", "--join", "wss://127.0.0.1:1,ws://127.0.0.1:2", "--apps", "echo", ...tlsArgs()], /--join: expected wss:\/\/ URLs with --tls-\*.*ws:\/\/127\.0\.0\.1:2/],
      [["submit", "--entry", "ws://127.0.0.1:1", "--app", "echo", "--tls-ca", pki.ca], /--entry: expected wss:\/\//],
      [["submit", "--entry", "wss://127.0.0.1:1", "--app", "echo", "--tls-ca", missing], /--tls-ca: cannot read .*: no such file/],
      [["status", "--entry", "wss://127.0.0.1:1", "--tls-key", pki.key], /--tls-cert: is required with a key/],
      [["attrs", "set", "--entry", "wss://127.0.0.1:1", "client", "c1", "k=v", "--tls-ca", notPem], /--tls-ca: .*is not a PEM certificate/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, 15_000)));
    results.forEach((r, i) => {
      const [args, message] = cases[i] as [string[], RegExp];
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stdout, args.join(" ")).not.toMatch(/^ready /m);
    });
  });
});
