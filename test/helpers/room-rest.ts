// One Matrix user's view of rooms through the client-server REST API (no sync
// involved), as the bridge's e2e tests read and write them: a room's events,
// sending, members, the management room with the bot, and a bot command with
// its answer. Every wait polls for its condition with a generous deadline.
import assert from "node:assert/strict";
import { eventually, matrixApi } from "./bridge-harness.js";
import type { SynapseHandle } from "./synapse.js";

export const BOT = "@peoplebot:localhost";
/** Generous: the machine may be busy; each wait ends as soon as its condition holds. */
export const REST_WAIT = 60_000;

type Json = Record<string, unknown>;

/** The client-server API path of a room. */
export const roomPath = (id: string): string => `/_matrix/client/v3/rooms/${encodeURIComponent(id)}`;

/** The body of a message event. */
export const bodyOf = (e: Json): string => String((e.content as Json).body);

/** Whether `e` is the bot's rich reply to `eventId`. */
export function isBotAnswer(e: Json, eventId: string): boolean {
  const rel = (e.content as Json | undefined)?.["m.relates_to"] as Json | undefined;
  return e.sender === BOT && (rel?.["m.in_reply_to"] as Json | undefined)?.event_id === eventId;
}

export interface RoomRest {
  api(method: string, path: string, body?: unknown): Promise<Json>;
  /** The room's events, oldest first, paginating back to its start. */
  events(roomId: string): Promise<Json[]>;
  /** Sends an event; resolves with its id. */
  send(roomId: string, type: string, content: Json): Promise<string>;
  joinedMembers(roomId: string): Promise<string[]>;
  /** Resolves once `userId` has joined `roomId`. */
  untilJoined(roomId: string, userId: string, what?: string): Promise<void>;
  /** A new DM with the bot, resolved once the bot has joined it. */
  managementRoom(): Promise<string>;
  /** The bot's answer (its rich reply) to `eventId`, once it is there. */
  answerTo(roomId: string, eventId: string, what?: string): Promise<string>;
  /** Sends `body` in `roomId` (a management room); resolves with the bot's answer. */
  command(roomId: string, body: string): Promise<string>;
  /** Uploads media; resolves with its mxc URI. */
  upload(bytes: Buffer, mime: string, name: string): Promise<string>;
  /** The bytes the homeserver serves for an mxc URI. */
  download(mxc: string): Promise<Buffer>;
}

/** The REST view for the user whose token `token()` gives, on the homeserver `hs()` gives. */
export function roomRest(hs: () => SynapseHandle, token: () => string): RoomRest {
  const api = (method: string, path: string, body?: unknown) => matrixApi(hs(), token(), method, path, body);

  async function events(roomId: string): Promise<Json[]> {
    const all: Json[] = [];
    let from: string | undefined;
    for (;;) {
      const page = await api(
        "GET",
        `${roomPath(roomId)}/messages?dir=b&limit=100` + (from ? `&from=${encodeURIComponent(from)}` : ""),
      );
      const chunk = (page.chunk as Json[] | undefined) ?? [];
      all.push(...chunk);
      if (chunk.length === 0 || typeof page.end !== "string") return all.reverse();
      from = page.end;
    }
  }

  async function send(roomId: string, type: string, content: Json): Promise<string> {
    const txn = `t${Date.now()}${Math.random()}`;
    const r = await api("PUT", `${roomPath(roomId)}/send/${type}/${encodeURIComponent(txn)}`, content);
    return String(r.event_id);
  }

  async function joinedMembers(roomId: string): Promise<string[]> {
    const r = await api("GET", `${roomPath(roomId)}/joined_members`);
    return Object.keys(r.joined as Json);
  }

  async function untilJoined(roomId: string, userId: string, what = `${userId} to join`): Promise<void> {
    await eventually(
      what,
      async () => ((await joinedMembers(roomId)).includes(userId) ? true : undefined),
      REST_WAIT,
    );
  }

  async function managementRoom(): Promise<string> {
    const r = await api("POST", "/_matrix/client/v3/createRoom", {
      preset: "trusted_private_chat",
      is_direct: true,
      invite: [BOT],
    });
    const roomId = String(r.room_id);
    await untilJoined(roomId, BOT, "the bot to join");
    return roomId;
  }

  function answerTo(roomId: string, eventId: string, what = eventId): Promise<string> {
    return eventually(
      `the bot's answer to ${what}`,
      async () => {
        const e = (await events(roomId)).find((x) => isBotAnswer(x, eventId));
        return e && bodyOf(e);
      },
      REST_WAIT,
    );
  }

  async function command(roomId: string, body: string): Promise<string> {
    const id = await send(roomId, "m.room.message", { msgtype: "m.text", body });
    return answerTo(roomId, id, body);
  }

  async function upload(bytes: Buffer, mime: string, name: string): Promise<string> {
    const res = await fetch(`${hs().url}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token()}`, "content-type": mime },
      body: bytes,
    });
    assert.ok(res.ok, `upload: ${res.status}`);
    return String(((await res.json()) as Json).content_uri);
  }

  async function download(mxc: string): Promise<Buffer> {
    const m = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc) ?? assert.fail(`not an mxc URI: ${mxc}`);
    const res = await fetch(`${hs().url}/_matrix/client/v1/media/download/${m[1]}/${m[2]}`, {
      headers: { authorization: `Bearer ${token()}` },
    });
    assert.ok(res.ok, `download: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  return {
    api,
    events,
    send,
    joinedMembers,
    untilJoined,
    managementRoom,
    answerTo,
    command,
    upload,
    download,
  };
}
