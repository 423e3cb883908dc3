// Double puppeting as mautrix bridges do it (bridge.double_puppet): for a user
// of a homeserver with a secret `as_token:<token>`, the bridge logs in as the
// user with m.login.application_service under that appservice's token (a
// registration whose user namespace covers the server's users, not
// exclusively: the bridge's own as_token works only in its own namespace). The
// access token is kept sealed in the database (double_puppets), so a restart
// does not make a new device; a token the homeserver refuses is replaced by a
// new login, once. Sends carry DOUBLE_PUPPET_SOURCE, so the bridge never sends
// them back to People. Encrypted rooms are left to the ghost.
import { createHash } from "node:crypto";
import { z } from "zod";
import { openSnapshot, sealSnapshot } from "../crypto/sealed-snapshot.js";
import { BridgeError } from "../../core/error-kinds.js";
import type { Logger } from "../../logger.js";
import type { MatrixEventId, MatrixUserId } from "../../model/matrix-ids.js";
import { DOUBLE_PUPPET_SOURCE, type DoublePuppets, type PuppetSender } from "../../core/ports/puppet-side.js";
import type { BridgeStore, DoublePuppetStore } from "../../core/ports/store.js";
import type { BridgeConfig } from "../../config.js";
import type { BridgeSecret } from "../accounts/bridge-secret.js";

export const DOUBLE_PUPPET_DEVICE_NAME = "People bridge (double puppet)";
const TIMEOUT_MS = 30_000;
/** Binds a sealed token to this use (see sealed-snapshot.ts). */
const SEAL_CONTEXT = "double-puppet";

export interface DoublePuppetOptions {
  config: { secrets: Readonly<Record<string, string>>; servers: Readonly<Record<string, string>> };
  homeserver: { domain: string; url: string };
  store: DoublePuppetStore;
  /** Seals the tokens in the store (BridgeSecret.doublePuppetKey). */
  key: Buffer;
  log: Logger;
  now?: () => number;
}

interface Session {
  token: string;
  deviceId: string;
}

const loginAnswer = z.object({
  access_token: z.string().min(1),
  device_id: z.string().min(1),
  user_id: z.string(),
});
const eventAnswer = z.object({ event_id: z.string().regex(/^\$/) });

class MatrixHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string | undefined,
    what: string,
  ) {
    super(`${what}: HTTP ${status}${errcode ? ` ${errcode}` : ""}`);
  }
}

export class HttpDoublePuppets implements DoublePuppets {
  /** Per user: the session being read or made (one login at a time per user). */
  private readonly sessions = new Map<string, Promise<Session>>();
  /** Rooms known to be encrypted (never unencrypted again). */
  private readonly encrypted = new Set<string>();

  constructor(private readonly o: DoublePuppetOptions) {}

  /** True when double puppeting is configured for any homeserver. */
  get enabled(): boolean {
    return Object.keys(this.o.config.secrets).length > 0;
  }

  /** The homeserver URL and appservice token for the user's server, if configured. */
  private serverOf(user: MatrixUserId): { url: string; asToken: string } | undefined {
    const domain = user.slice(user.indexOf(":") + 1);
    const secret = this.o.config.secrets[domain];
    if (!secret) return undefined;
    const url = domain === this.o.homeserver.domain ? this.o.homeserver.url : this.o.config.servers[domain];
    if (!url) return undefined;
    return { url: url.replace(/\/+$/, ""), asToken: secret.slice("as_token:".length) };
  }

  /** Whether the user's homeserver has a double-puppet secret (and URL) configured. */
  covers(user: MatrixUserId): boolean {
    return this.serverOf(user) !== undefined;
  }

  async senderFor(user: MatrixUserId, roomId: string): Promise<PuppetSender | undefined> {
    const server = this.serverOf(user);
    if (!server) return undefined;
    if (await this.isEncrypted(user, server, roomId)) return undefined;
    const send = async (method: "PUT", path: string, body: unknown): Promise<MatrixEventId> => {
      const json = await this.authed(user, server, method, path, body);
      return eventAnswer.parse(json).event_id as MatrixEventId;
    };
    return {
      userId: user,
      sendEvent: (r, type, content, txnKey) =>
        send(
          "PUT",
          `/_matrix/client/v3/rooms/${encodeURIComponent(r)}/send/${encodeURIComponent(type)}/${txnOf(txnKey)}`,
          { ...content, [DOUBLE_PUPPET_SOURCE]: "people" },
        ),
      redact: (r, eventId, reason, txnKey) =>
        send(
          "PUT",
          `/_matrix/client/v3/rooms/${encodeURIComponent(r)}/redact/${encodeURIComponent(eventId)}/${txnOf(txnKey)}`,
          { ...(reason ? { reason } : {}), [DOUBLE_PUPPET_SOURCE]: "people" },
        ),
    };
  }

