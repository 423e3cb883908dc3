// The own server's TURN relay for calls (PROTOCOL §16.12): short-lived
// credentials fetched with the device's token and reused until half their
// lifetime has passed. A server without a relay answers 404: no ICE servers.
import { z } from "zod";
import { PeopleError } from "../../errors.js";
import type { HttpsClient } from "../../net/https-client.js";
import { remoteError } from "../../net/https-client.js";
import type { Session } from "../session.js";
import type { IceServer } from "./media-engine.js";

const answerSchema = z.strictObject({
  uris: z
    .array(
      z
        .string()
        .regex(/^(turns?|stuns?):\S+$/)
        .max(512),
    )
    .max(16),
  username: z.string().min(1).max(512),
  password: z.string().min(1).max(512),
  ttl: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400),
});

export class TurnCredentials {
  private cached: { servers: IceServer[]; until: number } | undefined;

  constructor(
    private readonly o: {
      http: HttpsClient;
      session: Pick<Session, "token" | "invalidate">;
      serverUrl: () => Promise<string>;
      now: () => number;
    },
  ) {}

  async iceServers(): Promise<IceServer[]> {
    const now = this.o.now();
    if (this.cached && this.cached.until > now) return this.cached.servers;
    const url = `${await this.o.serverUrl()}/_people/v1/turn`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.o.session.token();
      const res = await this.o.http.send("GET", url, { headers: { authorization: `Bearer ${token}` } });
      if (res.status === 401 && attempt === 0) {
        this.o.session.invalidate();
        continue;
      }
      if (res.status === 404) {
        this.cached = { servers: [], until: now + 60_000 };
        return [];
      }
      let json: unknown = null;
      try {
        json = JSON.parse(res.body.toString("utf8"));
      } catch {
        // Reported below.
      }
      if (res.status !== 200) throw remoteError(res.status, json);
      const parsed = answerSchema.safeParse(json);
      if (!parsed.success)
        throw new PeopleError("PEOPLE_BAD_JSON", "malformed TURN credentials from the server");
      const a = parsed.data;
      const servers =
        a.uris.length > 0 ? [{ urls: a.uris, username: a.username, credential: a.password }] : [];
      this.cached = { servers, until: now + (a.ttl * 1000) / 2 };
      return servers;
    }
  }
}
