// A bounds-checked cursor over untrusted bytes. Every read either returns a
// value inside the buffer or throws the caller's typed error; nothing is
// allocated in proportion to a length field before the bytes are there.
import { PeopleError, type ErrorCode } from "../errors.js";

export class WireReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly code: ErrorCode = "PEOPLE_BAD_ENVELOPE",
  ) {}

  fail(detail: string): never {
    throw new PeopleError(this.code, detail);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  take(length: number, what: string): Buffer {
    if (!Number.isInteger(length) || length < 0 || length > this.remaining) this.fail(`truncated ${what}`);
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u8(what: string): number {
    return this.take(1, what)[0]!;
  }

  u16(what: string): number {
    return this.take(2, what).readUInt16BE(0);
  }

  u32(what: string): number {
    return this.take(4, what).readUInt32BE(0);
  }

  u64(what: string): number {
    const v = this.take(8, what).readBigUInt64BE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} out of range`);
    return Number(v);
  }

  rest(): Buffer {
    return this.take(this.remaining, "rest");
  }

  end(what: string): void {
    if (this.remaining !== 0) this.fail(`trailing bytes after ${what}`);
  }
}
