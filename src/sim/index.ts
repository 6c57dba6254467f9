export * from "./events.js";
export * from "./fleet.js";
export * from "./rng.js";
export * from "./simulate.js";
export * from "./svg.js";
export * from "./task-slots.js";
export * from "./task-stream.js";
