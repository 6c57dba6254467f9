import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on CI: multi-process tests start many node processes, so keep files to two at once.
    maxWorkers: 2,
  },
});
