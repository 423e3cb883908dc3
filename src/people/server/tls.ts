// TLS material: the configured PEM files, or a development certificate made on
// first start and kept in the data directory, so a fresh install serves HTTPS
// at once. Clients must be told to trust it (its path is logged).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { generate } from "selfsigned";
import type { Logger } from "./logger.js";

export interface TlsMaterial {
  cert: string;
  key: string;
  /** Set when the certificate is the generated development one. */
  devCertPath?: string;
}

function writeAtomic(path: string, text: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

export async function loadTls(
  o: { cert?: string; key?: string; dataDir: string; domain: string },
  log: Logger,
): Promise<TlsMaterial> {
  if (o.cert || o.key) {
    if (!o.cert || !o.key) throw new Error("config: tls: set both cert and key, or neither");
    return { cert: readFileSync(o.cert, "utf8"), key: readFileSync(o.key, "utf8") };
  }
  const certPath = join(o.dataDir, "tls", "dev-cert.pem");
  const keyPath = join(o.dataDir, "tls", "dev-key.pem");
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const now = new Date();
    const pems = await generate([{ name: "commonName", value: o.domain }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      notBeforeDate: new Date(now.getTime() - 60_000),
      notAfterDate: new Date(now.getTime() + 825 * 86_400_000),
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "keyUsage", digitalSignature: true, keyCertSign: true },
        { name: "extKeyUsage", serverAuth: true },
        {
          name: "subjectAltName",
          altNames: [
            { type: 2, value: o.domain },
            { type: 2, value: "localhost" },
            { type: 7, ip: "127.0.0.1" },
            { type: 7, ip: "::1" },
          ],
        },
      ],
    });
    writeAtomic(keyPath, pems.private, 0o600);
    writeAtomic(certPath, pems.cert, 0o644);
    log.warn(
      { cert: certPath },
      "no TLS certificate configured: made a development certificate; clients must trust it",
    );
  }
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), devCertPath: certPath };
}
