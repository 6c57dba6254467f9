import { Packr, isNativeAccelerationEnabled } from "msgpackr";
import { AllotError, ErrorCode, MAX_BATCH_BYTES, PROTOCOL_VERSION, checkBody, checkHeader, isRejected, packWithRemainingTime, toLocalTime } from "../protocol/index.js";
import type { ClientRef, Message, MessageType, OpaqueMessage, Rejected } from "../protocol/index.js";

// The only module that imports msgpackr. Records and structured clone stay off: a peer must not
// be able to define structures or cyclic references, and int64 arrives as a plain number.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: "number",
});

const pack = (body: unknown): Uint8Array => packr.pack(body);

/** Whether msgpackr's native decoder (msgpackr-extract) loaded; without it decoding is pure JS, ~1.5-2x slower. */
export const nativeCodec: boolean = isNativeAccelerationEnabled;

/**
 * The wire form of one envelope: `[v, type, id, re, from, body]`, or with a 7th element, the
 * header client, `[v, type, id, re, from, body, [clientId, clientAddr]]`. On the wire the body is
 * its own msgpack value carried as bytes, so a forwarding hop can pass it on without decoding it;
 * here `body` is either the body object (encoded when the frame is) or those bytes, passed on as is.
 */
export type WireEnvelope = [number, string, number, number, string, unknown] | [number, string, number, number, string, unknown, ClientRef];

export function toWire(m: Message): WireEnvelope {
  return m.client === undefined ? [m.v, m.type, m.id, m.re, m.from, m.body] : [m.v, m.type, m.id, m.re, m.from, m.body, m.client];
}

/** Encoded msgpack strings of the few header strings there are (message types, node ids). */
const headerStrings = new Map<string, Uint8Array>();

function headerString(s: string): Uint8Array {
  let b = headerStrings.get(s);
  if (b === undefined) {
    b = packr.pack(s).slice();
    if (headerStrings.size >= 256) headerStrings.clear();
    headerStrings.set(s, b);
  }
  return b;
}

/** A header field as msgpack: a non-negative safe integer written here, anything else by msgpackr. */
function headerValue(x: unknown): Uint8Array | number {
  if (typeof x === "number" && Number.isSafeInteger(x) && x >= 0) return x;
  return typeof x === "string" && x.length <= 64 ? headerString(x) : packr.pack(x);
}

const intSize = (n: number): number => (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9);

function writeInt(out: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = 0xcc;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = 0xcd;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  if (n < 0x100000000) {
    out[at] = 0xce;
    out.writeUInt32BE(n, at + 1);
    return at + 5;
  }
  out[at] = 0xcf;
  out.writeUInt32BE(Math.floor(n / 0x100000000), at + 1);
  out.writeUInt32BE(n >>> 0, at + 5);
  return at + 9;
}

