// An author's feed: encrypted posts (opaque to the server) and public posts,
// which are signed plaintext anyone may fetch. Posts pin the blobs they use.
import Router from "@koa/router";
import { z } from "zod";
import { PeopleError } from "../../errors.js";
import { fromB64u } from "../../protocol/bytes.js";
import { Ed25519PublicKey } from "../../protocol/keys.js";
import { signature64 } from "../../protocol/signed-json.js";
import { requireSignature } from "../../protocol/signing.js";
import type { PeopleStore } from "../../../store/types.js";
import type { AuthService, AuthedDevice } from "../auth.js";
import { queryInt, readJson } from "../http.js";
import { pathAddress } from "./accounts.js";

const postSchema = z.strictObject({
  post_id: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  public: z.boolean(),
  /** Private: the encrypted post as the author's client made it. Public: {"body","sig"} signed by the account key. */
  post: z.union([
    z.strictObject({ body: z.string().max(256 * 1024), sig: signature64 }),
    z.strictObject({
      ciphertext: z.string().max(350 * 1024),
      group: z.string().max(64),
      epoch: z.number().int().min(0),
    }),
  ]),
  blobs: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{43}$/))
    .max(64)
    .default([]),
});

export function feedRoutes(o: { store: PeopleStore; auth: AuthService; maxJson: number }): Router {
  const r = new Router({ prefix: "/_people/v1" });

  r.get("/accounts/:address/feed", async (ctx) => {
    const author = pathAddress(ctx.params.address);
    const after = queryInt(ctx.query.after, 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = queryInt(ctx.query.limit, 50, 1, 200);
    const publicOnly = ctx.query.public === "1";
    const posts = await o.store.feed.list(author, after, limit, publicOnly);
    ctx.body = {
      posts: posts.map((p) => ({
        seq: p.seq,
        post_id: p.postId,
        public: p.isPublic,
        created_at: p.createdAt,
        post: JSON.parse(p.bodyJson) as unknown,
        blobs: p.blobIds,
      })),
      next: posts.length > 0 ? posts[posts.length - 1]!.seq : after,
    };
  });

  r.post("/accounts/:address/feed", o.auth.middleware(), async (ctx) => {
    const author = pathAddress(ctx.params.address);
    const me = ctx.state.device as AuthedDevice;
    if (me.address !== author) throw new PeopleError("PEOPLE_FORBIDDEN", "posting to another account's feed");
    const body = await readJson(ctx, postSchema, o.maxJson);
    if (body.public !== "sig" in body.post)
      throw new PeopleError("PEOPLE_BAD_JSON", "public posts are signed, private ones encrypted");
    if ("sig" in body.post) {
      const account = await o.store.accounts.get(author);
      const bytes = fromB64u(body.post.body);
      const sig = fromB64u(body.post.sig);
      if (!account || !bytes || !sig)
        throw new PeopleError("PEOPLE_BAD_SIGNATURE", "public post is not signed");
      requireSignature(Ed25519PublicKey.fromB64u(account.accountKey), "post", bytes, sig, "public post");
    }
    const result = await o.store.feed.add({
      author,
      postId: body.post_id,
      bodyJson: JSON.stringify(body.post),
      isPublic: body.public,
      createdAt: Date.now(),
      blobIds: body.blobs,
    });
    ctx.status = result.status === "stored" ? 201 : 200;
    ctx.body = { post_id: body.post_id, status: result.status };
  });

  r.delete("/accounts/:address/feed/:postId", o.auth.middleware(), async (ctx) => {
    const author = pathAddress(ctx.params.address);
    const me = ctx.state.device as AuthedDevice;
    if (me.address !== author) throw new PeopleError("PEOPLE_FORBIDDEN", "deleting another account's post");
    const postId = String(ctx.params.postId);
    if (!(await o.store.feed.delete(author, postId)))
      throw new PeopleError("PEOPLE_NOT_FOUND", "no such post");
    ctx.body = {};
  });

  return r;
}
