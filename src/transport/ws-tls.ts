import { createServer as createHttpServer } from "node:http";
import type { RequestListener, Server, ServerOptions } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { ConnectionOptions } from "node:tls";

/**
 * The PEM texts a WebSocket transport uses for TLS (src/node reads and checks them). With a
 * certificate and key a listener serves wss://; with `ca` as well it requires and verifies client
 * certificates (mTLS). A dialer verifies servers against `ca` (the system store without it) and
 * presents `cert`/`key` as its client certificate when given.
 */
export interface WsTls {
  /** This end's certificate (chain), PEM. */
  cert?: string;
  /** The certificate's private key, PEM. */
  key?: string;
  /** The CA certificates trusted for the other end, PEM (one or several). */
  ca?: string;
}

/** Time a connecting peer has to finish the TLS handshake, in line with the HTTP header timeout. */
const TLS_HANDSHAKE_MS = 5000;

/** The HTTP server under a listener: https with `tls` (mutual when it names a CA), plain http without. */
export function createListenServer(tls: WsTls | undefined, httpLimits: ServerOptions, onRequest: RequestListener): Server {
  if (!tls) return createHttpServer(httpLimits, onRequest);
  if (tls.cert === undefined || tls.key === undefined) throw new TypeError("a TLS listener needs a certificate and its key");
  return createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: "TLSv1.2",
      handshakeTimeout: TLS_HANDSHAKE_MS,
      ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
      ...httpLimits,
    },
    onRequest,
  );
}

/**
 * What `new WebSocket(url, …)` needs to dial `url` under `tls`: nothing for ws:// without TLS;
 * the CA and client certificate for wss://. A transport given TLS never falls back to plaintext.
 */
export function dialOptions(tls: WsTls | undefined, url: string): Pick<ConnectionOptions, "ca" | "cert" | "key" | "minVersion"> {
  const secure = url.startsWith("wss://");
  if (!tls) return {};
  if (!secure) throw new Error(`refusing to dial ${url} in the clear: this node is configured for TLS (wss://)`);
  return {
    minVersion: "TLSv1.2",
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
  };
}
