// Short-lived TURN credentials in the REST style coturn checks with
// `use-auth-secret` (draft-uberti-behave-turn-rest): the username is
// "<expiry unix seconds>:<address>" and the password base64(HMAC-SHA1(secret,
// username)), so the TURN server needs only the shared secret, no user list.
import { createHmac } from "node:crypto";

export interface TurnCredentials {
  uris: string[];
  username: string;
  password: string;
  /** Seconds the credentials stay valid. */
  ttl: number;
}

export function turnCredentials(o: {
  uris: readonly string[];
  secret: string;
  address: string;
  now: number;
  ttlMs: number;
}): TurnCredentials {
  const ttl = Math.max(1, Math.floor(o.ttlMs / 1000));
  const username = `${Math.floor(o.now / 1000) + ttl}:${o.address}`;
  const password = createHmac("sha1", o.secret).update(username, "utf8").digest("base64");
  return { uris: [...o.uris], username, password, ttl };
}
