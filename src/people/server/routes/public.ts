// Discovery, the server descriptor, health and metrics: what anyone may read.
import Router from "@koa/router";
import type { PeopleStore } from "../../../store/types.js";
import type { KeyService } from "../key-service.js";
import { readRaw } from "../http.js";
import type { ServerMetrics } from "../metrics.js";

export function publicRoutes(o: {
  publicAddress: string;
  /** "<onion>:port" of this server's onion service, when it is also one (PROTOCOL §2). */
  onionAddress?: string;
  keys: KeyService;
  store: PeopleStore;
  metrics: ServerMetrics;
  metricsEnabled: boolean;
  noopEndpoint: boolean;
  maxEnvelope: number;
}): Router {
  const r = new Router();
  r.get("/.well-known/people", (ctx) => {
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.body = { server: o.publicAddress, ...(o.onionAddress ? { onion: o.onionAddress } : {}) };
  });
  r.get("/_people/v1/server", (ctx) => {
    ctx.set("Cache-Control", "public, max-age=300");
    ctx.body = {
      ...o.keys.descriptor(Date.now()),
      ...(o.onionAddress ? { onion: o.onionAddress } : {}),
    };
  });
  r.get("/_people/v1/health", async (ctx) => {
    await o.store.ping();
    ctx.body = { status: "ok" };
  });
  if (o.metricsEnabled) {
    r.get("/metrics", async (ctx) => {
      o.metrics.mailboxDepth.set(await o.store.mailbox.depth());
      ctx.type = o.metrics.registry.contentType;
      ctx.body = await o.metrics.registry.metrics();
    });
  }
  if (o.noopEndpoint) {
    r.post("/_people/v1/diagnostics/noop", async (ctx) => {
      await readRaw(ctx, o.maxEnvelope);
      ctx.body = {};
    });
  }
  return r;
}
