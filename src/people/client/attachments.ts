// Attachments (PROTOCOL §11 BlobRef, §16.9): encrypted on the device with a
// fresh random key, uploaded as an opaque blob to the sender's own server,
// and referenced from the message with that key and the ciphertext's hash.
//
// Cipher: ChaCha20-Poly1305 (IETF) with an all-zero nonce. That is safe
// because every blob key is random and encrypts exactly one plaintext, as the
// content key of an envelope does (§9.3); a BlobRef then needs no nonce field.
// The hash of the ciphertext is the blob id, so a server cannot swap the bytes.
// Whole blobs are held in memory; a cap keeps that bounded.
import { createHash } from "node:crypto";
import { PeopleError } from "../errors.js";
import { remoteError, type HttpsClient, type ProgressFn } from "../net/https-client.js";
import { b64u, ctEqual, fromB64u } from "../protocol/bytes.js";
import { aeadOpen, aeadSeal } from "../protocol/hpke.js";
import { randomSecret } from "../protocol/keys.js";
import { blobRefSchema, type BlobRef } from "../protocol/messages.js";
import { jsonOrNull } from "./answers.js";
import type { Discovery } from "../net/discovery.js";
import type { Session } from "./session.js";

export const DEFAULT_MAX_ATTACHMENT = 50 * 1024 * 1024;
const ZERO_NONCE = Buffer.alloc(12);
const AAD = Buffer.from("people/v1 blob", "utf8");

export interface AttachmentMeta {
  mime: string;
  name?: string;
  width?: number;
  height?: number;
  durationMs?: number;
}

export interface TransferOptions {
  /** Bytes sent (upload: of the encrypted body) or received (download) so far, and the total. */
  onProgress?: ProgressFn;
}

export class Attachments {
  constructor(
    private readonly o: {
      http: Pick<HttpsClient, "send">;
      session: Session;
      discovery: Discovery;
      serverUrl: () => Promise<string>;
      /** The own domain: BlobRef.server. */
      domain: string;
      maxBytes?: number;
    },
  ) {}

  private get max(): number {
    return this.o.maxBytes ?? DEFAULT_MAX_ATTACHMENT;
  }

  async upload(bytes: Buffer, meta: AttachmentMeta, o: TransferOptions = {}): Promise<BlobRef> {
    if (bytes.length > this.max) throw new PeopleError("PEOPLE_TOO_LARGE", "attachment larger than the cap");
    const key = randomSecret();
    const ciphertext = aeadSeal(key, ZERO_NONCE, AAD, bytes);
    const id = await this.put(ciphertext, o);
    const ref: BlobRef = {
      server: this.o.domain,
      id,
      key: b64u(key),
      hash: id,
      mime: meta.mime,
      size: bytes.length,
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.width !== undefined ? { width: meta.width } : {}),
      ...(meta.height !== undefined ? { height: meta.height } : {}),
      ...(meta.durationMs !== undefined ? { duration_ms: meta.durationMs } : {}),
    };
    const checked = blobRefSchema.safeParse(ref);
    if (!checked.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "attachment metadata is invalid");
    return checked.data;
  }

  /**
   * Upload `bytes` as they are (a public blob, e.g. a profile's avatar) to the own server;
   * returns its id, the base64url SHA-256 of the bytes.
   */
  async uploadPublic(bytes: Buffer, o: TransferOptions = {}): Promise<string> {
    if (bytes.length > this.max) throw new PeopleError("PEOPLE_TOO_LARGE", "blob larger than the cap");
    return this.put(bytes, o);
  }

  /** Fetch a public blob from `server`'s server and check that its bytes hash to `id`. */
  async downloadPublic(
    server: string,
    id: string,
    o: TransferOptions & { size?: number } = {},
  ): Promise<Buffer> {
    const hash = fromB64u(id);
    if (!hash || hash.length !== 32) throw new PeopleError("PEOPLE_BAD_REQUEST", "malformed blob id");
    if (o.size !== undefined && o.size > this.max)
      throw new PeopleError("PEOPLE_TOO_LARGE", "blob larger than the cap");
    const body = await this.get(server, id, o);
    if (!ctEqual(createHash("sha256").update(body).digest(), hash))
      throw new PeopleError("PEOPLE_BAD_SIGNATURE", "blob does not match its hash");
    if (o.size !== undefined && body.length !== o.size)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "blob size differs from the reference");
    return body;
  }

  /** PUT `body` under its hash on the own server (a refused token is renewed once); returns the id. */
  private async put(body: Buffer, o: TransferOptions): Promise<string> {
    const id = b64u(createHash("sha256").update(body).digest());
    const url = `${await this.o.serverUrl()}/_people/v1/blobs/${id}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.o.session.token();
      const res = await this.o.http.send("PUT", url, {
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/octet-stream",
          "content-length": String(body.length),
        },
        body,
        ...(o.onProgress ? { onUpload: o.onProgress } : {}),
      });
      if (res.status === 401 && attempt === 0) {
        this.o.session.invalidate();
        continue;
      }
      if (res.status !== 200 && res.status !== 201) throw remoteError(res.status, jsonOrNull(res.body));
      return id;
    }
  }

  private async get(server: string, id: string, o: TransferOptions): Promise<Buffer> {
    const url = `${await this.o.discovery.resolve(server)}/_people/v1/blobs/${id}`;
    const res = await this.o.http.send("GET", url, o.onProgress ? { onDownload: o.onProgress } : {});
    if (res.status !== 200) throw remoteError(res.status, jsonOrNull(res.body));
    return res.body;
  }

  /** Fetch from the blob's server, check the hash, decrypt, check the size the sender signed. */
  async download(ref: BlobRef, o: TransferOptions = {}): Promise<Buffer> {
    const checked = blobRefSchema.safeParse(ref);
    if (!checked.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "malformed blob reference");
    if (ref.size > this.max) throw new PeopleError("PEOPLE_TOO_LARGE", "attachment larger than the cap");
    const key = fromB64u(ref.key);
    const hash = fromB64u(ref.hash);
    if (!key || key.length !== 32 || !hash || hash.length !== 32)
      throw new PeopleError("PEOPLE_BAD_KEY", "blob key");
    const body = await this.get(ref.server, ref.id, o);
    const digest = createHash("sha256").update(body).digest();
    if (!ctEqual(digest, hash))
      throw new PeopleError("PEOPLE_DECRYPT_FAILED", "blob does not match its hash");
    const plain = aeadOpen(key, ZERO_NONCE, AAD, body);
    if (plain.length !== ref.size)
      throw new PeopleError("PEOPLE_BAD_ENVELOPE", "blob size differs from the reference");
    return plain;
  }
}
