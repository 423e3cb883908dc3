// The provisioning API's shared secret (provisioning.shared_secret): "disable"
// turns the API off, "generate" keeps a random secret in
// people.data_dir/provisioning-secret (made on the first start, 0600, so the
// admin reads it there rather than in config.yaml, which stays as written),
// anything else is the secret itself. Requests are compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export const PROVISIONING_SECRET_FILE = "provisioning-secret";

/** The configured secret resolved: undefined when the API is disabled. */
export function provisioningSecret(configured: string, dataDir: string): ProvisioningSecret | undefined {
  if (configured === "disable") return undefined;
  if (configured !== "generate") return new ProvisioningSecret(configured);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return new ProvisioningSecret(readOrCreate(join(dataDir, PROVISIONING_SECRET_FILE)));
}

function readOrCreate(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (fd === undefined) {
    const text = readFileSync(path, "utf8").trim();
    if (text.length < 32) throw new Error(`${path} holds no provisioning secret (32 characters or more)`);
    return text;
  }
  const secret = randomBytes(32).toString("hex");
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return secret;
}

export class ProvisioningSecret {
  private readonly digest: Buffer;

  constructor(secret: string) {
    this.digest = sha256(secret);
  }

  /** Whether `candidate` is the secret; constant time over hashes of equal length. */
  matches(candidate: string): boolean {
    return timingSafeEqual(this.digest, sha256(candidate));
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
