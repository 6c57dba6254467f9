import { describe, expect, it } from "vitest";
import { START_HELP, startConfig } from "../../src/cli/start.js";
import { startUsageError } from "../helpers/usage-error.js";

const usageError = startUsageError;

describe("cli/start", () => {
  describe("lease limits", () => {
    it("takes --max-lease-slots-per-client and --max-lease-ms for a tier-2 and leaves the defaults to it without them", () => {
      expect(startConfig(["--role", "tier2", "--max-lease-slots-per-client", "16", "--max-lease-ms", "5000"])).toMatchObject({ maxLeaseSlotsPerClient: 16, maxLeaseMs: 5000 });
      const plain = startConfig(["--role", "tier2"]);
      expect(plain).not.toHaveProperty("maxLeaseSlotsPerClient");
      expect(plain).not.toHaveProperty("maxLeaseMs");
      expect(START_HELP).toMatch(/--max-lease-slots-per-client N[\s\S]*default 1024[\s\S]*--max-lease-ms MS[\s\S]*default 60000/);
    });

    it("refuses a bad value naming the flag, and the flags on a role that grants no leases", () => {
      expect(usageError(["--role", "tier2", "--max-lease-ms", "0"]).message).toMatch(/--max-lease-ms/);
      expect(usageError(["--role", "tier2", "--max-lease-slots-per-client", "lots"]).message).toMatch(/--max-lease-slots-per-client/);
      expect(usageError(["--role", "master", "--max-lease-ms", "1000"]).message).toMatch(/--max-lease-ms/);
    });
  });
});
