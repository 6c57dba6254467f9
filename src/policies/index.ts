export * from "./allocate.js";
export * from "./effective-task.js";
export * from "./match.js";
export * from "./policy.js";
export * from "./registry.js";
