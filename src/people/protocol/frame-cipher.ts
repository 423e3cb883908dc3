// Realtime frames (PROTOCOL §11): each session's frames sealed with its
// direction keys (see realtime-keys.ts).
//
// Frames (FrameCipher): version 0x01 || u64 counter || ChaCha20-Poly1305-IETF(
//   key = the sender's direction key, nonce = 4 zero bytes || u64 counter,
//   aad = "people/v1 rt-frame\0" || session id (16) || u8 direction (0 caller→callee,
//         1 callee→caller) || the 9-byte frame header,
//   plaintext = u8 kind || payload)   kind 0 data, 1 hello, 2 bye (payload: the reason).
// Counters start at 0 per direction and a receiver accepts exactly the next
// one: a replayed frame (lower counter), a reordered or lost one (higher), or
// a forged or altered one (the tag) is rejected and changes nothing.
import sodium from "sodium-native";
import { PeopleError } from "../errors.js";
import { u64 } from "./bytes.js";
import { aeadOpen, aeadSeal } from "./hpke.js";

/** Largest payload of one `send`. A sealed frame is 26 bytes more; it fits a relay frame and an envelope. */
export const MAX_FRAME_DATA = 32 * 1024;
/** Largest sealed frame accepted from any transport. */
export const MAX_WIRE_FRAME = 64 * 1024;
const FRAME_VERSION = 1;
const FRAME_HEADER = 9;
export const KIND_DATA = 0;
export const KIND_HELLO = 1;
export const KIND_BYE = 2;
const FRAME_AAD_PREFIX = Buffer.from("people/v1 rt-frame\0", "utf8");

/** Seals and opens one session's frames: counter nonces, strict order, keys zeroed by erase(). */
export class FrameCipher {
  private sendCounter = 0;
  private recvNext = 0;
  private erased = false;

  constructor(
    private readonly session: Buffer,
    private readonly sendKey: Buffer,
    private readonly recvKey: Buffer,
    /** 0: this side is the caller; 1: the callee. */
    private readonly sendDirection: 0 | 1,
  ) {}

  seal(kind: number, payload: Uint8Array): Buffer {
    if (this.erased) throw new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
    const counter = this.sendCounter++;
    const header = Buffer.concat([Buffer.from([FRAME_VERSION]), u64(counter)]);
    const plaintext = Buffer.concat([Buffer.from([kind]), payload]);
    const sealed = aeadSeal(this.sendKey, nonceOf(counter), this.aad(this.sendDirection, header), plaintext);
    return Buffer.concat([header, sealed]);
  }

  open(frame: Buffer): { kind: number; payload: Buffer; counter: number } {
    if (this.erased) throw new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
    if (frame.length < FRAME_HEADER + 1 + 16 || frame.length > MAX_WIRE_FRAME || frame[0] !== FRAME_VERSION)
      throw new PeopleError("PEOPLE_BAD_ENVELOPE", "malformed frame");
    const big = frame.readBigUInt64BE(1);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "frame counter");
    const counter = Number(big);
    if (counter < this.recvNext)
      throw new PeopleError("PEOPLE_REPLAYED", `frame ${counter} was received before`);
    if (counter > this.recvNext)
      throw new PeopleError(
        "PEOPLE_BAD_ENVELOPE",
        `frame ${counter} out of order (expected ${this.recvNext})`,
      );
    const header = frame.subarray(0, FRAME_HEADER);
    const plain = aeadOpen(
      this.recvKey,
      nonceOf(counter),
      this.aad(this.sendDirection === 0 ? 1 : 0, header),
      frame.subarray(FRAME_HEADER),
    );
    if (plain.length < 1) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "empty frame");
    this.recvNext++;
    return { kind: plain[0]!, payload: plain.subarray(1), counter };
  }

  /** The direction keys themselves (not copies): [send, receive]. */
  get keys(): readonly Buffer[] {
    return [this.sendKey, this.recvKey];
  }

  erase(): void {
    this.erased = true;
    sodium.sodium_memzero(this.sendKey);
    sodium.sodium_memzero(this.recvKey);
  }

  private aad(direction: number, header: Buffer): Buffer {
    return Buffer.concat([FRAME_AAD_PREFIX, this.session, Buffer.from([direction]), header]);
  }
}

function nonceOf(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}
