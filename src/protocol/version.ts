/** Wire protocol version carried by every envelope; a peer speaking another gets VERSION_MISMATCH. */
export const PROTOCOL_VERSION = 1;
