// The sealed file of `people export` / `people import` (PROTOCOL §20.6): a
// device's whole account under a passphrase. scrypt (node:crypto; N = 2^15,
// r = 8, p = 1, a random 32-byte salt) derives the key, ChaCha20-Poly1305 with
// a random nonce seals the JSON, and the header is the AAD, so a changed
// parameter does not open either. A wrong passphrase and a damaged file look
// the same: PEOPLE_UNAUTHORIZED.
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from "node:crypto";
import { z } from "zod";
import { PeopleError } from "../errors.js";

const TAG_BYTES = 16;
export const ARCHIVE_KDF = { N: 2 ** 15, r: 8, p: 1 } as const;
const MAX_N = 2 ** 20;

const headerSchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.device_archive"),
  kdf: z.strictObject({
    name: z.literal("scrypt"),
    N: z
      .number()
      .int()
      .min(2 ** 14)
      .max(MAX_N)
      .refine((n) => (n & (n - 1)) === 0, "N must be a power of two"),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  }),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16}$/),
});
const fileSchema = z.strictObject({ header: headerSchema, ciphertext: z.string().regex(/^[A-Za-z0-9_-]*$/) });
type Header = z.infer<typeof headerSchema>;

function deriveKey(passphrase: string, kdf: Header["kdf"]): Promise<Buffer> {
  if (passphrase.length === 0) throw new PeopleError("PEOPLE_BAD_REQUEST", "empty passphrase");
  return new Promise((resolve, reject) =>
    scrypt(
      Buffer.from(passphrase, "utf8"),
      Buffer.from(kdf.salt, "base64url"),
      32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 16 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

/** Seal `content` (JSON-able) under `passphrase`; returns the file's text. */
export async function sealArchive(content: unknown, passphrase: string): Promise<string> {
  const header: Header = {
    v: 1,
    type: "people.device_archive",
    kdf: { name: "scrypt", ...ARCHIVE_KDF, salt: randomBytes(32).toString("base64url") },
    nonce: randomBytes(12).toString("base64url"),
  };
  const key = await deriveKey(passphrase, header.kdf);
  const cipher = createCipheriv("chacha20-poly1305", key, Buffer.from(header.nonce, "base64url"), {
    authTagLength: TAG_BYTES,
  });
  const plain = Buffer.from(JSON.stringify(content), "utf8");
  cipher.setAAD(Buffer.from(JSON.stringify(header), "utf8"), { plaintextLength: plain.length });
  const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  return JSON.stringify({ header, ciphertext: sealed.toString("base64url") });
}

/** Open a file's text; returns the parsed JSON content (for the caller's schema). */
export async function openArchive(text: string, passphrase: string): Promise<unknown> {
  let parsed: z.infer<typeof fileSchema>;
  try {
    parsed = fileSchema.parse(JSON.parse(text));
  } catch (cause) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "not a People device archive", { cause });
  }
  const { header } = parsed;
  const sealed = Buffer.from(parsed.ciphertext, "base64url");
  if (sealed.length < TAG_BYTES) throw new PeopleError("PEOPLE_BAD_REQUEST", "the archive is truncated");
  const key = await deriveKey(passphrase, header.kdf);
  const decipher = createDecipheriv("chacha20-poly1305", key, Buffer.from(header.nonce, "base64url"), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(Buffer.from(JSON.stringify(header), "utf8"), {
    plaintextLength: sealed.length - TAG_BYTES,
  });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PeopleError("PEOPLE_UNAUTHORIZED", "wrong passphrase, or the archive is damaged", {
      publicText: "Wrong passphrase for this archive, or the archive is damaged.",
    });
  } finally {
    key.fill(0);
  }
  return JSON.parse(plain.toString("utf8")) as unknown;
}
