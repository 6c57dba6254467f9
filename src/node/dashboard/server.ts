import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "../../transport/index.js";
import type { RouteHandler } from "./routes.js";

/** A small HTTP server of route handlers, for the demo's dashboard until the node's monitoring port serves it. */
export interface HttpRoutesServer {
  /** http://HOST:PORT/ */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `routes` on HOST:PORT (loopback by default; port 0 picks a free one): each route in turn
 * may answer a request; one no route answers gets 404 with a JSON reason, and a route that throws
 * gets 500, and the server keeps serving.
 */
export async function serveRoutes(routes: readonly RouteHandler[], listen = "127.0.0.1:0"): Promise<HttpRoutesServer> {
  const { host, port } = parseHostPort(listen);
  const server = createServer((req, res) => {
    try {
      for (const r of routes) if (r(req, res)) return;
      res.writeHead(404, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ error: `no such path: ${(req.url ?? "/").split("?")[0] ?? "/"}` }));
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const shown = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        // Live feeds never end by themselves: cut them, then wait for the listener.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
