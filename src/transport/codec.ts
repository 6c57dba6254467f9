import { Packr, isNativeAccelerationEnabled } from "msgpackr";
import { AllotError, ErrorCode, PROTOCOL_VERSION, checkBody, checkHeader, isRejected } from "../protocol/index.js";
import type { Message, MessageType, OpaqueMessage, Rejected } from "../protocol/index.js";

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

/**
 * The wire form of one envelope: `[v, type, id, re, from, body]`. On the wire the body is its own
 * msgpack value carried as bytes, so a forwarding hop can pass it on without decoding it; here
 * `body` is either the body object (encoded when the frame is) or those bytes, passed on as is.
 */
export type WireEnvelope = [number, string, number, number, string, unknown];

export function toWire(m: Message): WireEnvelope {
  return [m.v, m.type, m.id, m.re, m.from, m.body];
}

export function opaqueToWire(m: OpaqueMessage): WireEnvelope {
  return [m.v, m.type, m.id, m.re, m.from, m.raw];
}

/** Encodes a batch of envelopes as one frame, encoding each body that is not bytes already. */
export function encodeFrame(batch: readonly WireEnvelope[]): Uint8Array {
  const out: unknown[] = new Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i] as WireEnvelope;
    const body = e[5];
    out[i] = body instanceof Uint8Array ? e : [e[0], e[1], e[2], e[3], e[4], packr.pack(body)];
  }
  return packr.pack(out);
}

/** Thrown when a whole frame cannot be decoded; the connection answers BAD_FRAME and carries on. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** Which bodies to leave undecoded: (type, id it answers) → true to pass the body on as bytes. */
export type OpaqueFilter = (type: MessageType, re: number) => boolean;

const invalidBody = (type: string, id: number, re: number, why: string): Rejected => ({ error: new AllotError(ErrorCode.INVALID, `${type}: body: ${why}`), id, re });

/**
 * Decodes one frame (one WebSocket message) into typed messages, opaque messages (bodies the
 * filter says to pass on undecoded) or rejections. A frame is an array of envelopes; anything
 * else, or bytes that are not one msgpack value, throws FrameError.
 */
export function decodeFrame(bytes: Uint8Array): Array<Message | Rejected>;
export function decodeFrame(bytes: Uint8Array, opaque: OpaqueFilter | undefined): Array<Message | OpaqueMessage | Rejected>;
export function decodeFrame(bytes: Uint8Array, opaque?: OpaqueFilter): Array<Message | OpaqueMessage | Rejected> {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError(`frame is not valid msgpack: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!Array.isArray(raw)) throw new FrameError("frame is not an array of envelopes");
  const out: Array<Message | OpaqueMessage | Rejected> = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const env: unknown = raw[i];
    const h = checkHeader(env);
    if (isRejected(h)) {
      out[i] = h;
      continue;
    }
    const bodyBytes = (env as unknown[])[5];
    if (!(bodyBytes instanceof Uint8Array)) {
      out[i] = invalidBody(h.type, h.id, h.re, "expected msgpack-encoded bytes");
      continue;
    }
    if (opaque?.(h.type, h.re)) {
      out[i] = { v: h.v, type: h.type, id: h.id, re: h.re, from: h.from, raw: bodyBytes };
      continue;
    }
    let body: unknown;
    try {
      body = packr.unpack(bodyBytes);
    } catch (err) {
      out[i] = invalidBody(h.type, h.id, h.re, `not valid msgpack: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    out[i] = checkBody(h, body);
  }
  return out;
}

export { PROTOCOL_VERSION };
