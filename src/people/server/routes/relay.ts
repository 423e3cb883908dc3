// POST /_people/v1/relay: a realtime frame from a device of another server,
// signed by that server (PROTOCOL §16.11), delivered to a device's live sockets.
import Router from "@koa/router";
import type { LiveHub } from "../live.js";
import { readRaw } from "../http.js";
import { MAX_RELAY_BODY, RELAY_PATH, RELAY_SIGNATURE_HEADER, type RelayService } from "../relay-service.js";
import { ERROR_CODES } from "../../errors.js";

export function relayRoutes(o: { relay: RelayService; live: Pick<LiveHub, "deliverRelay"> }): Router {
  const r = new Router();
  r.post(RELAY_PATH, async (ctx) => {
    const raw = await readRaw(ctx, MAX_RELAY_BODY);
    const header = ctx.get(RELAY_SIGNATURE_HEADER);
    const f = await o.relay.receive(raw, header === "" ? undefined : header, ctx.ip);
    if (o.live.deliverRelay(f.to, f.from, f.session, f.data)) {
      ctx.body = { delivered: true };
      return;
    }
    // Not a refusal of the request: the device is just not connected here.
    ctx.status = 404;
    ctx.body = { errcode: "PEOPLE_UNAVAILABLE", error: ERROR_CODES.PEOPLE_UNAVAILABLE.text };
  });
  return r;
}
