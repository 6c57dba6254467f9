import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConfig } from "../../src/cli/start.js";
import { submitConfig } from "../../src/cli/submit.js";
import { runMain } from "../helpers/capture.js";
import { makeTestPki } from "../helpers/certs.js";
import type { TestPki } from "../helpers/certs.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

const tlsArgs = (): string[] => ["--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-ca", pki.ca];

describe("cli/tls-flags", () => {
  describe("--tls-* on start and submit", () => {
    it("puts the files' PEM texts in the node's tls, on every role", () => {
      const c = startConfig(["--role", "vip", "--to", "wss://127.0.0.1:1", ...tlsArgs()]);
      expect(c).toMatchObject({ role: "vip", tls: { cert: expect.stringContaining("BEGIN CERTIFICATE"), key: expect.stringContaining("PRIVATE KEY"), ca: expect.stringContaining("BEGIN CERTIFICATE") } });
      expect(submitConfig(["--entry", "wss://127.0.0.1:1", "--app", "echo", "--tls-ca", pki.ca])).toMatchObject({ tls: { ca: expect.stringContaining("BEGIN CERTIFICATE") } });
      expect(startConfig(["--role", "tier2"])).not.toHaveProperty("tls");
    });
  });

  describe("a bad --tls-* file or flag", () => {
    it("exits 2 naming the flag and what is wrong, for start, submit, status and attrs", async () => {
      const notPem = join(pki.dir, "notes.txt");
      writeFileSync(notPem, "not a certificate\n");
      const missing = join(pki.dir, "absent.pem");
      const t2 = ["start", "--role", "tier2"];
      const cases: Array<[string[], RegExp]> = [
        [[...t2, "--tls-cert", missing, "--tls-key", pki.key], /--tls-cert: cannot read .*absent\.pem: no such file/],
        [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.otherKey], /--tls-key: .*stranger\.key is not the private key of the certificate in .*node\.pem/],
        [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-ca", notPem], /--tls-ca: .*notes\.txt is not a PEM certificate/],
        [[...t2, "--tls-cert", pki.key, "--tls-key", pki.key], /--tls-cert: .*node\.key is not a PEM certificate/],
        [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.cert], /--tls-key: .*node\.pem is not a PEM private key/],
        [[...t2, "--tls-cert", pki.cert, "--tls-key", pki.dir], /--tls-key: cannot read .*: is a directory/],
        [[...t2, "--tls-ca", pki.ca], /--tls-cert: is required: a node that listens serves wss:\/\//],
        [["start", "--role", "app", "--join", "wss://127.0.0.1:1", "--apps", "echo", "--tls-cert", pki.cert], /--tls-key: is required/],
        [[...t2, ...tlsArgs(), "--advertise", "ws://10.0.0.1:7000"], /--advertise: the node serves wss:\/\//],
        [["start", "--role", "app", "--join", "wss://127.0.0.1:1,ws://127.0.0.1:2", "--apps", "echo", ...tlsArgs()], /--join: expected wss:\/\/ URLs with --tls-\*.*ws:\/\/127\.0\.0\.1:2/],
        [["start", "--role", "slave", "--master", "ws://127.0.0.1:2", ...tlsArgs()], /--master: expected wss:\/\//],
        [["submit", "--entry", "ws://127.0.0.1:1", "--app", "echo", "--tls-ca", pki.ca], /--entry: expected wss:\/\//],
        [["submit", "--entry", "wss://127.0.0.1:1", "--app", "echo", "--tls-ca", missing], /--tls-ca: cannot read .*: no such file/],
        [["status", "--entry", "wss://127.0.0.1:1", "--tls-key", pki.key], /--tls-cert: is required with a key/],
        [["attrs", "set", "--entry", "wss://127.0.0.1:1", "client", "c1", "k=v", "--tls-ca", notPem], /--tls-ca: .*is not a PEM certificate/],
      ];
      for (const [args, message] of cases) {
        const r = await runMain(args);
        expect(r.code, args.join(" ")).toBe(2);
        expect(r.err, args.join(" ")).toMatch(message);
        expect(r.out, args.join(" ")).toBe("");
      }
    });
  });
});
