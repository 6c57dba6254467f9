export * from "./channel.js";
export * from "./codec.js";
export * from "./memory-wire.js";
export * from "./peer.js";
export * from "./wire.js";
export * from "./ws-wire.js";
export * from "./authenticator.js";
export * from "./credentials.js";
