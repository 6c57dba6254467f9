import { afterEach } from "vitest";
import { createWsTransport } from "../../src/index.js";
import type { CommonConfig } from "../../src/index.js";
import { testCluster } from "./credentials.js";
import { trackNodes } from "./nodes.js";
import type { RawClient } from "./raw-client.js";

/**
 * What a hostile probe over real WebSockets sets up at module level: nodes and raw connections
 * stopped after each test, one throwaway cluster key, and the config of a node with a credential
 * for its role and id.
 */
export function authedProbe() {
  const track = trackNodes();
  const raws: RawClient[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) await r.close();
  });
  const keys = testCluster();
  const common = (): Omit<CommonConfig, "id"> => ({ logLevel: "silent", transport: createWsTransport() });
  const authed = (role: "tier2" | "tier1" | "vip" | "app", id: string) => ({ ...common(), ...keys.auth(keys.issue([role], id)), id });
  return { track, raws, keys, authed };
}
