// Encrypted attachments and post media. A blob's id is the base64url SHA-256
// of its (already encrypted) bytes, so ids cannot collide, cannot be chosen to
// overwrite another blob, and cannot smuggle path characters. Bytes are
// streamed to a temporary file, checked against the id, fsynced and renamed
// into place before the upload is acknowledged.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { PeopleError } from "../errors.js";
import type { PeopleStore } from "../../store/types.js";

const BLOB_ID = /^[A-Za-z0-9_-]{43}$/;

export function parseBlobId(value: unknown): string {
  if (typeof value !== "string" || !BLOB_ID.test(value))
    throw new PeopleError("PEOPLE_BAD_REQUEST", "invalid blob id");
  return value;
}

export interface BlobLimits {
  maxBytes: number;
  quotaBytes: number;
  lifetimeMs: number;
}

export class BlobService {
  private readonly root: string;

  /** `root`: the blob directory (data_dir/blobs, or storage.blobs_dir shared by the processes of a domain). */
  constructor(
    root: string,
    private readonly store: PeopleStore,
    private readonly limits: BlobLimits,
  ) {
    this.root = root;
  }

  private pathOf(id: string): string {
    return join(this.root, id.slice(0, 2), id);
  }

  async upload(
    id: string,
    owner: string,
    body: Readable,
    declaredLength: number | undefined,
    now: number,
  ): Promise<"created" | "exists"> {
    if (declaredLength !== undefined && declaredLength > this.limits.maxBytes) {
      throw new PeopleError("PEOPLE_TOO_LARGE", "blob too large");
    }
    if (await this.store.blobs.get(id)) {
      body.resume();
      return "exists";
    }
    const used = await this.store.blobs.usedBytes(owner);
    if (used + (declaredLength ?? 0) > this.limits.quotaBytes)
      throw new PeopleError("PEOPLE_QUOTA_EXCEEDED", "blob quota");
    await mkdir(join(this.root, "tmp"), { recursive: true });
    const tmp = join(this.root, "tmp", `${randomBytes(12).toString("hex")}.part`);
    const file = await open(tmp, "wx", 0o600);
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.limits.maxBytes) throw new PeopleError("PEOPLE_TOO_LARGE", "blob too large");
        hash.update(chunk);
        await file.write(chunk);
      }
      if (declaredLength !== undefined && size !== declaredLength) {
        throw new PeopleError("PEOPLE_BAD_REQUEST", "body shorter than its Content-Length");
      }
      if (hash.digest("base64url") !== id)
        throw new PeopleError("PEOPLE_BAD_REQUEST", "blob id is not the SHA-256 of its bytes");
      if (used + size > this.limits.quotaBytes) throw new PeopleError("PEOPLE_QUOTA_EXCEEDED", "blob quota");
      await file.sync();
      await file.close();
      const final = this.pathOf(id);
      await mkdir(join(this.root, id.slice(0, 2)), { recursive: true });
      await rename(tmp, final);
      await syncDir(join(this.root, id.slice(0, 2)));
    } catch (err) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    return this.store.blobs.put({ id, owner, size, createdAt: now, expiresAt: now + this.limits.lifetimeMs });
  }

  /** Open a blob for reading, whole or one byte range. */
  async read(
    id: string,
    range: string | undefined,
  ): Promise<{ stream: Readable; size: number; start: number; end: number; partial: boolean }> {
    const record = await this.store.blobs.get(id);
    if (!record) throw new PeopleError("PEOPLE_NOT_FOUND", "no such blob");
    const size = (await stat(this.pathOf(id))).size;
    let start = 0;
    let end = size - 1;
    let partial = false;
    if (range !== undefined) {
      const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(range);
      if (!m || (m[1] === "" && m[2] === ""))
        throw new PeopleError("PEOPLE_BAD_REQUEST", "unsupported Range");
      if (m[1] === "") {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start > end || start >= size) {
        throw new PeopleError("PEOPLE_RANGE_NOT_SATISFIABLE", "range outside the blob");
      }
      partial = true;
    }
    return { stream: createReadStream(this.pathOf(id), { start, end }), size, start, end, partial };
  }

  /** Delete blobs past their lifetime that no post references. */
  async collect(now: number): Promise<number> {
    let removed = 0;
    for (const blob of await this.store.blobs.collectable(now, 500)) {
      await rm(this.pathOf(blob.id), { force: true });
      await this.store.blobs.delete(blob.id);
      removed += 1;
    }
    return removed;
  }
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
