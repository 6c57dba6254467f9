export * from "./server-table.js";
