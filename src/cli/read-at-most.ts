import { closeSync, openSync, readSync } from "node:fs";

/**
 * A user's file as text, or undefined when it is longer than `max` bytes: read in chunks and no
 * further than that, so /dev/zero or a file of gigabytes is refused instead of read to its end.
 * Pipes, /dev/stdin and process substitutions read as files do.
 */
export function readAtMost(file: string, max: number): string | undefined {
  const fd = openSync(file, "r");
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(1 << 20);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) return undefined;
      chunks.push(Buffer.from(buf.subarray(0, n))); // a copy: the buffer is read into again
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
