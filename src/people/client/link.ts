// Linking a new device to an account. The server learns neither the code nor
// the account key, and the new device's private keys never leave it.
//
//   1. The existing device E makes a one-time code C (128 random bits) and
//      shows it; K = HMAC(C, "people/v1 link-code") authenticates the rest.
//   2. The user types C on the new device N. N fetches the account's public
//      device list, makes its own signing and encryption keys and device id,
//      and writes its first certificate body (seq 0, the account key from the
//      list) with its self-signature. It sends {body, sig_self, MAC_K(body)}
//      as an ordinary sealed envelope to its own address, wrapped for the
//      account's listed devices and signed by N's new key: the server routes
//      it like any mail and cannot read it.
//   3. E, holding an open code, checks the MAC (so the keys are the ones the
//      user's new device made, not the server's), that the body names its own
//      account key, address and the envelope's device, and the signatures. It
//      countersigns the certificate with the account key and publishes the
//      next device list with N in it. (E cannot make the certificate alone:
//      sig_self needs N's private key.)
//   4. E sends the account key seed to N in a sealed envelope wrapped only for
//      N's certified encryption key (HPKE, PROTOCOL §9.4), with
//      MAC_K(device, seed, certificate hash), so N knows the grant comes from
//      whoever showed the code.
//   5. N waits until the list names it, logs in, reads its mailbox, verifies
//      the grant (signature by E's listed key, MAC, and that the seed's public
//      key is the key that signs the list), and keeps the account key, as
//      every device that rotates must (§6.3).
//
// A wrong or expired code, a second use, or any failed check ends with no
// device added. Codes live 10 minutes by default.
import { PeopleError } from "../errors.js";
import { addressDomain } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import { parseDeviceCert, type DeviceCert } from "../protocol/device-cert.js";
import { verifyChain } from "../protocol/device-chain.js";
import {
  MemoryReplayGuard,
  sealMessage,
  verifyMessage,
  type UnverifiedMessage,
} from "../protocol/envelope.js";
import type { DeviceId } from "../protocol/ids.js";
import { signBytes } from "../protocol/signing.js";
import type { Account } from "./account.js";
import type { ClientEvents } from "./events.js";
import {
  formatLinkCode,
  linkGrantSchema,
  linkKey,
  linkMac,
  linkRequestSchema,
  macMatches,
  newLinkCode,
  parseLinkDocument,
} from "./link-code.js";
import type { Outbox } from "./outbox.js";
import type { ServerDirectory } from "./server-directory.js";

export const LINK_CODE_TTL_MS = 10 * 60 * 1000;
/** A certificate offered for countersigning may claim at most this much clock difference. */
const SKEW_MS = 10 * 60 * 1000;
const MAX_CERT_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
export const LINK_TTL_MS = 60 * 60 * 1000;

export interface LinkOffer {
  /** Show this to the user, to type on the new device. */
  code: string;
  expiresAt: number;
  /** Resolves with the new device's id once it is listed and has been sent the account key. */
  completed: Promise<DeviceId>;
}

interface OpenCode {
  key: Buffer;
  expiresAt: number;
  resolve: (device: DeviceId) => void;
  reject: (e: unknown) => void;
}

/** The existing device's side: open codes, and the interceptor the receiver runs own-account mail through. */
export class LinkResponder {
  private open: OpenCode[] = [];

  constructor(
    private readonly o: {
      account: Account;
      servers: ServerDirectory;
      outbox: Outbox;
      events: ClientEvents;
      now: () => number;
    },
  ) {}

  offer(ttlMs = LINK_CODE_TTL_MS): LinkOffer {
    const code = newLinkCode();
    const expiresAt = this.o.now() + ttlMs;
    let entry!: OpenCode;
    const completed = new Promise<DeviceId>((resolve, reject) => {
      entry = { key: linkKey(code), expiresAt, resolve, reject };
    });
    completed.catch(() => undefined); // a caller that never awaits it must not see an unhandled rejection
    this.open.push(entry);
    return { code: formatLinkCode(code), expiresAt, completed };
  }

  /** Close every open code (the client stops). */
  cancel(): void {
    for (const c of this.open) c.reject(new PeopleError("PEOPLE_UNAVAILABLE", "link code cancelled"));
    this.open = [];
  }