/** A msgpack length header in its 16- or 32-bit form; returns the position after it. */
function writeSized(out: Buffer, at: number, n: number, tag16: number, tag32: number): number {
  if (n < 0x10000) {
    out[at] = tag16;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = tag32;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

const fieldSize = (f: Uint8Array | number): number => (typeof f === "number" ? intSize(f) : f.length);

/** A msgpack string's size: its header (fixstr, str8, str16 or str32) and its UTF-8 bytes. */
function strSize(s: string): number {
  const n = Buffer.byteLength(s, "utf8");
  return (n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5) + n;
}

function writeStr(out: Buffer, at: number, s: string): number {
  const n = Buffer.byteLength(s, "utf8");
  if (n < 0x20) out[at++] = 0xa0 | n;
  else if (n < 0x100) {
    out[at] = 0xd9;
    out[at + 1] = n;
    at += 2;
  } else at = writeSized(out, at, n, 0xda, 0xdb);
  return at + out.write(s, at, n, "utf8");
}

/** The header client `[id, addr]` as msgpack: a fixarray of two strings, written here (a client's ids are too many to cache). */
const clientSize = (c: ClientRef): number => 1 + strSize(c.id) + strSize(c.addr);

function writeClient(out: Buffer, at: number, c: ClientRef): number {
  out[at] = 0x92;
  return writeStr(out, writeStr(out, at + 1, c.id), c.addr);
}
const arrayHeaderSize = (n: number): number => (n < 0x10 ? 1 : n < 0x10000 ? 3 : 5);
const binHeaderSize = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

/**
 * Encodes a batch of envelopes as one frame, encoding each body that is not bytes already. The
 * frame around the bodies (array headers, small header fields, bin headers) is written here into
 * one buffer: packing it with msgpackr would walk and copy every body a second time.
 */
/**
 * `now` is the sender's clock: points in time leave as the time left until them (see
 * protocol/wire-time.ts). 0, the default, sends them as they are (tests of the codec alone).
 */
export function encodeFrame(batch: readonly WireEnvelope[], now = 0): Uint8Array {
  const n = batch.length;
  if (n > MAX_FRAME_ENVELOPES) throw new RangeError(`a frame carries at most ${MAX_FRAME_ENVELOPES} envelopes, got ${n}`);
  const fields: Array<Uint8Array | number> = new Array(n * 6);
  let size = arrayHeaderSize(n);
  for (let i = 0; i < n; i++) {
    const e = batch[i] as WireEnvelope;
    const body = e[5];
    const bytes = body instanceof Uint8Array ? body : now === 0 ? pack(body) : packWithRemainingTime(e[1], body, now, pack);
    const k = i * 6;
    for (let j = 0; j < 5; j++) size += fieldSize((fields[k + j] = headerValue(e[j])));
    fields[k + 5] = bytes;
    size += 1 + binHeaderSize(bytes.length) + bytes.length;
    const c = e[6];
    if (c !== undefined) size += clientSize(c);
  }
  const out = Buffer.allocUnsafe(size);
  let at = n < 0x10 ? ((out[0] = 0x90 | n), 1) : writeSized(out, 0, n, 0xdc, 0xdd);
  for (let i = 0; i < n; i++) {
    const c = (batch[i] as WireEnvelope)[6];
    out[at++] = c === undefined ? 0x96 : 0x97;
    const k = i * 6;
    for (let j = 0; j < 5; j++) {
      const f = fields[k + j] as Uint8Array | number;
      if (typeof f === "number") at = writeInt(out, at, f);
      else {
        out.set(f, at);
        at += f.length;
      }
    }
    const b = fields[k + 5] as Uint8Array;
    const len = b.length;
    if (len < 0x100) {
      out[at] = 0xc4;
      out[at + 1] = len;
      at += 2;
    } else at = writeSized(out, at, len, 0xc5, 0xc6);
    out.set(b, at);
    at += len;
    if (c !== undefined) at = writeClient(out, at, c);
  }
  return out;
}

/** Thrown when a whole frame cannot be decoded; the connection answers BAD_FRAME and carries on. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/**
 * Envelopes one frame may carry. A frame's cost must follow from its size, not its content: an
 * array header can claim millions of elements in five bytes, each of which would be answered and
 * logged on its own. Past this the whole frame is one FrameError; senders batch at most this many.
 */
export const MAX_FRAME_ENVELOPES = 256;

/**
 * The element count of the msgpack array that starts `bytes`, read from its header alone, or
 * undefined when the frame does not start with an array header.
 */
export function frameArrayLength(bytes: Uint8Array): number | undefined {
  const tag = bytes[0];
  if (tag === undefined) return undefined;
  if (tag >= 0x90 && tag <= 0x9f) return tag & 0x0f;
  if (tag === 0xdc && bytes.length >= 3) return ((bytes[1] as number) << 8) | (bytes[2] as number);
  if (tag === 0xdd && bytes.length >= 5) return ((bytes[1] as number) * 0x1000000 + (((bytes[2] as number) << 16) | ((bytes[3] as number) << 8) | (bytes[4] as number))) >>> 0;
  return undefined;
}

/** Types that carry many tasks: their bodies are held to MAX_BATCH_BYTES. */
const BATCH_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["task.placeBatch", "task.placedBatch", "task.expectBatch", "task.expectedBatch", "lease.granted", "server.requestBatch", "server.placedBatch"]);

/** Which bodies to leave undecoded: (type, id it answers) → true to pass the body on as bytes. */
export type OpaqueFilter = (type: MessageType, re: number) => boolean;

const invalidBody = (type: string, id: number, re: number, why: string): Rejected => ({ error: new AllotError(ErrorCode.INVALID, `${type}: body: ${why}`), id, re });

/**
 * Decodes one frame (one WebSocket message) into typed messages, opaque messages (bodies the
 * filter says to pass on undecoded) or rejections. A frame is an array of envelopes; anything
 * else, or bytes that are not one msgpack value, throws FrameError.
 */
/** `now` is the receiver's clock: the time left that points in time arrive as is added to it (0, the default, leaves them). */
export function decodeFrame(bytes: Uint8Array, opaque?: undefined, now?: number): Array<Message | Rejected>;
export function decodeFrame(bytes: Uint8Array, opaque: OpaqueFilter | undefined, now?: number): Array<Message | OpaqueMessage | Rejected>;
export function decodeFrame(bytes: Uint8Array, opaque?: OpaqueFilter, now = 0): Array<Message | OpaqueMessage | Rejected> {
  // Checked before anything is decoded, so a nil-array bomb costs five bytes of reading.
  const n = frameArrayLength(bytes);
  if (n === undefined) throw new FrameError("frame is not an array of envelopes");
  if (n > MAX_FRAME_ENVELOPES) throw new FrameError(`frame of ${n} envelopes exceeds the ${MAX_FRAME_ENVELOPES}-envelope limit`);
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
    // A batch's cost must follow from a size checked before it is read, at a forwarder too.
    if (bodyBytes.length > MAX_BATCH_BYTES && BATCH_TYPES.has(h.type)) {
      out[i] = invalidBody(h.type, h.id, h.re, `a batch of ${bodyBytes.length} bytes exceeds the ${MAX_BATCH_BYTES}-byte limit`);
      continue;
    }
    if (opaque?.(h.type, h.re)) {
      const o: OpaqueMessage = { v: h.v, type: h.type, id: h.id, re: h.re, from: h.from, raw: bodyBytes };
      if (h.client !== undefined) o.client = h.client;
      out[i] = o;
      continue;
    }
    let body: unknown;
    try {
      body = packr.unpack(bodyBytes);
    } catch (err) {
      out[i] = invalidBody(h.type, h.id, h.re, `not valid msgpack: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const m = checkBody(h, body);
    if (now !== 0 && !isRejected(m)) toLocalTime(m, now);
    out[i] = m;
  }
  return out;
}

export { PROTOCOL_VERSION };
