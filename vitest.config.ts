import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The examples import the package by its name, as a project would; here, as in tsconfig.json's
    // paths, the name is the source, so an example test never runs a stale dist/.
    alias: [
      { find: /^allot$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
      { find: /^allot\/testing$/, replacement: fileURLToPath(new URL("./src/testing/index.ts", import.meta.url)) },
    ],
  },
  test: {
    // examples/*.test.ts: tests a user can copy into a project (they import allot/testing, vitest and fast-check only).
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on CI: multi-process tests start many node processes, so keep files to two at once.
    maxWorkers: 2,
  },
});
