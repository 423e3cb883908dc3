// Event contents as Element X sends them (pure builders, no IO), and the
// encrypted-attachment half of an m.image: AES-256-CTR + SHA-256 per the spec's
// "Sending encrypted attachments", done by matrix-encrypt-attachment (the
// library Element Web uses), so the bridge's own implementation is checked
// against an independent one.
import { decryptAttachment, encryptAttachment, type IEncryptedFile } from "matrix-encrypt-attachment";
import { z } from "zod";

type Json = Record<string, unknown>;

export function textContent(body: string): Json {
  return { msgtype: "m.text", body };
}

/** A reply without fallback (Element X stopped sending reply fallbacks, MSC2781). */
export function replyContent(body: string, inReplyTo: string): Json {
  return { msgtype: "m.text", body, "m.relates_to": { "m.in_reply_to": { event_id: inReplyTo } } };
}

export function editContent(body: string, original: string): Json {
  return {
    msgtype: "m.text",
    body: `* ${body}`,
    "m.new_content": { msgtype: "m.text", body },
    "m.relates_to": { rel_type: "m.replace", event_id: original },
  };
}

export function reactionContent(key: string, target: string): Json {
  return { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } };
}

export interface ImageFile {
  data: Uint8Array;
  mimetype: string;
  name: string;
  width: number;
  height: number;
}

export interface EncryptedUpload {
  /** What goes to the media repo: the ciphertext only. */
  ciphertext: Uint8Array;
  /** The `file` object minus its url, which exists only after the upload. */
  file: IEncryptedFile;
}

export async function encryptFile(data: Uint8Array): Promise<EncryptedUpload> {
  const plain = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  const { data: ciphertext, info } = await encryptAttachment(plain);
  return { ciphertext: new Uint8Array(ciphertext), file: info };
}

/** An encrypted m.image: no top-level url, the mxc and keys in `file`. */
export function imageContent(image: ImageFile, mxc: string, file: IEncryptedFile): Json {
  return {
    msgtype: "m.image",
    body: image.name,
    info: { mimetype: image.mimetype, size: image.data.byteLength, w: image.width, h: image.height },
    file: { ...file, url: mxc },
  };
}

// The `file` object of a received event, validated before any of it is used.
const unpaddedB64 = z.string().regex(/^[A-Za-z0-9+/]+$/);
const encryptedFileSchema = z.object({
  url: z.string().regex(/^mxc:\/\/[^/]+\/[^/]+$/),
  key: z.object({
    kty: z.literal("oct"),
    alg: z.literal("A256CTR"),
    k: z.string().regex(/^[A-Za-z0-9_-]+$/),
    key_ops: z.array(z.string()).refine((ops) => ops.includes("encrypt") && ops.includes("decrypt")),
    ext: z.literal(true),
  }),
  iv: unpaddedB64,
  hashes: z.object({ sha256: unpaddedB64 }),
  v: z.literal("v2"),
});
export type ReceivedEncryptedFile = z.infer<typeof encryptedFileSchema>;

/** The validated `file` of an encrypted attachment event; throws a clear error otherwise. */
export function encryptedFileOf(content: Json): ReceivedEncryptedFile {
  if ("url" in content) throw new Error("an encrypted attachment must not carry a plaintext top-level url");
  const parsed = encryptedFileSchema.safeParse(content.file);
  if (!parsed.success) throw new Error(`not a valid encrypted attachment: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Checks the SHA-256 of the ciphertext and decrypts it. */
export async function decryptFile(ciphertext: Uint8Array, file: ReceivedEncryptedFile): Promise<Uint8Array> {
  const buf = ciphertext.buffer.slice(
    ciphertext.byteOffset,
    ciphertext.byteOffset + ciphertext.byteLength,
  ) as ArrayBuffer;
  return new Uint8Array(await decryptAttachment(buf, file));
}
