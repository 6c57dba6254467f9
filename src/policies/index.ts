export * from "./allocate.js";
export * from "./effective-task.js";
export * from "./match.js";
export * from "./compiled-match.js";
// parseConstraint, formatConstraint and parseValue come through match.js.
export { ConstraintSyntaxError, Tokenizer, formatNumber, formatPreference, parsePreference } from "./constraint-parser.js";
export type { Token, TokenKind } from "./constraint-parser.js";
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