  private async isEncrypted(user: MatrixUserId, server: { url: string; asToken: string }, roomId: string) {
    if (this.encrypted.has(roomId)) return true;
    try {
      await this.authed(
        user,
        server,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/`,
      );
    } catch (err) {
      if (err instanceof MatrixHttpError && err.status === 404) return false;
      throw err;
    }
    this.encrypted.add(roomId);
    return true;
  }

  /** A request as the user; a refused token is replaced by a new login and the request made again, once. */
  private async authed(
    user: MatrixUserId,
    server: { url: string; asToken: string },
    method: "GET" | "PUT",
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    const session = await this.session(user, server);
    try {
      return await request(server.url, session.token, method, path, body);
    } catch (err) {
      if (!(err instanceof MatrixHttpError) || err.errcode !== "M_UNKNOWN_TOKEN") throw err;
      this.o.log.info(
        { user, device: session.deviceId },
        "the double puppet's token was refused: logging in again",
      );
      if (this.sessions.get(user) !== undefined) this.sessions.delete(user);
      await this.o.store.remove(user);
      const fresh = await this.session(user, server);
      return request(server.url, fresh.token, method, path, body);
    }
  }

  private session(user: MatrixUserId, server: { url: string; asToken: string }): Promise<Session> {
    let pending = this.sessions.get(user);
    if (!pending) {
      pending = this.loadOrLogin(user, server);
      this.sessions.set(user, pending);
      pending.catch(() => this.sessions.delete(user));
    }
    return pending;
  }

  private async loadOrLogin(user: MatrixUserId, server: { url: string; asToken: string }): Promise<Session> {
    const stored = await this.o.store.of(user);
    if (stored) {
      try {
        const token = openSnapshot(this.o.key, user, stored.deviceId, stored.sealedToken, SEAL_CONTEXT);
        return { token: token.toString("utf8"), deviceId: stored.deviceId };
      } catch (err) {
        this.o.log.warn({ err, user }, "a stored double-puppet token does not open: logging in again");
      }
    }
    const answer = loginAnswer.parse(
      await request(server.url, server.asToken, "POST", "/_matrix/client/v3/login", {
        type: "m.login.application_service",
        identifier: { type: "m.id.user", user },
        initial_device_display_name: DOUBLE_PUPPET_DEVICE_NAME,
      }),
    );
    if (answer.user_id !== user) {
      throw new BridgeError(
        "matrix_http",
        `the double-puppet login answered for another user (${answer.user_id})`,
      );
    }
    // Durable before use: a crash after this leaves a token the next start reuses, not a stray device.
    await this.o.store.put({
      matrixUser: user,
      deviceId: answer.device_id,
      sealedToken: sealSnapshot(
        this.o.key,
        user,
        answer.device_id,
        Buffer.from(answer.access_token, "utf8"),
        SEAL_CONTEXT,
      ),
      createdAt: (this.o.now ?? Date.now)(),
    });
    this.o.log.info({ user, device: answer.device_id }, "double puppet logged in");
    return { token: answer.access_token, deviceId: answer.device_id };
  }
}

function txnOf(key: string): string {
  return `people.puppet.${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
}

async function request(
  base: string,
  token: string,
  method: "GET" | "POST" | "PUT",
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const json: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const errcode = (json as { errcode?: unknown } | undefined)?.errcode;
    throw new MatrixHttpError(
      res.status,
      typeof errcode === "string" ? errcode : undefined,
      `${method} ${path.split("?")[0]}`,
    );
  }
  return json;
}

/** The bridge's double puppets, or undefined when bridge.double_puppet names no homeserver. */
export function doublePuppets(
  config: BridgeConfig,
  homeserverUrl: string,
  store: Pick<BridgeStore, "doublePuppets">,
  secret: BridgeSecret,
  log: Logger,
): HttpDoublePuppets | undefined {
  const o = config.bridge.double_puppet;
  if (Object.keys(o.secrets).length === 0 || !store.doublePuppets) return undefined;
  return new HttpDoublePuppets({
    config: o,
    homeserver: { domain: config.homeserver.domain, url: homeserverUrl },
    store: store.doublePuppets,
    key: secret.doublePuppetKey(),
    log: log.child({ component: "double-puppets" }),
  });
}
