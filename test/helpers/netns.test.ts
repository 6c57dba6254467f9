import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { createHostNet, guardNamespaces, namespacesNamed } from "./netns.js";

// Needs root and iproute2, as CI has: a failing `ip` fails these tests, it does not skip them.
const prefix = (what: string): string => `allot-t${process.pid}-${what}`;

describe("netns", () => {
  describe("createHostNet", () => {
    it("gives each host its address on eth0, up, and removes every namespace it made", async () => {
      const p = prefix("ok");
      const net = await createHostNet(p, [
        { name: "h1", cidr: "10.78.0.1/24" },
        { name: "h2", cidr: "10.78.0.2/24" },
      ]);
      try {
        expect(namespacesNamed(p).sort()).toEqual([`${p}-br`, `${p}-h1`, `${p}-h2`]);
        expect(net.host("h2").addr).toBe("10.78.0.2");
        expect(net.exec("h2", "ip", ["-o", "-4", "addr", "show", "dev", "eth0"])).toMatch(/inet 10\.78\.0\.2\/24/);
        expect(net.exec("h1", "ip", ["-o", "link", "show", "dev", "eth0"])).toMatch(/state UP/);
        net.cut("h1");
        expect(net.exec("h1", "ip", ["-o", "link", "show", "dev", "eth0"])).toMatch(/state DOWN/);
      } finally {
        await net.remove();
      }
      expect(namespacesNamed(p)).toEqual([]);
    });

    it("throws naming ip's error when a step fails halfway, and leaves none of its namespaces behind", async () => {
      const p = prefix("bad");
      const build = createHostNet(p, [
        { name: "h1", cidr: "10.78.0.1/24" },
        { name: "h2", cidr: "10.78.0.300/24" },
      ]);
      await expect(build).rejects.toThrow(/ip -n \S+-h2 addr add 10\.78\.0\.300\/24 dev eth0 failed.*: .+/);
      expect(namespacesNamed(p)).toEqual([]);
    });
  });

  describe("guardNamespaces", () => {
    it("SIGKILLs what runs in the namespaces and deletes them when its stdin closes, as it does when the test process dies", async () => {
      const p = prefix("guard");
      const guard = guardNamespaces([`${p}-x`]);
      const guardExited = once(guard, "exit");
      execFileSync("ip", ["netns", "add", `${p}-x`]);
      const inside = spawn("ip", ["netns", "exec", `${p}-x`, "sleep", "60"], { stdio: "ignore" });
      const insideExited = once(inside, "exit");
      await once(inside, "spawn");
      expect(namespacesNamed(p)).toEqual([`${p}-x`]);
      // Destroying the pipe's write end is what the kernel does to it when its owner dies.
      guard.stdin?.destroy();
      await guardExited;
      expect(await insideExited).toEqual([null, "SIGKILL"]);
      expect(namespacesNamed(p)).toEqual([]);
    });
  });
});
