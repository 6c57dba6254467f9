// The seam types testing builds on, from where production defines them (src/transport/timers.ts).
export type { Cancel, Entropy, Timers } from "../transport/index.js";
