export * from "./allocate.js";
export * from "./explain.js";
export * from "./effective-task.js";
export * from "./match.js";
export * from "./compiled-match.js";
// The constraint language produces protocol types and lives in src/protocol; parseConstraint,
// formatConstraint and parseValue also come through match.js, the rest from here, for embedders.
export { ConstraintSyntaxError, Tokenizer, formatNumber, formatPreference, parsePreference } from "../protocol/index.js";
export type { Token, TokenKind } from "../protocol/index.js";
export * from "./policy.js";
export * from "./registry.js";
export * from "./best-fit.js";
export * from "./hash.js";
export * from "./options.js";
export * from "./p2c.js";
export * from "./weighted.js";
export * from "./idle-queue.js";
export * from "./home-servers.js";
export * from "./shortest-delay.js";
export * from "./sample.js";
export * from "./screen.js";
