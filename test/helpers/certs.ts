import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Paths of a throwaway PKI made with the openssl CLI. */
export interface TestPki {
  dir: string;
  /** The cluster's CA certificate. */
  ca: string;
  /** A certificate for 127.0.0.1 and localhost signed by `ca`, usable as server and as client certificate. */
  cert: string;
  key: string;
  /** A second, unrelated CA and a certificate (same SANs) it signed. */
  otherCa: string;
  otherCert: string;
  otherKey: string;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  return { cert, key };
}

function makeLeaf(dir: string, name: string, ca: { cert: string; key: string }): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
  return { cert, key };
}

/** Makes a CA, a node certificate it signed, and a foreign CA with its own certificate, in a temp dir. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "allot-pki-"));
  const ca = makeCa(dir, "ca");
  const node = makeLeaf(dir, "node", ca);
  const other = makeCa(dir, "other-ca");
  const stranger = makeLeaf(dir, "stranger", other);
  return { dir, ca: ca.cert, cert: node.cert, key: node.key, otherCa: other.cert, otherCert: stranger.cert, otherKey: stranger.key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
