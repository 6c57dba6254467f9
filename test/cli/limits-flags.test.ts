import { describe, expect, it } from "vitest";
import { START_HELP, startConfig } from "../../src/cli/start.js";
import { startUsageError } from "../helpers/usage-error.js";

const usageError = startUsageError;

describe("cli/start", () => {
  describe("connection caps", () => {
    it("takes --max-connections and --max-connections-per-address for every role and leaves the defaults to the node without them", () => {
      expect(startConfig(["--role", "tier2", "--max-connections", "500", "--max-connections-per-address", "20"])).toMatchObject({ maxConnections: 500, maxConnectionsPerAddress: 20 });
      expect(startConfig(["--role", "vip", "--to", "ws://a:1", "--max-connections", "7"])).toMatchObject({ maxConnections: 7 });
      const plain = startConfig(["--role", "tier2"]);
      expect(plain).not.toHaveProperty("maxConnections");
      expect(plain).not.toHaveProperty("maxConnectionsPerAddress");
      expect(START_HELP).toMatch(/--max-connections N[\s\S]*default 10000[\s\S]*--max-connections-per-address N[\s\S]*default 1024/);
    });

    it("refuses a cap that is not a positive integer, naming the flag", () => {
      expect(usageError(["--role", "tier2", "--max-connections", "0"]).message).toMatch(/--max-connections/);
      expect(usageError(["--role", "tier2", "--max-connections-per-address", "many"]).message).toMatch(/--max-connections-per-address/);
    });
  });
});
