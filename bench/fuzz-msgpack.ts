// A tiny msgpack writer for the fuzzer: unlike msgpackr it writes what it is told, so a test can
// spell forms msgpackr would never produce (a `__proto__` key, an ext of any code, a 64-bit int,
// a string that is not UTF-8, a length header that lies).

/** A value the writer can spell; `raw` bytes go out as they are. */
export type Mp =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | { readonly kind: "map"; readonly entries: ReadonlyArray<readonly [Mp, Mp]> }
  | { readonly kind: "arr"; readonly items: readonly Mp[] }
  | { readonly kind: "ext"; readonly type: number; readonly data: Uint8Array }
  | { readonly kind: "int64"; readonly signed: boolean; readonly hi: number; readonly lo: number }
  | { readonly kind: "str8"; readonly bytes: Uint8Array }
  | { readonly kind: "raw"; readonly bytes: Uint8Array };

export const map = (entries: ReadonlyArray<readonly [Mp, Mp]>): Mp => ({ kind: "map", entries });
export const arr = (items: readonly Mp[]): Mp => ({ kind: "arr", items });
export const ext = (type: number, data: Uint8Array): Mp => ({ kind: "ext", type: type & 0xff, data });
export const int64 = (signed: boolean, hi: number, lo: number): Mp => ({ kind: "int64", signed, hi: hi >>> 0, lo: lo >>> 0 });
/** A string whose bytes are given as they are, valid UTF-8 or not. */
export const strBytes = (bytes: Uint8Array): Mp => ({ kind: "str8", bytes });
export const raw = (bytes: Uint8Array): Mp => ({ kind: "raw", bytes });

/** An object as a map, keys in insertion order. */
export const obj = (o: Record<string, Mp>): Mp => map(Object.entries(o));

class Out {
  private buf = Buffer.allocUnsafe(256);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b & 0xff;
  }
  u16(n: number): void {
    this.room(2);
    this.buf.writeUInt16BE(n, this.len);
    this.len += 2;
  }
  u32(n: number): void {
    this.room(4);
    this.buf.writeUInt32BE(n >>> 0, this.len);
    this.len += 4;
  }
  f64(n: number): void {
    this.room(8);
    this.buf.writeDoubleBE(n, this.len);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function head(o: Out, n: number, fix: number, fixMax: number, t8: number | undefined, t16: number, t32: number): void {
  if (n < fixMax) o.byte(fix | n);
  else if (t8 !== undefined && n < 0x100) {
    o.byte(t8);
    o.byte(n);
  } else if (n < 0x10000) {
    o.byte(t16);
    o.u16(n);
  } else {
    o.byte(t32);
    o.u32(n);
  }
}

function write(o: Out, v: Mp): void {
  if (v === null) return o.byte(0xc0);
  if (typeof v === "boolean") return o.byte(v ? 0xc3 : 0xc2);
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= 0 && v < 0x80) return o.byte(v);
    if (Number.isInteger(v) && v < 0 && v >= -32) return o.byte(v & 0xff);
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      o.byte(0xce);
      return o.u32(v);
    }
    o.byte(0xcb);
    return o.f64(v);
  }
  if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    head(o, b.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    return o.bytes(b);
  }
  if (v instanceof Uint8Array) {
    head(o, v.length, 0, 0, 0xc4, 0xc5, 0xc6);
    return o.bytes(v);
  }
  switch (v.kind) {
    case "map":
      head(o, v.entries.length, 0x80, 16, undefined, 0xde, 0xdf);
      for (const [k, x] of v.entries) {
        write(o, k);
        write(o, x);
      }
      return;
    case "arr":
      head(o, v.items.length, 0x90, 16, undefined, 0xdc, 0xdd);
      for (const x of v.items) write(o, x);
      return;
    case "ext": {
      const n = v.data.length;
      const fixed = [1, 2, 4, 8, 16].indexOf(n);
      if (fixed >= 0) o.byte(0xd4 + fixed);
      else if (n < 0x100) {
        o.byte(0xc7);
        o.byte(n);
      } else if (n < 0x10000) {
        o.byte(0xc8);
        o.u16(n);
      } else {
        o.byte(0xc9);
        o.u32(n);
      }
      o.byte(v.type);
      return o.bytes(v.data);
    }
    case "int64":
      o.byte(v.signed ? 0xd3 : 0xcf);
      o.u32(v.hi);
      return o.u32(v.lo);
    case "str8":
      head(o, v.bytes.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
      return o.bytes(v.bytes);
    case "raw":
      return o.bytes(v.bytes);
  }
}

/** The msgpack bytes of `v`. */
export function pack(v: Mp): Uint8Array {
  const o = new Out();
  write(o, v);
  return o.done();
}
