import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { credentialFlags } from "../../src/cli/credentials.js";
import { KEYS_HELP, parseDuration } from "../../src/cli/keys.js";
import { initClusterKeys, issueCredentialFile, loadClusterKey } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "allot-cred-flags-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { key, pub } = initClusterKeys(join(dir, "keys"));
const second = initClusterKeys(join(dir, "keys2")).pub;
const cred = join(dir, "app.cred");
issueCredentialFile(loadClusterKey(key), { roles: ["app"], id: "app1", expires: Date.now() + 60_000 }, cred);
writeFileSync(join(dir, "junk"), "junk");

describe("cli/credentials", () => {
  describe("credentialFlags", () => {
    it("loads --credentials and every --cluster-pub, or the same from ALLOT_CREDENTIALS and ALLOT_CLUSTER_PUB", () => {
      const flags = credentialFlags({ credentials: cred, "cluster-pub": [pub, second] }, {});
      expect(flags.credentials?.claim.id).toBe("app1");
      expect(flags.clusterPub).toHaveLength(2);
      const env = credentialFlags({}, { ALLOT_CREDENTIALS: cred, ALLOT_CLUSTER_PUB: [pub, second].join(delimiter) });
      expect(env.credentials?.claim.id).toBe("app1");
      expect(env.clusterPub).toHaveLength(2);
      expect(credentialFlags({}, {})).toEqual({});
    });

    it("names the flag or variable, the file and what is wrong with it", () => {
      expect(() => credentialFlags({ credentials: join(dir, "junk"), "cluster-pub": [pub] }, {})).toThrow(/^--credentials: .*junk: not a credential file/);
      expect(() => credentialFlags({ credentials: join(dir, "missing") }, {})).toThrow(/^--credentials: .*missing: no such file/);
      expect(() => credentialFlags({}, { ALLOT_CREDENTIALS: cred, ALLOT_CLUSTER_PUB: join(dir, "junk") })).toThrow(/^ALLOT_CLUSTER_PUB: .*not a public key/);
      expect(() => credentialFlags({ credentials: cred }, {})).toThrow(/^--credentials: needs at least one --cluster-pub/);
      expect(() => credentialFlags({ "cluster-pub": [pub] }, {})).toThrow(/^--cluster-pub: needs --credentials/);
    });
  });

  describe("allot keys --help", () => {
    it("says all an admin credential may do, as docs/operations.md does: status, attrs set and unset, drain, explain, monitoring tokens", () => {
      const said = /admin may([^)]*)\)/.exec(KEYS_HELP.replace(/\s+/g, " "))?.[1] ?? "";
      for (const what of ["status", "set", "unset", "drain", "explain", "token"]) expect(said, `admin may${said}`).toContain(what);
    });
  });

  describe("parseDuration", () => {
    it("reads N followed by s, m, h or d, and refuses anything else naming the flag", () => {
      expect(parseDuration("--expires", "30d")).toBe(30 * 86_400_000);
      expect(parseDuration("--expires", "90m")).toBe(90 * 60_000);
      expect(() => parseDuration("--expires", "3w")).toThrow(/^--expires: /);
      expect(() => parseDuration("--expires", "0d")).toThrow(/positive/);
    });
  });
});
