import { describe, expect, it } from "vitest";
import { formatStatus, toJson } from "../../src/cli/status.js";
import { startConfig } from "../../src/cli/start.js";
import { CliError } from "../../src/cli/errors.js";
import type { ServerStatusRow, StatusBody } from "../../src/protocol/index.js";

const row = (id: string, status: ServerStatusRow["status"]): ServerStatusRow => ({ id, url: `ws://${id}`, apps: ["echo"], capacity: 4, power: 1, load: 1, attrs: {}, version: [1, 2], status, reserved: 0, ageMs: 1500 });
const servers = [row("b-dead", "dead"), row("a-live", "alive")];
const tier2: StatusBody = { role: "tier2", node: "t2", servers, tables: { client: [], user: [], "task-type": [] }, deadRetentionMs: 300_000 };

describe("cli/status", () => {
  describe("formatStatus", () => {
    it("hides dead servers and slaves unless asked for all, and says how many it hid", () => {
      const master: StatusBody = { role: "master", node: "m", servers: [row("s", "alive")], slaves: [row("sl-dead", "dead")] };
      const text = formatStatus(tier2, 0, false).join("\n");
      expect(text).toContain("allocator t2 (tier2): 2 server(s); 1 dead not shown (--all shows them)");
      expect(text).toMatch(/a-live\s+alive/);
      expect(text).not.toContain("b-dead");
      expect(formatStatus(master, 0, false).join("\n")).not.toContain("sl-dead");
      const all = formatStatus(tier2, 0, true);
      expect(all[0]).toBe("allocator t2 (tier2): 2 server(s)");
      expect(all.slice(1, 3).map((l) => l.trim().split(/\s+/)[0])).toEqual(["a-live", "b-dead"]);
    });

    it("shows an app server's running tasks with their age, deadline and whether they are overdue", () => {
      const app: StatusBody = {
        role: "app", node: "a1", url: "ws://a1", apps: ["echo", "sleep"], capacity: 4, power: 2, load: 3, runningCount: 3, expected: 1, completed: 7, attrs: { region: "eu" }, version: [5, 9],
        registrations: [{ url: "ws://t2", id: "t2", state: "open", inFlight: 1 }],
        running: [
          { taskId: "t-1", app: "sleep", ageMs: 1200, deadline: 10_000, overdue: false },
          { taskId: "t-2", app: "echo", ageMs: 9000, deadline: 2_000, overdue: true },
        ],
      };
      const lines = formatStatus(app, 5_000, false);
      expect(lines[0]).toBe("app server a1 ws://a1: load 3/4 (3 running, 1 expected), power 2, apps echo,sleep, 7 completed, v5.9");
      expect(lines).toContain("  attrs region=eu");
      expect(lines).toContain("running (3, 2 listed):");
      expect(lines.find((l) => l.includes("t-1"))).toMatch(/running 1\.2s {2}deadline in 5\.0s$/);
      expect(lines.find((l) => l.includes("t-2"))).toMatch(/deadline 3\.0s ago {2}OVERDUE$/);
    });

    it("shows a slave's link mode, queue, masters and servers, and a tier-1's policy", () => {
      const slave: StatusBody = { role: "slave", node: "sl", link: "direct", held: 2, capacity: 8, received: 5, answered: 3, failovers: 1, masters: [{ url: "ws://m", state: "down", inFlight: 0 }], servers: [] };
      expect(formatStatus(slave, 0, false)).toEqual([
        "slave sl: link direct, holding 2/8, received 5, answered 3, failovers 1",
        "masters (1):",
        "  ws://m  down       -              in flight 0",
        "servers (0):",
      ]);
      const tier1: StatusBody = { role: "tier1", node: "t1", forwarded: 4, policy: "p2c", members: [] };
      expect(formatStatus(tier1, 0, false)).toEqual(["tier-1 t1 (p2c): 4 task(s) redirected, 0 member(s)"]);
    });
  });

  describe("toJson", () => {
    it("keeps an allocator's answer in the shape allot status --json has always printed, with its role, dead rows included", () => {
      expect(toJson(tier2)).toEqual({ role: "tier2", node: "t2", servers, clients: [], users: [], taskTypes: [], deadRetentionMs: 300_000 });
    });
  });
});

