// Recording a call's audio as an Ogg Opus file any player opens (RFC 7845:
// an OpusHead page, an OpusTags page, then audio pages; RFC 3533 pages with
// their CRC). Encoding is opusscript (libopus compiled to WebAssembly).
import { closeSync, openSync, writeSync } from "node:fs";
import OpusScript from "opusscript";
import { FRAME_SAMPLES, SAMPLE_RATE } from "./audio.js";

/** 20 ms packets at 48 kHz. */
const PACKET_SAMPLES = 2 * FRAME_SAMPLES;
const PRE_SKIP = 312;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, initial value 0). */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}

/** One Ogg page holding one packet (< 65 025 bytes). */
export function oggPage(o: {
  packet: Buffer;
  granule: bigint;
  serial: number;
  seq: number;
  flags: number;
}): Buffer {
  const lacing: number[] = [];
  let left = o.packet.length;
  while (left >= 255) {
    lacing.push(255);
    left -= 255;
  }
  lacing.push(left);
  const header = Buffer.alloc(27 + lacing.length);
  header.write("OggS", 0, "ascii");
  header[4] = 0;
  header[5] = o.flags;
  header.writeBigInt64LE(o.granule, 6);
  header.writeUInt32LE(o.serial, 14);
  header.writeUInt32LE(o.seq, 18);
  header[26] = lacing.length;
  Buffer.from(lacing).copy(header, 27);
  const page = Buffer.concat([header, o.packet]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

/** Mono 48 kHz PCM in, an .ogg file out; `close()` writes the last page. */
export class OggOpusWriter {
  private readonly fd: number;
  private readonly encoder = new OpusScript(SAMPLE_RATE, 1, OpusScript.Application.AUDIO);
  private readonly serial = (Math.random() * 0xffffffff) >>> 0;
  private seq = 0;
  private granule = BigInt(PRE_SKIP);
  private pending: Int16Array[] = [];
  private pendingSamples = 0;
  private last: Buffer | undefined;
  private closed = false;

  constructor(path: string) {
    this.fd = openSync(path, "wx");
    const head = Buffer.alloc(19);
    head.write("OpusHead", 0, "ascii");
    head[8] = 1;
    head[9] = 1;
    head.writeUInt16LE(PRE_SKIP, 10);
    head.writeUInt32LE(SAMPLE_RATE, 12);
    head.writeInt16LE(0, 16);
    head[18] = 0;
    this.page(head, 0n, 0x02);
    const vendor = Buffer.from("people", "utf8");
    const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
    tags.write("OpusTags", 0, "ascii");
    tags.writeUInt32LE(vendor.length, 8);
    vendor.copy(tags, 12);
    tags.writeUInt32LE(0, 12 + vendor.length);
    this.page(tags, 0n, 0);
  }

  /** Append mono 48 kHz samples. */
  push(samples: Int16Array): void {
    if (this.closed) return;
    this.pending.push(samples);
    this.pendingSamples += samples.length;
    while (this.pendingSamples >= PACKET_SAMPLES) this.encodeOne();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The last packet goes out on a page that says so (end of stream).
    const last = this.last ?? this.encoder.encode(Buffer.alloc(PACKET_SAMPLES * 2), PACKET_SAMPLES);
    if (!this.last) this.granule += BigInt(PACKET_SAMPLES);
    this.page(last, this.granule, 0x04);
    closeSync(this.fd);
    this.encoder.delete();
  }

  private encodeOne(): void {
    const pcm = new Int16Array(PACKET_SAMPLES);
    let at = 0;
    while (at < PACKET_SAMPLES) {
      const head = this.pending[0]!;
      const take = Math.min(head.length, PACKET_SAMPLES - at);
      pcm.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingSamples -= PACKET_SAMPLES;
    const packet = Buffer.from(this.encoder.encode(Buffer.from(pcm.buffer), PACKET_SAMPLES));
    // Each packet is written when the next arrives, so the last one can carry the end-of-stream flag.
    if (this.last) this.page(this.last, this.granule, 0);
    this.granule += BigInt(PACKET_SAMPLES);
    this.last = packet;
  }

  private page(packet: Buffer, granule: bigint, flags: number): void {
    writeSync(this.fd, oggPage({ packet, granule, serial: this.serial, seq: this.seq++, flags }));
  }
}

/** The packets of a single-stream Ogg file, checking each page's capture pattern and CRC. */
export function readOggPackets(file: Buffer): { packets: Buffer[]; lastGranule: bigint; eos: boolean } {
  const packets: Buffer[] = [];
  let at = 0;
  let partial: Buffer[] = [];
  let lastGranule = 0n;
  let eos = false;
  while (at < file.length) {
    if (file.toString("ascii", at, at + 4) !== "OggS") throw new Error(`no Ogg page at byte ${at}`);
    const count = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + count);
    const size = lacing.reduce((a, b) => a + b, 0);
    const page = Buffer.from(file.subarray(at, at + 27 + count + size));
    const crc = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    if (oggCrc(page) !== crc) throw new Error(`bad CRC in the page at byte ${at}`);
    lastGranule = file.readBigInt64LE(at + 6);
    eos = (file[at + 5]! & 0x04) !== 0;
    let body = at + 27 + count;
    for (const l of lacing) {
      partial.push(file.subarray(body, body + l));
      body += l;
      if (l < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    at += 27 + count + size;
  }
  return { packets, lastGranule, eos };
}
