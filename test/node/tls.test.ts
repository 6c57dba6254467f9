import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TlsConfigError, loadTls } from "../../src/node/config.js";
import type { TlsConfig, TlsField } from "../../src/node/config.js";
import { makeTestPki } from "../helpers/certs.js";
import type { TestPki } from "../helpers/certs.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

/** The TlsConfigError loadTls throws for `config`, as its field and message. */
function refusal(config: TlsConfig, listens = true, now?: number): { field: TlsField; message: string } {
  try {
    loadTls(config, listens, now);
  } catch (err) {
    if (err instanceof TlsConfigError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error("loadTls accepted it");
}

const file = (name: string, text: string): string => {
  const p = join(pki.dir, name);
  writeFileSync(p, text);
  return p;
};

describe("node/tls", () => {
  describe("loadTls", () => {
    it("returns the PEM texts of good files, from paths or from PEM text", () => {
      const t = loadTls({ cert: pki.cert, key: pki.key, ca: pki.ca }, true);
      expect(t).toEqual({ cert: readFileSync(pki.cert, "utf8"), key: readFileSync(pki.key, "utf8"), ca: readFileSync(pki.ca, "utf8") });
      expect(loadTls({ cert: t.cert as string, key: t.key as string }, true)).toEqual({ cert: t.cert, key: t.key });
    });

    it("lets a client give only a CA, but not a node that listens", () => {
      expect(loadTls({ ca: pki.ca }, false)).toEqual({ ca: readFileSync(pki.ca, "utf8") });
      expect(refusal({ ca: pki.ca }, true)).toMatchObject({ field: "cert", message: expect.stringMatching(/required.*listens/) });
    });

    it("refuses a certificate without its key and a key without its certificate", () => {
      expect(refusal({ cert: pki.cert }, false).field).toBe("key");
      expect(refusal({ key: pki.key }, false).field).toBe("cert");
    });

    it("names a missing file, a directory and an empty path", () => {
      expect(refusal({ cert: join(pki.dir, "absent.pem"), key: pki.key })).toEqual({ field: "cert", message: `cannot read ${join(pki.dir, "absent.pem")}: no such file` });
      expect(refusal({ cert: pki.cert, key: pki.dir })).toEqual({ field: "key", message: `cannot read ${pki.dir}: is a directory, not a file` });
      expect(refusal({ cert: pki.cert, key: pki.key, ca: " " }).field).toBe("ca");
    });

    it("refuses files that are not PEM, or whose PEM does not parse", () => {
      const text = file("notes.txt", "hello\n");
      expect(refusal({ cert: text, key: pki.key })).toMatchObject({ field: "cert", message: expect.stringContaining("is not a PEM certificate") });
      expect(refusal({ cert: pki.cert, key: text })).toMatchObject({ field: "key", message: expect.stringContaining("is not a PEM private key") });
      expect(refusal({ ca: pki.key }, false)).toMatchObject({ field: "ca", message: expect.stringContaining("is not a PEM certificate") });
      const broken = file("broken.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
      expect(refusal({ ca: broken }, false)).toMatchObject({ field: "ca", message: expect.stringContaining("certificate 1 does not parse") });
    });

    it("refuses a key that is not the certificate's, and an encrypted key", () => {
      expect(refusal({ cert: pki.cert, key: pki.otherKey })).toEqual({ field: "key", message: `${pki.otherKey} is not the private key of the certificate in ${pki.cert}` });
      const encrypted = join(pki.dir, "encrypted.key");
      execFileSync("openssl", ["pkcs8", "-topk8", "-in", pki.key, "-passout", "pass:secret", "-out", encrypted]);
      expect(refusal({ cert: pki.cert, key: encrypted })).toMatchObject({ field: "key", message: expect.stringContaining("not a usable unencrypted private key") });
    });

    it("refuses a certificate that has expired", () => {
      const later = Date.now() + 10 * 86_400_000;
      expect(refusal({ cert: pki.cert, key: pki.key }, true, later)).toMatchObject({ field: "cert", message: expect.stringContaining("expired") });
    });
  });
});
