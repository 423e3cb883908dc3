// A minimal Matrix client for the bridge benchmark: PUT /send and one /sync
// long-poll loop over keep-alive HTTP, nothing else. Both benchmark paths use
// it, so their figures differ only by what stands between the two ends.
import type { SynapseHandle } from "../test/helpers/synapse.js";

type Json = Record<string, unknown>;

/** Sync only room timelines: no presence, account data, receipts or typing. */
const FILTER = JSON.stringify({
  presence: { not_types: ["*"] },
  account_data: { not_types: ["*"] },
  room: {
    timeline: { limit: 100, types: ["m.room.message"] },
    state: { lazy_load_members: true, types: [] },
    ephemeral: { not_types: ["*"] },
    account_data: { not_types: ["*"] },
  },
});

export interface RoundTrips {
  /** Sends one message and resolves with the ms until its echo arrived. */
  roundTrip(): Promise<number>;
  /** The ms from each send until the far end saw it, in send order (FarEnd.saw; NaN when unseen). */
  readonly outbound: number[];
  /**
   * Echoes that reached the sender, and how many of them came after the echo of a message the far
   * end saw later: what an echoer that sends concurrently lets the homeserver reorder.
   */
  readonly order: { echoes: number; reordered: number };
}

/**
 * When the far end (Bob, or Joe on People) saw each "rt <token>", in this process's clock: splits a
 * round trip into its way out and its way back, for both paths alike.
 */
export class FarEnd {
  private readonly seen = new Map<string, bigint>();
  private readonly rank = new Map<string, number>();
  private count = 0;
  /** Called by the echoer on "rt <token>", before it echoes. */
  saw(body: string): void {
    if (!body.startsWith("rt ")) return;
    this.seen.set(body.slice(3), process.hrtime.bigint());
    this.rank.set(body.slice(3), ++this.count);
  }
  /** Where `token` came in the far end's order of seeing (and forgets it). */
  rankOf(token: string): number | undefined {
    const r = this.rank.get(token);
    this.rank.delete(token);
    return r;
  }
  /** The time `token` was seen (and forgets it). */
  take(token: string): bigint | undefined {
    const t = this.seen.get(token);
    this.seen.delete(token);
    return t;
  }
}

/** The value at `q` (0..1) of sorted samples. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The median of unsorted samples (sorts them in place). */
export function median(xs: number[]): number {
  return percentile(
    xs.sort((a, b) => a - b),
    0.5,
  );
}

type Listener = (roomId: string, sender: string, body: string) => void;

export class MatrixHttpUser {
  private since: string | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  /** The running /sync request's, so stop() can cut it short (one per request: undici keeps listeners). */
  private abort: AbortController | undefined;
  private readonly listeners: Listener[] = [];
  private txn = 0;
  private token = 0;

  private constructor(
    private readonly baseUrl: string,
    readonly userId: string,
    private readonly accessToken: string,
  ) {}

  static async register(hs: SynapseHandle, localpart: string): Promise<MatrixHttpUser> {
    const account = await hs.registerUser(localpart, `${localpart}-password`);
    return new MatrixHttpUser(hs.url, account.userId, account.accessToken);
  }

  /** A user registered elsewhere (the scale world's), by its access token. */
  static of(hs: SynapseHandle, userId: string, accessToken: string): MatrixHttpUser {
    return new MatrixHttpUser(hs.url, userId, accessToken);
  }

  /** `abortable`: the /sync long-poll, cut short by stop(); short requests just finish. */
  private async api(method: string, path: string, body?: unknown, abortable = false): Promise<Json> {
    const res = await fetch(`${this.baseUrl}/_matrix/client/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(abortable ? { signal: (this.abort = new AbortController()).signal } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Json;
  }

  async createDirectRoom(invitee: string): Promise<string> {
    const answer = await this.api("POST", "/createRoom", {
      preset: "trusted_private_chat",
      visibility: "private",
      is_direct: true,
      invite: [invitee],
    });
    return String(answer.room_id);
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.api("POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: userId });
  }

  async join(roomId: string): Promise<void> {
    await this.api("POST", `/join/${encodeURIComponent(roomId)}`, {});
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const answer = await this.api("GET", `/rooms/${encodeURIComponent(roomId)}/joined_members`);
    return Object.keys(answer.joined as Json);
  }

  async sendText(roomId: string, body: string): Promise<void> {
    const txn = `bench-${Date.now()}-${++this.txn}`;
    await this.api("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, {
      msgtype: "m.text",
      body,
    });
  }

  onMessage(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** Skips what is already there, then long-polls /sync until stop(). */
  async start(): Promise<void> {
    await this.syncOnce(0);
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.syncOnce(30_000);
        } catch (err) {
          if (!this.running) return;
          throw err;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop?.catch(() => undefined);
  }

  private async syncOnce(timeoutMs: number): Promise<void> {
    const query = new URLSearchParams({ filter: FILTER, timeout: String(timeoutMs) });
    if (this.since) query.set("since", this.since);
    const answer = await this.api("GET", `/sync?${query.toString()}`, undefined, true);
    const first = this.since === undefined;
    this.since = String(answer.next_batch);
    if (first) return;
    const joined = ((answer.rooms as Json | undefined)?.join ?? {}) as Record<string, Json>;
    for (const [roomId, room] of Object.entries(joined)) {
      const events = ((room.timeline as Json | undefined)?.events ?? []) as Json[];
      for (const e of events) {
        const body = (e.content as Json | undefined)?.body;
        if (e.type !== "m.room.message" || typeof body !== "string") continue;
        for (const listener of this.listeners) listener(roomId, String(e.sender), body);
      }
    }
  }

  /** Round trips in `roomId`: "rt <n>" out, "echo <n>" back from `echoer` (who tells `far` when it saw it). */
  roundTrips(roomId: string, echoer: string, far: FarEnd): RoundTrips {
    const waiting = new Map<string, () => void>();
    const order = { echoes: 0, reordered: 0 };
    let latestRank = 0;
    this.onMessage((room, sender, body) => {
      if (room !== roomId || sender !== echoer || !body.startsWith("echo ")) return;
      const rank = far.rankOf(body.slice(5));
      if (rank !== undefined) {
        order.echoes++;
        if (rank < latestRank) order.reordered++;
        latestRank = Math.max(latestRank, rank);
      }
      const done = waiting.get(body.slice(5));
      waiting.delete(body.slice(5));
      done?.();
    });
    const outbound: number[] = [];
    return {
      outbound,
      order,
      roundTrip: async () => {
        const token = `${roomId.slice(1, 9)}-${++this.token}`;
        const echoed = new Promise<void>((resolve) => waiting.set(token, resolve));
        const start = process.hrtime.bigint();
        await this.sendText(roomId, `rt ${token}`);
        await echoed;
        const seen = far.take(token);
        outbound.push(seen === undefined ? NaN : Number(seen - start) / 1e6);
        return Number(process.hrtime.bigint() - start) / 1e6;
      },
    };
  }
}