  /**
   * Receiver hook for mail from the own address. A link request's signing key
   * is in the request itself, so its content is read before the signature is
   * checked (the one place the client reads an UnverifiedMessage's content);
   * nothing in it is acted on until the MAC under the code and every signature
   * verified. Returns true when the message was a link request (handled or refused).
   */
  intercept = async (message: UnverifiedMessage, envelopeId: string): Promise<boolean> => {
    const content = message._message.content;
    if (content.type !== "device_link") return false;
    // A grant is for the linking device alone, which takes it from its mailbox itself: never show it as a message.
    if (parseLinkDocument(linkGrantSchema, content.document)) return true;
    const request = parseLinkDocument(linkRequestSchema, content.document)?.people_link_request;
    if (!request) return false;
    try {
      await this.accept(message, request);
    } catch (e) {
      this.o.events.emit("rejected", {
        envelopeId,
        code: e instanceof PeopleError ? e.code : "PEOPLE_INTERNAL",
        from: message.from,
        detail: `link request: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
    return true;
  };

  private async accept(
    message: UnverifiedMessage,
    request: { body: string; sig_self: string; mac: string },
  ): Promise<void> {
    const now = this.o.now();
    this.open = this.open.filter((c) => c.expiresAt > now);
    const body = fromB64u(request.body);
    if (!body) throw new PeopleError("PEOPLE_BAD_REQUEST", "link request body is not base64url");
    const index = this.open.findIndex((c) => macMatches(linkMac(c.key, "request", body), request.mac));
    if (index < 0) throw new PeopleError("PEOPLE_FORBIDDEN", "no open link code matches");
    const code = this.open.splice(index, 1)[0]!; // single use, whatever happens next
    try {
      const account = this.o.account;
      const cert = parseDeviceCert({
        body: request.body,
        sig_account: b64u(signBytes(account.accountKey, "device-cert", body)),
        sig_self: request.sig_self,
      });
      verifyChain([cert], account.accountKey.publicKey); // sig_self: the new device holds its key
      if (cert.address !== account.address || cert.device !== message.device) {
        throw new PeopleError("PEOPLE_FORBIDDEN", "link request names another address or device");
      }
      if (Math.abs(cert.notBefore - now) > SKEW_MS || cert.notAfter - cert.notBefore > MAX_CERT_LIFETIME_MS) {
        throw new PeopleError("PEOPLE_FORBIDDEN", "link request validity is out of range");
      }
      verifyMessage(message, cert.signKey, { self: account.address, now, replay: new MemoryReplayGuard() });
      const { verified } = await account.published();
      if (verified.chains.has(cert.device) || verified.list.revoked.some((r) => r.device === cert.device)) {
        throw new PeopleError("PEOPLE_FORBIDDEN", "that device id is taken");
      }
      await account.publish({ upsert: [[cert]] });
      await this.sendGrant(cert, code.key);
      code.resolve(cert.device);
      this.o.events.emit("linked", { device: cert.device });
    } catch (e) {
      code.reject(e);
      throw e;
    }
  }

  private async sendGrant(cert: DeviceCert, key: Buffer): Promise<void> {
    const account = this.o.account;
    const now = this.o.now();
    const seed = account.accountKey.exportSeed();
    const grant = {
      people_link_grant: {
        v: 1,
        device: cert.device,
        account_seed: b64u(seed),
        mac: b64u(linkMac(key, "grant", Buffer.from(`${cert.device}\0`), seed, cert.hash)),
      },
    };
    const server = await this.o.servers.keys(addressDomain(account.address));
    const sealed = sealMessage({
      from: account.address,
      device: account.device,
      signingKey: account.identity.signingKey,
      to: [account.address],
      content: { type: "device_link", document: JSON.stringify(grant) },
      copies: [{ address: account.address, devices: [cert.encKey], server: server.envelopeKey }],
      now,
      ttlMs: LINK_TTL_MS,
    });
    seed.fill(0);
    await this.o.outbox.enqueue(
      sealed.copies.map((c) => ({
        envelopeId: c.envelopeId,
        messageId: sealed.messageId,
        address: c.address,
        outer: c.outer,
        createdAt: now,
        expiresAt: now + LINK_TTL_MS,
      })),
    );
    this.o.outbox.kick();
  }
}
