import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

/** Each role in its own process, started with credentials issued by `allot keys`. */
describe("allot with credentials, every node in its own process", () => {
  const dir = mkdtempSync(join(tmpdir(), "allot-auth-"));
  const keys = join(dir, "keys");
  const cred = (name: string): string => join(dir, `${name}.cred`);
  const pub = join(keys, "cluster.pub");
  const procs: NodeProc[] = [];
  let tier2: NodeProc;
  let app: NodeProc;

  const issue = async (name: string, ...args: string[]): Promise<void> => {
    const r = await runCli(["keys", "issue", "--cluster-key", join(keys, "cluster.key"), "--out", cred(name), ...args]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  };

  beforeAll(async () => {
    const init = await runCli(["keys", "init", "--out", keys]);
    expect(init.code, init.stderr).toBe(0);
    await issue("tier2", "--role", "tier2", "--id", "t2-1");
    await issue("app", "--role", "app", "--id-prefix", "app-");
    await issue("client", "--role", "client", "--id", "c1");
    await issue("admin", "--role", "admin", "--id", "ops");
    tier2 = await startProc(["--role", "tier2", "--credentials", cred("tier2"), "--cluster-pub", pub]);
    procs.push(tier2);
    app = await startProc(["--role", "app", "--join", tier2.url, "--apps", "echo", "--credentials", cred("app"), "--cluster-pub", pub]);
    procs.push(app);
  }, 60_000);

  afterAll(async () => {
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
  });

  it("keys init makes a 0700 directory with a 0600 private key, and never overwrites it", async () => {
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    expect(statSync(join(keys, "cluster.key")).mode & 0o777).toBe(0o600);
    expect(statSync(cred("client")).mode & 0o777).toBe(0o600);
    const again = await runCli(["keys", "init", "--out", keys]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out: .*cluster\.key: already exists/);
  });

  it("a node takes its id from its credential: a prefix claim gives PREFIX-random", () => {
    expect(tier2.id).toBe("t2-1");
    expect(app.id).toMatch(/^app-[0-9a-f]{6}$/);
  });

  it("an app server started without credentials gets no task; the credentialed client's tasks all run on the real one", async () => {
    const rogue = await startProc(["--role", "app", "--join", tier2.url, "--apps", "echo", "--power", "1000", "--id", "app-rogue"]);
    procs.push(rogue);
    await whenLogged([tier2], () => /peer refused/.test(tier2.stderr()), "the tier-2 refusing the rogue app server");
    const r = await runCli(["submit", "--entry", tier2.url, "--app", "echo", "--count", "20", "-o", "json", "--credentials", cred("client"), "--cluster-pub", pub]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { completed: number; byServer: Record<string, number> };
    expect(summary).toMatchObject({ completed: 20, byServer: { [app.id]: 20 } });
    const st = await runCli(["status", "--entry", tier2.url, "-o", "json", "--credentials", cred("admin"), "--cluster-pub", pub]);
    expect(st.code, st.stderr).toBe(0);
    expect((JSON.parse(st.stdout) as { servers: Array<{ id: string }> }).servers.map((s) => s.id)).toEqual([app.id]);
  }, 60_000);

  it("refuses attrs set without credentials, or from a client that is no admin; an admin's goes through", async () => {
    const bare = await runCli(["attrs", "set", "--entry", tier2.url, "task-type", "echo", "minPower=1000000"]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/UNAUTHORIZED/);
    const user = await runCli(["attrs", "set", "--entry", tier2.url, "task-type", "echo", "minPower=1000000", "--credentials", cred("client"), "--cluster-pub", pub]);
    expect(user.code).toBe(1);
    expect(user.stderr).toMatch(/UNAUTHORIZED.*may not send attrs\.set/);
    const admin = await runCli(["attrs", "set", "--entry", tier2.url, "task-type", "echo", "region=eu", "--credentials", cred("admin"), "--cluster-pub", pub]);
    expect(admin.code, admin.stderr).toBe(0);
  });

  it("allot demo issues credentials in memory and says it runs authenticated", async () => {
    const r = await runCli(["demo", "--tasks", "20"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cluster up: .*authenticated \(credentials issued in memory\)/);
  }, 60_000);

  it("exits 2 naming the flag for an --id or --role outside the claim, a bad credential file, or a public listen without credentials", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--role", "app", "--join", tier2.url, "--apps", "echo", "--id", "other", "--credentials", cred("app"), "--cluster-pub", pub], /--id: .*covers app-…, not other/],
      [["--role", "tier2", "--credentials", cred("app"), "--cluster-pub", pub], /--role: .*grants app, not tier2/],
      [["--role", "tier2", "--credentials", pub, "--cluster-pub", pub], /--credentials: .*not a credential file/],
      [["--role", "tier2", "--credentials", cred("tier2"), "--cluster-pub", cred("tier2")], /--cluster-pub: .*not a public key/],
      [["--role", "tier2", "--credentials", cred("tier2")], /--credentials: needs at least one --cluster-pub/],
      [["--role", "tier2", "--listen", "0.0.0.0:0"], /--listen: .*beyond loopback/],
    ];
    writeFileSync(join(dir, "junk"), "junk");
    for (const [args, why] of cases) {
      const r = await runCli(["start", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  }, 60_000);
});
