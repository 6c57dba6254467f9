export * from "./attr-table.js";
export * from "./server-table.js";