describe("cli/start --dead-retention-ms", () => {
  it("sets a tier-2's and a master's retention of dead entries", () => {
    expect(startConfig(["--role", "distributor", "--tier", "2", "--dead-retention-ms", "60000"])).toMatchObject({ role: "tier2", deadRetentionMs: 60_000 });
    expect(startConfig(["--role", "master", "--dead-retention-ms", "0"])).toMatchObject({ role: "master", deadRetentionMs: 0 });
    expect(startConfig(["--role", "master"])).not.toHaveProperty("deadRetentionMs");
  });

  it("refuses a value that is not a whole number of ms, naming the flag", () => {
    expect(() => startConfig(["--role", "distributor", "--tier", "2", "--dead-retention-ms", "5m"])).toThrow(CliError);
    expect(() => startConfig(["--role", "master", "--dead-retention-ms", "-1"])).toThrow(/--dead-retention-ms/);
  });
});

describe("cli/start --key-window-ms and --keys-per-client", () => {
  it("sets the allocators' key memory, keeping the defaults it does not name", () => {
    expect(startConfig(["--role", "tier2", "--key-window-ms", "60000"])).toMatchObject({ role: "tier2", keyMemory: { windowMs: 60_000, maxPerClient: 10_000, maxTotal: 100_000 } });
    expect(startConfig(["--role", "master", "--keys-per-client", "50"])).toMatchObject({ role: "master", keyMemory: { windowMs: 300_000, maxPerClient: 50 } });
    expect(startConfig(["--role", "tier2"])).not.toHaveProperty("keyMemory");
  });

  it("refuses a bad number, and the flags on a role without key memory", () => {
    expect(() => startConfig(["--role", "tier2", "--key-window-ms", "5m"])).toThrow(/--key-window-ms/);
    expect(() => startConfig(["--role", "master", "--keys-per-client", "0"])).toThrow(/--keys-per-client/);
    expect(() => startConfig(["--role", "app", "--apps", "echo", "--join", "ws://127.0.0.1:1", "--key-window-ms", "1"])).toThrow(CliError);
  });
});

describe("cli/start outlier ejection and slow start", () => {
  it("sets a tier-2's and a master's ejection and slow start, and only what is given", () => {
    expect(startConfig(["--role", "tier2", "--eject-after", "3", "--eject-ms", "1000", "--max-eject-ms", "8000", "--max-ejected-percent", "34", "--slow-start-ms", "0"])).toMatchObject({ role: "tier2", ejectAfter: 3, ejectMs: 1000, maxEjectMs: 8000, maxEjectedPercent: 34, slowStartMs: 0 });
    expect(startConfig(["--role", "master", "--eject-after", "0"])).toMatchObject({ role: "master", ejectAfter: 0 });
    expect(startConfig(["--role", "master"])).not.toHaveProperty("slowStartMs");
  });

  it("refuses a bad value naming the flag, and the flags on roles that do not select servers", () => {
    expect(() => startConfig(["--role", "tier2", "--max-ejected-percent", "101"])).toThrow(/--max-ejected-percent/);
    expect(() => startConfig(["--role", "tier2", "--eject-ms", "0"])).toThrow(/--eject-ms/);
    expect(() => startConfig(["--role", "app", "--join", "ws://127.0.0.1:1", "--apps", "echo", "--eject-after", "3"])).toThrow(/--eject-after/);
  });
});

describe("cli/status formatStatus (attribute tables)", () => {
  it("lists the entries that hold attributes, and those whose attributes were all unset only with --all", () => {
    const body: StatusBody = { ...tier2, tables: { client: [{ id: "c1", attrs: {}, version: [2, "t2"] }, { id: "c2", attrs: { region: "eu" }, version: [1, "t2"] }], user: [], "task-type": [] } };
    const text = formatStatus(body, 0, false);
    expect(text).toContain("  client c2: region=eu");
    expect(text.some((l) => l.includes("client c1"))).toBe(false);
    expect(formatStatus(body, 0, true)).toContain("  client c1: (none)");
  });
});

describe("cli/status formatStatus (ejected and slow-start rows)", () => {
  it("says beside the status that a server is ejected, how long for, and its failures; or its slow-start limit", () => {
    const row = (over: Partial<ServerStatusRow>): ServerStatusRow => ({ id: "s1", url: "ws://h:1", apps: ["echo"], capacity: 8, power: 1, load: 0, attrs: {}, version: [1, 2], status: "alive", reserved: 0, ageMs: 0, ...over });
    const body = (r: ServerStatusRow): StatusBody => ({ role: "tier2", node: "t2", servers: [r], tables: { client: [], user: [], "task-type": [] }, deadRetentionMs: 300_000 });
    expect(formatStatus(body(row({ failures: 5, ejectedForMs: 29_500 })), 0, false).join("\n")).toMatch(/alive\s+ejected 29\.5s more {2}5 failed in a row/);
    expect(formatStatus(body(row({ rampLimit: 3 })), 0, false).join("\n")).toMatch(/slow start 3\/8/);
  });
});
