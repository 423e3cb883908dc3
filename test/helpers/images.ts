// Small real images for tests: a PNG whose header gives its width and height
// (image-size reads it, as the client does for a thumbnail), and bytes that
// start like a WebM video; bytes that only start like a PNG, different per seed.
import { createHash, randomBytes } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([head, body, crc]);
}

/** A valid grey PNG of `width` × `height` pixels; `seed` varies its pixels (so two differ). */
export function tinyPng(width: number, height: number, seed = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = Buffer.alloc((width + 1) * height, seed & 0xff);
  for (let y = 0; y < height; y++) rows[y * (width + 1)] = 0; // filter: none
  return Buffer.concat([
    Buffer.from("89504e470d0a1a0a", "hex"),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Bytes that begin with WebM's EBML magic: a "video" for the bridge and the clients (never played). */
export function fakeWebm(size = 30_000): Buffer {
  return Buffer.concat([Buffer.from("1a45dfa3", "hex"), randomBytes(size)]);
}

/** Bytes that start like a PNG (not a valid image), different per seed: for byte-for-byte round trips. */
export function pngBytes(seed: string, size = 2000): Buffer {
  return Buffer.concat([
    Buffer.from("89504e470d0a1a0a", "hex"),
    createHash("sha256").update(seed).digest(),
    Buffer.alloc(size, seed),
  ]);
}
