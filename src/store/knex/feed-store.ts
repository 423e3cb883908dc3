// Posts of an author's feed, by cursor, with the blob ids each post pins.
// (author, post_id) is unique, so a re-uploaded post is "duplicate".

import type { Knex } from "knex";
import type { FeedStore, PostRecord } from "../types.js";
import { bool, chunks, lockCursorWriters, LOCK_POSTS, num, unique, type Engine } from "./sql-values.js";

type Int = number | string;

interface PostRow {
  seq: Int;
  author: string;
  post_id: string;
  body_json: string;
  is_public: boolean | number;
  created_at: Int;
}

interface PostBlobRow {
  post_seq: Int;
  blob_id: string;
  ord: number;
}

export class KnexFeedStore implements FeedStore {
  constructor(
    private readonly db: Knex,
    private readonly engine: Engine,
  ) {}

  add(post: Omit<PostRecord, "seq">): Promise<{ status: "stored"; seq: number } | { status: "duplicate" }> {
    return this.db.transaction(async (trx) => {
      await lockCursorWriters(trx, this.engine, LOCK_POSTS);
      const inserted = await trx<PostRow>("posts")
        .insert({
          author: post.author,
          post_id: post.postId,
          body_json: post.bodyJson,
          is_public: post.isPublic,
          created_at: post.createdAt,
        })
        .onConflict(["author", "post_id"])
        .ignore()
        .returning("seq");
      const first = inserted[0];
      if (!first) return { status: "duplicate" as const };
      const seq = num(first.seq);
      const rows = unique(post.blobIds).map((blob_id, ord) => ({ post_seq: seq, blob_id, ord }));
      for (const part of chunks(rows)) await trx<PostBlobRow>("post_blobs").insert(part);
      return { status: "stored" as const, seq };
    });
  }

  async list(author: string, afterSeq: number, limit: number, publicOnly: boolean): Promise<PostRecord[]> {
    let query = this.db<PostRow>("posts")
      .where("author", author)
      .andWhere("seq", ">", afterSeq)
      .orderBy("seq", "asc")
      .limit(limit);
    if (publicOnly) query = query.andWhere("is_public", true);
    const posts = await query;

    const blobs = new Map<number, string[]>();
    for (const seqs of chunks(posts.map((p) => num(p.seq)))) {
      const rows = await this.db<PostBlobRow>("post_blobs")
        .whereIn("post_seq", seqs)
        .orderBy([
          { column: "post_seq", order: "asc" },
          { column: "ord", order: "asc" },
        ]);
      for (const r of rows) {
        const seq = num(r.post_seq);
        const list = blobs.get(seq) ?? [];
        list.push(r.blob_id);
        blobs.set(seq, list);
      }
    }

    return posts.map((p) => {
      const seq = num(p.seq);
      return {
        seq,
        author: p.author,
        postId: p.post_id,
        bodyJson: p.body_json,
        isPublic: bool(p.is_public),
        createdAt: num(p.created_at),
        blobIds: blobs.get(seq) ?? [],
      };
    });
  }

  async delete(author: string, postId: string): Promise<boolean> {
    // post_blobs rows go with the post (ON DELETE CASCADE), unpinning its blobs.
    const deleted = await this.db("posts").where({ author, post_id: postId }).del();
    return deleted > 0;
  }
}
