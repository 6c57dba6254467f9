export * from "./attr-table.js";
export * from "./server-table.js";
export * from "./free-index.js";
export * from "./hash-ring.js";
export * from "./idle-queue.js";
export * from "./outlier.js";
export * from "./slow-start.js";
