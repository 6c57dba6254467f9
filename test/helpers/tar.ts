import { gunzipSync } from "node:zlib";

/**
 * The regular files of a gzipped tar archive (what `npm pack` writes), by path, with their
 * contents. Reads ustar headers and pax `path` records; enough for npm's tarballs, not a general tar.
 */
export function readTarball(gz: Buffer): Map<string, Buffer> {
  const tar = gunzipSync(gz);
  const files = new Map<string, Buffer>();
  let paxPath: string | undefined;
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break; // the archive ends with zero blocks
    const text = (from: number, len: number): string => header.toString("utf8", from, from + len).replace(/\0.*$/s, "");
    const size = Number.parseInt(text(124, 12).trim() || "0", 8);
    const type = text(156, 1) || "0";
    const body = tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      // A pax header: "LEN key=value\n" records; only a long path matters here.
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1];
      continue;
    }
    const prefix = text(345, 155);
    const name = paxPath ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100));
    paxPath = undefined;
    if (type === "0") files.set(name, Buffer.from(body));
  }
  return files;
}
