// TURN credentials for this server's own devices (PROTOCOL §16.12).
import Router from "@koa/router";
import { PeopleError } from "../../errors.js";
import type { AuthService, AuthedDevice } from "../auth.js";
import { turnCredentials } from "../turn-credentials.js";

export function turnRoutes(o: {
  auth: AuthService;
  turn: { uris: string[]; shared_secret?: string | undefined; ttl: number };
}): Router {
  const r = new Router({ prefix: "/_people/v1" });
  r.get("/turn", o.auth.middleware(), (ctx) => {
    const secret = o.turn.shared_secret;
    if (o.turn.uris.length === 0 || secret === undefined)
      throw new PeopleError("PEOPLE_NOT_FOUND", "no TURN server configured", {
        publicText: "This server offers no TURN relay.",
      });
    const me = ctx.state.device as AuthedDevice;
    ctx.set("Cache-Control", "no-store");
    ctx.body = turnCredentials({
      uris: o.turn.uris,
      secret,
      address: me.address,
      now: Date.now(),
      ttlMs: o.turn.ttl,
    });
  });
  return r;
}
