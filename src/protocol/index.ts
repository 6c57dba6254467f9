export * from "./errors.js";
export * from "./types.js";
export * from "./validate.js";
export * from "./version.js";
export * from "./constraint-parser.js";
export * from "./server-attrs.js";
export * from "./permissions.js";
export * from "./wire-time.js";
