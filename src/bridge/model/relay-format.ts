// Relay mode (bridge.relay, as mautrix's relay): in a group room whose relay is
// set, a message of a Matrix user who has no People address goes out from the
// relay's People account, its text (or a media caption) written through the
// admin's format, "{displayname}: {message}" by default, so People readers see
// who wrote it. Pure: Matrix content in, Matrix content for the usual converter
// out (matrix-to-people.ts), or the reason it is not relayed.
//
// Only messages are relayed (text, notice, emote, image, file, audio, video):
// a reaction, an edit or a redaction would act on the relay's own messages
// under its name, so the portal answers them with a notice instead.
import { z } from "zod";
import { sanitizeProfileName } from "./ghost-name.js";
import { escapeHtml } from "./html.js";
import { HTML_FORMAT, MEDIA_MSGTYPES, TEXT_MSGTYPES } from "./matrix-content.js";
import { stripPlainReplyFallback } from "./reply-fallback.js";

export const RELAY_MSGTYPES = [...TEXT_MSGTYPES, ...MEDIA_MSGTYPES] as const;
export type RelayMsgtype = (typeof RELAY_MSGTYPES)[number];
export type RelayFormats = Readonly<Record<RelayMsgtype, string>>;

/** For media the format is the caption; the sender's own caption follows after ": ". */
export const DEFAULT_RELAY_FORMATS: RelayFormats = {
  "m.text": "{displayname}: {message}",
  "m.notice": "{displayname}: {message}",
  "m.emote": "* {displayname} {message}",
  "m.image": "{displayname} sent an image",
  "m.file": "{displayname} sent a file",
  "m.audio": "{displayname} sent an audio file",
  "m.video": "{displayname} sent a video",
};

const PLACEHOLDER = /\{([a-z_]*)\}/g;
const TEXT_PLACEHOLDERS = new Set(["displayname", "user_id", "message"]);
const MEDIA_PLACEHOLDERS = new Set(["displayname", "user_id", "filename"]);
const MAX_FORMAT = 500;

/** Why a format is unusable (config validation), or undefined. */
export function relayFormatProblem(msgtype: RelayMsgtype, format: string): string | undefined {
  const media = (MEDIA_MSGTYPES as readonly string[]).includes(msgtype);
  const allowed = media ? MEDIA_PLACEHOLDERS : TEXT_PLACEHOLDERS;
  const names = [...format.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  const unknown = names.find((n) => !allowed.has(n));
  if (unknown !== undefined)
    return `unknown placeholder {${unknown}} (use ${[...allowed].map((n) => `{${n}}`).join(", ")})`;
  if (!names.includes("displayname") && !names.includes("user_id"))
    return "must name the sender: {displayname} or {user_id}";
  if (!media && !names.includes("message")) return "must contain {message}";
  if (format.length > MAX_FORMAT) return `at most ${MAX_FORMAT} characters`;
  return undefined;
}

const formatsSchema = z
  .partialRecord(z.enum(RELAY_MSGTYPES), z.string())
  .superRefine((formats, ctx) => {
    for (const [msgtype, format] of Object.entries(formats)) {
      const problem = relayFormatProblem(msgtype as RelayMsgtype, format);
      if (problem) ctx.addIssue({ code: "custom", path: [msgtype], message: problem });
    }
  })
  .transform((formats): RelayFormats => ({ ...DEFAULT_RELAY_FORMATS, ...formats }));

export const relayConfigSchema = z
  .strictObject({
    /** Relay mode: a group room's relay sends the messages of its members who have no People address. */
    enabled: z.boolean().default(false),
    /** Only the bridge's admins may set or unset a room's relay (else also room admins with an address). */
    admin_only: z.boolean().default(false),
    /** How a relayed message reads on People, per msgtype (the ones left out keep the default). */
    message_formats: formatsSchema.default(DEFAULT_RELAY_FORMATS),
  })
  .prefault({});

export type RelayConfig = z.infer<typeof relayConfigSchema>;

/** Who a relayed message names: the room's display name if it is safe to show, else the user id. */
export function relaySenderName(userId: string, displayName: unknown): string {
  return (typeof displayName === "string" && sanitizeProfileName(displayName)) || userId;
}

export type Relayed = { kind: "content"; content: Record<string, unknown> } | { kind: "not_relayed" };

type Json = Record<string, unknown>;

function fill(format: string, values: Record<string, string>): string {
  return format.replace(PLACEHOLDER, (_, key: string) => values[key] ?? "");
}

function isReply(content: Json): boolean {
  const rel = content["m.relates_to"];
  return !!rel && typeof rel === "object" && "m.in_reply_to" in rel;
}

/**
 * The content of `sender`'s message as the relay sends it: a text's body (and
 * HTML) written through the format of its msgtype, a media's caption too.
 * Edits (m.new_content) and anything but a relayable m.room.message are not relayed.
 */
export function relayedContent(
  type: string,
  content: Json,
  sender: { userId: string; name: string },
  formats: RelayFormats,
): Relayed {
  if (type !== "m.room.message") return { kind: "not_relayed" };
  const msgtype = content.msgtype;
  const format = RELAY_MSGTYPES.find((m) => m === msgtype);
  if (format === undefined || typeof content.body !== "string") return { kind: "not_relayed" };
  const rel = content["m.relates_to"] as { rel_type?: unknown } | undefined;
  if (rel?.rel_type === "m.replace" || "m.new_content" in content) return { kind: "not_relayed" };
  const template = formats[format];
  const who = { displayname: sender.name, user_id: sender.userId };
  if ((MEDIA_MSGTYPES as readonly string[]).includes(format)) {
    const filename = typeof content.filename === "string" ? content.filename : content.body;
    const own = typeof content.filename === "string" && content.filename !== content.body ? content.body : "";
    const head = fill(template, { ...who, filename });
    const { format: _f, formatted_body: _b, ...rest } = content;
    return { kind: "content", content: { ...rest, filename, body: own.trim() ? `${head}: ${own}` : head } };
  }
  const body = isReply(content) ? stripPlainReplyFallback(content.body) : content.body;
  const rich = typeof content.formatted_body === "string" ? content.formatted_body : "";
  // An empty message stays empty, so the converter answers it as it would anyone's.
  if (body.trim() === "" && rich.trim() === "") return { kind: "content", content };
  const html =
    content.format === HTML_FORMAT && typeof content.formatted_body === "string"
      ? content.formatted_body.replace(/<mx-reply>[\s\S]*?<\/mx-reply>/g, "")
      : escapeHtml(body).replace(/\n/g, "<br>");
  const escaped = Object.fromEntries(Object.entries(who).map(([k, v]) => [k, escapeHtml(v)]));
  // The format's own text is escaped as text; only the message keeps its HTML.
  const htmlFormat = template
    .split(PLACEHOLDER)
    .map((part, i) => (i % 2 === 0 ? escapeHtml(part) : `{${part}}`))
    .join("");
  return {
    kind: "content",
    content: {
      ...content,
      // An emote's "* " is in its format; a notice from a person is their message.
      msgtype: "m.text",
      body: fill(template, { ...who, message: body }),
      format: HTML_FORMAT,
      formatted_body: fill(htmlFormat, { ...escaped, message: html }),
    },
  };
}
