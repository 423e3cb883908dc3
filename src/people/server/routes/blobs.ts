// Encrypted blobs: upload by an authenticated device of this server, download
// by anyone who knows the id (a 256-bit hash of ciphertext).
import Router from "@koa/router";
import type { AuthService, AuthedDevice } from "../auth.js";
import { parseBlobId, type BlobService } from "../blob-service.js";

export function blobRoutes(o: { blobs: BlobService; auth: AuthService }): Router {
  const r = new Router({ prefix: "/_people/v1" });

  r.put("/blobs/:id", o.auth.middleware(), async (ctx) => {
    const id = parseBlobId(ctx.params.id);
    const me = ctx.state.device as AuthedDevice;
    const result = await o.blobs.upload(id, me.address, ctx.req, ctx.request.length, Date.now());
    ctx.status = result === "created" ? 201 : 200;
    ctx.body = { id };
  });

  r.get("/blobs/:id", async (ctx) => {
    const id = parseBlobId(ctx.params.id);
    const blob = await o.blobs.read(id, ctx.get("range") || undefined);
    ctx.set("Accept-Ranges", "bytes");
    ctx.set("Cache-Control", "public, max-age=31536000, immutable");
    ctx.type = "application/octet-stream";
    if (blob.partial) {
      ctx.status = 206;
      ctx.set("Content-Range", `bytes ${blob.start}-${blob.end}/${blob.size}`);
    }
    ctx.length = blob.end - blob.start + 1;
    ctx.body = blob.stream;
  });

  return r;
}
