import { Packr, isNativeAccelerationEnabled } from "msgpackr";
import { PROTOCOL_VERSION, toMessage } from "../protocol/index.js";
import type { Message, Rejected } from "../protocol/index.js";

// The only module that imports msgpackr. Records and structured clone stay off: a peer must not
// be able to define structures or cyclic references, and int64 arrives as a plain number.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: "number",
});

/** Whether msgpackr's native decoder (msgpackr-extract) loaded; without it decoding is pure JS, ~1.5-2x slower. */
export const nativeCodec: boolean = isNativeAccelerationEnabled;

/** The wire form of one envelope: a 6-element array, cheaper than a map with repeated keys. */
export type WireEnvelope = [number, string, number, number, string, unknown];

export function toWire(m: Message): WireEnvelope {
  return [m.v, m.type, m.id, m.re, m.from, m.body];
}

/** Encodes a batch of envelopes as one frame. */
export function encodeFrame(batch: readonly WireEnvelope[]): Uint8Array {
  return packr.pack(batch);
}

/** Encodes one envelope alone, to measure it against the frame limit. */
export function encodeOne(m: Message): Uint8Array {
  return packr.pack(toWire(m));
}

/** Thrown when a whole frame cannot be decoded; the connection answers BAD_FRAME and carries on. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/**
 * Decodes one frame (one WebSocket message) into typed messages or rejections. A frame is an
 * array of envelopes; anything else, or bytes that are not one msgpack value, throws FrameError.
 */
export function decodeFrame(bytes: Uint8Array): Array<Message | Rejected> {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError(`frame is not valid msgpack: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!Array.isArray(raw)) throw new FrameError("frame is not an array of envelopes");
  const out: Array<Message | Rejected> = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = toMessage(raw[i]);
  return out;
}

export { PROTOCOL_VERSION };
