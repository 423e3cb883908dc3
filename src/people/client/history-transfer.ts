// History transfer, the existing device's side (PROTOCOL §11.1.2): with the
// user's consent (`people link-code --with-history`), once a new device joined,
// this device writes a history archive (the newest messages of each
// conversation, the contacts with their trust, the groups with their current
// keys), uploads it as an encrypted blob to the account's server (which sees
// only ciphertext), and sends the blob's reference and key in a `device_link`
// message to the account's own devices, naming the new device.
import { PeopleError } from "../errors.js";
import { b64u } from "../protocol/bytes.js";
import {
  DEFAULT_HISTORY_PER_CONVERSATION,
  MAX_HISTORY_BYTES,
  MAX_HISTORY_MESSAGES,
  historyArchiveSchema,
  type HistoryArchive,
  type HistoryMessage,
} from "../protocol/history-archive.js";
import type { MessageType } from "../protocol/messages.js";
import type { PeopleClient } from "./people-client.js";

/** What a conversation's history holds: what people wrote, not signalling or keys. */
const KEPT: ReadonlySet<MessageType> = new Set(["text", "edit", "reaction", "redaction", "attachment"]);

/** The archive of this device's history for the new device `device` (validated as a receiver would). */
export async function buildHistory(
  client: PeopleClient,
  device: string,
  o: { perConversation?: number; now?: number } = {},
): Promise<HistoryArchive> {
  const per = o.perConversation ?? DEFAULT_HISTORY_PER_CONVERSATION;
  const self = client.address;
  const byConversation = new Map<string, HistoryMessage[]>();
  for (const m of await client.inbox()) {
    if (!KEPT.has(m.content.type)) continue;
    const key = [...new Set([m.from, ...m.to])].sort().join("\n");
    const list = byConversation.get(key) ?? [];
    list.push({ id: m.id, from: m.from, to: m.to, ts: m.ts, outgoing: m.from === self, content: m.content });
    byConversation.set(key, list);
  }
  const seen = new Set<string>();
  const messages = [...byConversation.values()]
    .flatMap((list) => list.sort(order).slice(-per))
    .sort(order)
    .filter((m) => !seen.has(`${m.ts}\n${m.id}`) && seen.add(`${m.ts}\n${m.id}`))
    .slice(-MAX_HISTORY_MESSAGES);
  const addresses = new Set(messages.flatMap((m) => [m.from, ...m.to]));
  addresses.delete(self);
  const contacts: HistoryArchive["contacts"] = [];
  for (const address of [...addresses].sort()) {
    const c = await client.contacts.get(address);
    if (!c) continue;
    contacts.push({
      address: c.address,
      account_key: c.accountKey.toB64u(),
      verified: c.verified,
      state: c.state === "unexplained" ? "unexplained" : "pinned",
    });
  }
  const groups: HistoryArchive["groups"] = [];
  for (const g of await client.groups.list()) {
    const key = await client.groups.keyFor(g.id, g.epoch);
    if (!key) continue;
    groups.push({
      group: g.id,
      epoch: g.epoch,
      key: b64u(key.key),
      members: g.members,
      ...(g.name ? { name: g.name } : {}),
    });
    key.key.fill(0);
  }
  return historyArchiveSchema.parse({
    v: 1,
    type: "people.history",
    address: self,
    device,
    made_at: o.now ?? Date.now(),
    messages,
    contacts,
    groups,
  });
}

/** Builds, uploads and announces the archive for `device`; resolves with the number of messages in it. */
export async function sendHistory(
  client: PeopleClient,
  device: string,
  o: { perConversation?: number } = {},
): Promise<number> {
  const archive = await buildHistory(client, device, o);
  const bytes = Buffer.from(JSON.stringify(archive));
  if (bytes.length > MAX_HISTORY_BYTES) {
    throw new PeopleError("PEOPLE_TOO_LARGE", "the history archive is too large", {
      publicText: "The history is too large to hand over; try fewer messages per conversation.",
    });
  }
  const blob = await client.uploadAttachment(bytes, { mime: "application/json", name: "history.json" });
  const document = JSON.stringify({ people_history: { v: 1, device, blob } });
  await client.send([client.address], { type: "device_link", document });
  return archive.messages.length;
}

function order(a: HistoryMessage, b: HistoryMessage): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
