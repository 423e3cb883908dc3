// A remote homeserver's media repository, as far as Synapse's federation media
// client sees it: HTTPS on loopback (a self-signed certificate, so Synapse runs
// with federation_verify_certificates off and loopback allowed, see
// REMOTE_MEDIA_SYNAPSE_CONFIG), its server name "127.0.0.1:<port>", so an mxc
// URI of it makes Synapse fetch from here. Each media id answers as the test
// says: 502, 404, or the bytes. Requests are counted per media id.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";

export type RemoteMediaBehaviour = { status: 502 | 404 | 403 } | { bytes: Buffer; mime: string };

/**
 * homeserver.yaml settings that let Synapse fetch media from a FakeRemoteMedia: its certificate
 * is not checked, loopback is not blocked (the legacy key, the only one that also covers IP
 * literals in server names), and a destination that failed is tried again after 0.5–2 s instead
 * of Synapse's default 10 minutes (during which it answers 502 without asking the remote).
 */
export const REMOTE_MEDIA_SYNAPSE_CONFIG = {
  federation_verify_certificates: false,
  federation_ip_range_blacklist: [],
  federation: { destination_min_retry_interval: 500, destination_max_retry_interval: 2000 },
};

const FEDERATION = /^\/_matrix\/federation\/v1\/media\/download\/([^/?]+)/;
const LEGACY = /^\/_matrix\/media\/(?:v3|r0)\/download\/[^/]+\/([^/?]+)/;

export class FakeRemoteMedia {
  private readonly behaviours = new Map<string, RemoteMediaBehaviour>();
  private readonly counts = new Map<string, number>();

  private server!: Server;

  private constructor() {}

  static async start(): Promise<FakeRemoteMedia> {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    });
    const self = new FakeRemoteMedia();
    const server = createServer({ cert: pems.cert, key: pems.private }, (req, res) => {
      const path = req.url ?? "/";
      const federation = FEDERATION.exec(path);
      const legacy = LEGACY.exec(path);
      const mediaId = decodeURIComponent((federation ?? legacy)?.[1] ?? "");
      const json = (status: number, body: Record<string, unknown>) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (!mediaId) return json(404, { errcode: "M_UNRECOGNIZED", error: "unknown endpoint" });
      self.counts.set(mediaId, (self.counts.get(mediaId) ?? 0) + 1);
      const b = self.behaviours.get(mediaId) ?? { status: 404 };
      if ("status" in b) {
        const errcode = b.status === 404 ? "M_NOT_FOUND" : b.status === 403 ? "M_FORBIDDEN" : "M_UNKNOWN";
        return json(b.status, { errcode, error: "as the test says" });
      }
      // The bytes through the plain endpoint: Synapse falls back to it on M_UNRECOGNIZED.
      if (federation) return json(404, { errcode: "M_UNRECOGNIZED", error: "use the media endpoint" });
      res.writeHead(200, { "content-type": b.mime, "content-length": b.bytes.length });
      res.end(b.bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self.server = server;
    return self;
  }

  /** The server name Synapse sees in the mxc URIs. */
  get serverName(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  mxc(mediaId: string): string {
    return `mxc://${this.serverName}/${mediaId}`;
  }

  set(mediaId: string, behaviour: RemoteMediaBehaviour): void {
    this.behaviours.set(mediaId, behaviour);
  }

  /** How often Synapse asked for the media. */
  requests(mediaId: string): number {
    return this.counts.get(mediaId) ?? 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
