// The history archive an existing device hands a newly linked one (PROTOCOL
// §11.1.2): messages, contacts with their trust, groups with their keys. It
// travels as an encrypted blob whose key reaches only the new device, inside a
// `device_link` message sealed to that device's key; this file is its format
// and its one parser. Anything malformed is PEOPLE_BAD_REQUEST and nothing of
// it is used.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { isPeopleAddress } from "./address.js";
import { blobRefSchema, contentSchema } from "./messages.js";

/** The archive's bytes (JSON, UTF-8) at most. */
export const MAX_HISTORY_BYTES = 16 * 1024 * 1024;
export const MAX_HISTORY_MESSAGES = 10_000;
export const MAX_HISTORY_CONTACTS = 4096;
export const MAX_HISTORY_GROUPS = 1024;
/** The most messages per conversation the reference sends (the newest ones). */
export const DEFAULT_HISTORY_PER_CONVERSATION = 50;

const id16 = z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/);
const key32 = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
const canonical = z
  .string()
  .min(3)
  .max(254)
  .refine((s): boolean => isPeopleAddress(s), "not a canonical People address");
const ms = z.number().int().min(0).max(8.64e15);

const historyMessage = z.strictObject({
  id: id16,
  from: canonical,
  to: z.array(canonical).min(1).max(1024),
  ts: ms,
  /** True for what the account itself sent (from any of its devices). */
  outgoing: z.boolean(),
  content: contentSchema,
});

const historyContact = z.strictObject({
  address: canonical,
  account_key: key32,
  verified: z.boolean(),
  /** "unexplained": a key change waits for the user; the new device keeps the old pin and holds their mail. */
  state: z.enum(["pinned", "unexplained"]),
});

const historyGroup = z.strictObject({
  group: id16,
  epoch: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
  key: key32,
  members: z.array(canonical).max(1024),
  name: z.string().min(1).max(256).optional(),
});

export const historyArchiveSchema = z
  .strictObject({
    v: z.literal(1),
    type: z.literal("people.history"),
    address: canonical,
    /** The device the archive is for: the new one. */
    device: z.string().min(1).max(64),
    made_at: ms,
    /** Oldest first (by `ts`, then `id`). */
    messages: z.array(historyMessage).max(MAX_HISTORY_MESSAGES),
    contacts: z.array(historyContact).max(MAX_HISTORY_CONTACTS),
    groups: z.array(historyGroup).max(MAX_HISTORY_GROUPS),
  })
  .superRefine((a, ctx) => {
    for (let i = 1; i < a.messages.length; i++) {
      const [p, m] = [a.messages[i - 1]!, a.messages[i]!];
      if (p.ts > m.ts || (p.ts === m.ts && p.id >= m.id)) {
        ctx.addIssue({
          code: "custom",
          message: "messages are not in order, or repeat",
          path: ["messages", i],
        });
        return;
      }
    }
    for (const m of a.messages) {
      if ((m.from === a.address) !== m.outgoing) {
        ctx.addIssue({ code: "custom", message: "outgoing is not from the account", path: ["messages"] });
        return;
      }
    }
    if (new Set(a.contacts.map((c) => c.address)).size !== a.contacts.length) {
      ctx.addIssue({ code: "custom", message: "a contact twice", path: ["contacts"] });
    }
  });

export type HistoryArchive = z.infer<typeof historyArchiveSchema>;
export type HistoryMessage = HistoryArchive["messages"][number];

/** The `device_link` document that points the new device at the archive blob. */
export const historyPointerSchema = z.strictObject({
  people_history: z.strictObject({ v: z.literal(1), device: z.string().min(1).max(64), blob: blobRefSchema }),
});
export type HistoryPointer = z.infer<typeof historyPointerSchema>["people_history"];

/** Parses archive bytes for `expect` (the account and the new device); PEOPLE_BAD_REQUEST on anything else. */
export function parseHistoryArchive(
  bytes: Buffer,
  expect: { address: string; device: string },
): HistoryArchive {
  if (bytes.length > MAX_HISTORY_BYTES) throw bad("the history archive is too large");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("the history archive is not JSON");
  }
  const parsed = historyArchiveSchema.safeParse(json);
  if (!parsed.success)
    throw bad(`the history archive is malformed: ${parsed.error.issues[0]?.message ?? "?"}`);
  if (parsed.data.address !== expect.address || parsed.data.device !== expect.device) {
    throw bad("the history archive is for another account or device");
  }
  return parsed.data;
}

/** The pointer in a `device_link` document, or undefined when the document is something else. */
export function parseHistoryPointer(document: string): HistoryPointer | undefined {
  if (!document.startsWith('{"people_history"')) return undefined;
  try {
    const parsed = historyPointerSchema.safeParse(JSON.parse(document));
    return parsed.success ? parsed.data.people_history : undefined;
  } catch {
    return undefined;
  }
}

function bad(message: string): PeopleError {
  return new PeopleError("PEOPLE_BAD_REQUEST", message, {
    publicText: "The history from the other device is unusable.",
  });
}
