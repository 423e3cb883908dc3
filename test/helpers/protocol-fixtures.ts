// Small factories for protocol tests: accounts with devices, servers with an
// envelope key, and a one-call way to seal a text message.
import assert from "node:assert/strict";
import { PeopleError, type ErrorCode } from "../../src/people/errors.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { DeviceIdentity } from "../../src/people/protocol/device-identity.js";
import {
  sealMessage,
  type EnvelopeCopy,
  type SealOptions,
  type SealedCopy,
} from "../../src/people/protocol/envelope.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import { Ed25519KeyPair, X25519KeyPair } from "../../src/people/protocol/keys.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { ServerIdentity, type EnvelopePrivateKey } from "../../src/people/protocol/server-keys.js";

export const HOUR_MS = 60 * 60 * 1000;
export const DAY = 24 * HOUR_MS;

/** Asserts that `fn` throws a PeopleError with `code` (and nothing else). */
export function expectCode(fn: () => unknown, code: ErrorCode, message?: string): PeopleError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) assert.fail(message ?? `expected ${code}, but nothing was thrown`);
  if (!(thrown instanceof PeopleError)) {
    assert.fail(`${message ? `${message}: ` : ""}expected PeopleError ${code}, got ${String(thrown)}`);
  }
  assert.equal(thrown.code, code, `${message ? `${message}: ` : ""}${thrown.message}`);
  return thrown;
}

/** Runs `fn`; returns the PeopleError it threw, or undefined when it succeeded. Anything else is re-thrown. */
export function peopleErrorOf(fn: () => unknown): PeopleError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof PeopleError) return e;
    throw e;
  }
}

export interface Account {
  address: PeopleAddress;
  accountKey: Ed25519KeyPair;
  devices: DeviceIdentity[];
}

export function makeAccount(
  address: string,
  now: number,
  o: { devices?: number; accountKey?: Ed25519KeyPair; certLifetimeMs?: number } = {},
): Account {
  const parsed = parseAddress(address);
  const accountKey = o.accountKey ?? Ed25519KeyPair.generate();
  const devices = Array.from({ length: o.devices ?? 1 }, () =>
    DeviceIdentity.create({
      address: parsed,
      accountKey,
      now,
      ...(o.certLifetimeMs === undefined ? {} : { certLifetimeMs: o.certLifetimeMs }),
    }),
  );
  return { address: parsed, accountKey, devices };
}

export interface Server {
  identity: ServerIdentity;
  envelopeKey: EnvelopePrivateKey;
  /** What openOuter is given: the envelope private key by key id. */
  lookup: (keyId: Buffer) => X25519KeyPair | undefined;
}

export function makeServer(
  domain: string,
  now: number,
  o: { identityKey?: Ed25519KeyPair; notBefore?: number; notAfter?: number } = {},
): Server {
  const identity = new ServerIdentity(domain, o.identityKey ?? Ed25519KeyPair.generate());
  const envelopeKey = identity.issueEnvelopeKey(
    X25519KeyPair.generate(),
    o.notBefore ?? now - HOUR_MS,
    o.notAfter ?? now + 30 * DAY,
  );
  const lookup = (keyId: Buffer): X25519KeyPair | undefined =>
    keyId.equals(envelopeKey.cert.keyId) ? envelopeKey.key : undefined;
  return { identity, envelopeKey, lookup };
}

/** A copy for `account` (all its devices, or those given) sealed to `server`. */
export function copyFor(
  account: Account,
  server: Server,
  devices: DeviceIdentity[] = account.devices,
): EnvelopeCopy {
  return {
    address: account.address,
    devices: devices.map((d) => d.head.encKey),
    server: server.envelopeKey.cert,
  };
}

export interface SealTextOptions {
  from: Account;
  /** Sending device (default: the first). */
  device?: DeviceIdentity;
  /** Recipients as signed (default: the addresses of `copies`, without the sender). */
  to?: PeopleAddress[];
  copies: EnvelopeCopy[];
  body?: string;
  content?: MessageContent;
  now: number;
  ttlMs?: number;
  messageId?: MessageId;
  random?: SealOptions["random"];
}

export function seal(o: SealTextOptions): { messageId: MessageId; copies: SealedCopy[] } {
  const device = o.device ?? o.from.devices[0]!;
  const to = o.to ?? [...new Set(o.copies.map((c) => c.address).filter((a) => a !== o.from.address))];
  return sealMessage({
    from: o.from.address,
    device: device.device,
    signingKey: device.signingKey,
    to,
    content: o.content ?? { type: "text", body: o.body ?? "hello" },
    copies: o.copies,
    now: o.now,
    ttlMs: o.ttlMs ?? DAY,
    ...(o.messageId ? { messageId: o.messageId } : {}),
    ...(o.random ? { random: o.random } : {}),
  });
}

/** Seal a text message from `from` to every device of `to` on `server`; returns the one outer envelope. */
export function sealText(
  from: Account,
  to: Account,
  server: Server,
  now: number,
  o: Partial<Omit<SealTextOptions, "from" | "copies" | "now">> = {},
): Buffer {
  return seal({ ...o, from, copies: [copyFor(to, server)], now }).copies[0]!.outer;
}

/** A copy of `bytes` with bit pattern `mask` XORed into position `i`. */
export function flipByte(bytes: Buffer, i: number, mask = 0xff): Buffer {
  const out = Buffer.from(bytes);
  out[i] = out[i]! ^ mask;
  return out;
}
