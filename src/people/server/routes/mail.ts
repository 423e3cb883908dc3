// Sealed-mail ingest (from anyone) and each device's mailbox (authenticated).
import Router from "@koa/router";
import { z } from "zod";
import type { PeopleStore } from "../../../store/types.js";
import type { AuthService, AuthedDevice } from "../auth.js";
import { queryInt, readJson, readRaw } from "../http.js";
import type { IngestService } from "../ingest-service.js";
import { PeopleError } from "../../errors.js";

const ackSchema = z.strictObject({
  ids: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{22}$/))
    .min(1)
    .max(500),
});

export function mailRoutes(o: {
  ingest: IngestService;
  auth: AuthService;
  store: PeopleStore;
  maxEnvelope: number;
}): Router {
  const r = new Router({ prefix: "/_people/v1" });

  r.post("/envelopes", async (ctx) => {
    if (!ctx.is("application/octet-stream")) {
      throw new PeopleError("PEOPLE_BAD_REQUEST", "expected Content-Type application/octet-stream");
    }
    const outer = await readRaw(ctx, o.maxEnvelope);
    const result = await o.ingest.ingest(outer, ctx.ip, Date.now());
    // A duplicate is answered like a first delivery: the sender's retry succeeded.
    ctx.body = { envelope_id: result.envelopeId, status: result.status };
  });

  r.get("/mailbox", o.auth.middleware(), async (ctx) => {
    const me = ctx.state.device as AuthedDevice;
    const after = queryInt(ctx.query.after, 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = queryInt(ctx.query.limit, 100, 1, 500);
    const envelopes = await o.store.mailbox.pending(me.address, me.device, after, limit);
    ctx.body = {
      envelopes: envelopes.map((e) => ({
        seq: e.seq,
        id: e.envelopeId,
        expires_at: e.expiresAt,
        data: e.inner.toString("base64url"),
      })),
      next: envelopes.length > 0 ? envelopes[envelopes.length - 1]!.seq : after,
    };
  });

  r.post("/mailbox/ack", o.auth.middleware(), async (ctx) => {
    const me = ctx.state.device as AuthedDevice;
    const body = await readJson(ctx, ackSchema, 64 * 1024);
    ctx.body = { acknowledged: await o.store.mailbox.ack(me.address, me.device, body.ids) };
  });

  return r;
}
