export * from "./events.js";
export * from "./rng.js";
export * from "./simulate.js";
export * from "./svg.js";
