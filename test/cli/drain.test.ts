import { describe, expect, it } from "vitest";
import { runMain } from "../helpers/capture.js";

describe("cli/drain usage", () => {
  it("prints its help", async () => {
    const r = await runMain(["drain", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^allot drain --entry URL server ID/);
  });

  it.each([
    [["drain", "server", "app-1"], "--entry"],
    [["drain", "--entry", "ws://127.0.0.1:1,ws://127.0.0.1:2", "server", "app-1"], "--entry"],
    [["drain", "--entry", "ws://127.0.0.1:1", "app-1"], "server ID"],
    [["drain", "--entry", "ws://127.0.0.1:1", "server"], "ID is required"],
    [["drain", "--entry", "ws://127.0.0.1:1", "server", "app-1", "more"], "unexpected"],
    [["drain", "--entry", "ws://127.0.0.1:1", "server", "app-1", "--timeout-ms", "0"], "--timeout-ms"],
    [["drain", "--entry", "ws://127.0.0.1:1", "server", "app-1", "--nope"], "--nope"],
    [["start", "--role", "app", "--join", "ws://127.0.0.1:1", "--apps", "echo", "--drain-timeout-ms", "-1"], "--drain-timeout-ms"],
    [["start", "--role", "tier2", "--drain-timeout-ms", "100"], "--drain-timeout-ms"],
  ])("%j exits 2 naming %s", async (argv, named) => {
    const r = await runMain(argv);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(named);
  });
});
