// A stand-in for element-hq/lk-jwt-service, the LiveKit token service a homeserver advertises
// for Element Call (production runs that Go service; it is not installable here). It serves the
// same legacy endpoint Element Call uses:
//
//   POST /sfu/get {room, openid_token: {access_token, matrix_server_name, ...}, device_id}
//     -> {url, jwt}
//
// It checks the OpenID token at the homeserver's federation userinfo endpoint, as the real
// service does, and signs a LiveKit JWT with livekit-server-sdk whose identity is
// "<user id>:<device id>", the identity Element Call maps media keys to. The homeserver is
// reached through a server-name map because test server names ("localhost") do not resolve.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { AccessToken } from "livekit-server-sdk";
import { z } from "zod";
import { freePort } from "./ports.js";

const SfuGetRequest = z.object({
  room: z.string().min(1).max(255),
  device_id: z.string().min(1).max(255),
  openid_token: z.object({
    access_token: z.string().min(1).max(1024),
    matrix_server_name: z.string().min(1).max(255),
    token_type: z.string().optional(),
    expires_in: z.number().optional(),
  }),
});

const UserInfo = z.object({ sub: z.string().regex(/^@[^:]+:.+$/) });

export interface LkJwtServiceOptions {
  /** ws:// URL of the LiveKit server handed to clients. */
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  /** Matrix server name -> base URL of its federation listener. */
  homeservers: Record<string, string>;
}

export interface LkJwtService {
  /** http://127.0.0.1:PORT, the livekit_service_url to advertise. */
  url: string;
  /** How many tokens were issued, per Matrix user id (tests assert the ghost asked). */
  issued: Map<string, number>;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) throw new Error("body too large");
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export async function startLkJwtService(o: LkJwtServiceOptions): Promise<LkJwtService> {
  const issued = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    // Browsers call it cross-origin, as Element Call does.
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-allow-headers", "content-type");
    res.setHeader("access-control-allow-methods", "POST, OPTIONS");
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "OPTIONS") return reply(204, {});
    if (req.method !== "POST" || req.url !== "/sfu/get") {
      return reply(404, { errcode: "M_NOT_FOUND", error: "not found" });
    }
    void (async () => {
      let parsed: z.infer<typeof SfuGetRequest>;
      try {
        parsed = SfuGetRequest.parse(await readJson(req));
      } catch {
        return reply(400, { errcode: "M_BAD_JSON", error: "expected room, device_id and openid_token" });
      }
      const base = o.homeservers[parsed.openid_token.matrix_server_name];
      if (!base) return reply(403, { errcode: "M_FORBIDDEN", error: "unknown homeserver" });
      const check = await fetch(
        `${base}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(parsed.openid_token.access_token)}`,
      ).catch(() => undefined);
      const info = check?.ok ? UserInfo.safeParse(await check.json()) : undefined;
      if (!info?.success || !info.data.sub.endsWith(`:${parsed.openid_token.matrix_server_name}`)) {
        return reply(401, { errcode: "M_UNAUTHORIZED", error: "the OpenID token was not accepted" });
      }
      const userId = info.data.sub;
      const token = new AccessToken(o.apiKey, o.apiSecret, {
        identity: `${userId}:${parsed.device_id}`,
        ttl: "1h",
      });
      token.addGrant({
        roomJoin: true,
        room: parsed.room,
        canPublish: true,
        canSubscribe: true,
        canPublishData: true,
      });
      issued.set(userId, (issued.get(userId) ?? 0) + 1);
      reply(200, { url: o.livekitUrl, jwt: await token.toJwt() });
    })().catch(() => reply(500, { errcode: "M_UNKNOWN", error: "token service failed" }));
  });
  const port = await freePort();
  await new Promise<void>((r, j) => {
    server.once("error", j);
    server.listen(port, "127.0.0.1", () => r());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    issued,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
