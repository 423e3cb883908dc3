// The signed inner message and every content type it can carry. This is the
// one place their shapes are defined; a received message is validated here
// once, after its signature verified, and is typed from then on.
import { z } from "zod";
import { isPeopleAddress } from "./address.js";
import { parseFingerprint } from "./sdp-fingerprint.js";

const id16 = z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/);
const key32 = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
const address = z.string().min(3).max(254);
/** An address that must already be canonical (what parseCanonicalAddress accepts). */
// Not a type predicate: MessageContent stays plain strings, what senders build it from.
const canonicalAddress = address.refine((s): boolean => isPeopleAddress(s), "not a canonical People address");
const ms = z.number().int().min(0).max(8.64e15);
const shortText = z.string().max(256);

export const MAX_TEXT = 64 * 1024;
/** Longest `rt_frame.frame`: base64url of one sealed frame (a largest data frame needs 43 726). */
export const MAX_RT_FRAME_TEXT = 48 * 1024;
/** Longest `rt_answer.direct`. */
export const MAX_DIRECT_URL = 256;

const DIRECT_URL = /^wss?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;

/**
 * A direct endpoint as `rt_answer.direct` carries it: exactly `ws://host:port` or
 * `wss://host:port`, the host a DNS name, IPv4 or bracketed IPv6 address, an
 * explicit port 1–65535, and nothing else (no user information, path, query or fragment).
 */
export function isDirectEndpoint(url: string): boolean {
  if (url.length > MAX_DIRECT_URL) return false;
  const m = DIRECT_URL.exec(url);
  if (!m) return false;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return false;
  try {
    const parsed = new URL(url);
    return parsed.hostname !== "" && parsed.pathname === "/" && !parsed.search && !parsed.hash;
  } catch {
    return false;
  }
}

/** The longest SDP an offer or answer carries. */
export const MAX_SDP = 32 * 1024;
const sdpText = z.string().min(1).max(MAX_SDP);
/** "sha-256 AB:…" as an a=fingerprint line carries it; checked against the SDP by sdp-fingerprint.ts. */
const fingerprintText = z
  .string()
  .max(256)
  .refine((f) => parseFingerprint(f) !== undefined, "not a DTLS fingerprint (sha-256 AB:CD:…)");

export const iceCandidateSchema = z.strictObject({
  /** The candidate attribute ("candidate:…", without "a="), or "" for the end of candidates. */
  candidate: z
    .string()
    .max(1024)
    .refine((c) => c === "" || /^candidate:[\x21-\x7e][\x20-\x7e]*$/.test(c), "not an ICE candidate line"),
  mid: z.string().max(64).optional(),
  index: z.number().int().min(0).max(255).optional(),
});
export type IceCandidate = z.infer<typeof iceCandidateSchema>;

/** A data offer has `eph`; a call has `sdp` and `dtls_fingerprint` instead. */
function sessionParts(o: {
  media: string;
  eph?: string | undefined;
  sdp?: string | undefined;
  dtls_fingerprint?: string | undefined;
}): boolean {
  if (o.media === "data")
    return o.eph !== undefined && o.sdp === undefined && o.dtls_fingerprint === undefined;
  return o.eph === undefined && o.sdp !== undefined && o.dtls_fingerprint !== undefined;
}

const formattedText = {
  body: z.string().max(MAX_TEXT),
  /** HTML in Matrix's allowed subset; receivers sanitize again before display. */
  html: z
    .string()
    .max(2 * MAX_TEXT)
    .optional(),
};

/** A group's topic and picture travel with its key (PROTOCOL §11.2 "Group details"). */
export const MAX_GROUP_TOPIC = 1024;
export const MAX_GROUP_AVATAR_BYTES = 1024 * 1024;

export const blobRefSchema = z.strictObject({
  /** Domain of the server holding the blob (the sender's own). */
  server: z.string().max(253),
  id: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  key: key32,
  /** SHA-256 of the encrypted blob, base64url. */
  hash: key32,
  mime: z
    .string()
    .max(255)
    .regex(/^[\w.+-]+\/[\w.+-]+$/),
  size: z
    .number()
    .int()
    .min(0)
    .max(2 ** 40),
  name: z.string().max(255).optional(),
  width: z.number().int().min(0).max(65535).optional(),
  height: z.number().int().min(0).max(65535).optional(),
  duration_ms: z.number().int().min(0).optional(),
});
export type BlobRef = z.infer<typeof blobRefSchema>;

export const groupTopicSchema = z.string().max(MAX_GROUP_TOPIC);
/** A group's picture: a raster image (SVG can carry script) of at most 1 MiB. */
export const groupAvatarSchema = blobRefSchema
  .refine((b) => /^image\/[\w.+-]+$/.test(b.mime) && b.mime !== "image/svg+xml", "a raster image")
  .refine((b) => b.size <= MAX_GROUP_AVATAR_BYTES, "at most 1 MiB");

/** The attachment kinds this version knows; any other well-formed kind is shown as a plain file. */
export const ATTACHMENT_KINDS = ["voice", "sticker"] as const;
/** Open on purpose: a later kind must not make this version refuse the whole message. */
const attachmentKind = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/);
export const MAX_WAVEFORM = 1024;
/** A post of someone's feed that a message answers (PROTOCOL §11.2 "Answering a post"). */
export const postRefSchema = z.strictObject({ author: canonicalAddress, post_id: id16 });
export type PostRef = z.infer<typeof postRefSchema>;

export const contentSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("text"),
    ...formattedText,
    reply_to: id16.optional(),
    in_reply_to_post: postRefSchema.optional(),
  }),
  z.strictObject({ type: z.literal("edit"), target: id16, ...formattedText }),
  z.strictObject({ type: z.literal("reaction"), target: id16, key: shortText }),
  z.strictObject({ type: z.literal("redaction"), target: id16, reason: shortText.optional() }),
  z.strictObject({ type: z.literal("receipt"), targets: z.array(id16).min(1).max(100) }),
  z.strictObject({
    type: z.literal("typing"),
    active: z.boolean(),
    timeout_ms: z.number().int().min(0).max(120_000),
  }),
  z.strictObject({
    type: z.literal("attachment"),
    blob: blobRefSchema,
    thumbnail: blobRefSchema.optional(),
    caption: z.string().max(MAX_TEXT).optional(),
    reply_to: id16.optional(),
    /**
     * How to show it (ATTACHMENT_KINDS): a client that does not know the kind shows the blob as
     * the plain file its mime says, so a new kind never hides a message from such a client.
     */
    kind: attachmentKind.optional(),
    /** A voice message's waveform: amplitudes 0–1024 over its duration. */
    waveform: z.array(z.number().int().min(0).max(1024)).max(MAX_WAVEFORM).optional(),
  }),
  z.strictObject({
    type: z.literal("group_key"),
    group: id16,
    epoch: z.number().int().min(0),
    key: key32,
    members: z.array(canonicalAddress).max(1024),
    /** The group's name, so every member knows it (not only the owner's creating device). */
    name: z.string().min(1).max(256).optional(),
    /** The group's topic ("" when it has none); absent: unchanged. */
    topic: groupTopicSchema.optional(),
    /** The group's picture (its key sealed with the epoch key); null: removed; absent: unchanged. */
    avatar: groupAvatarSchema.nullable().optional(),
  }),
  z.strictObject({
    type: z.literal("post_notice"),
    author: canonicalAddress,
    group: id16,
    post: id16,
    epoch: z.number().int().min(0),
  }),
  /** A reaction to a post (the author's own feed entry), sent to its author. */
  z.strictObject({ type: z.literal("post_reaction"), post: postRefSchema, key: shortText.min(1) }),
  z
    .strictObject({
      type: z.literal("rt_offer"),
      session: id16,
      /** Ephemeral X25519 key of the caller's device for a data session's key exchange. */
      eph: key32.optional(),
      media: z.enum(["data", "voice", "video"]),
      /** A voice or video call: the caller's SDP offer and the DTLS fingerprint it names (PROTOCOL §11.3). */
      sdp: sdpText.optional(),
      dtls_fingerprint: fingerprintText.optional(),
    })
    .refine(
      sessionParts,
      "a data offer carries eph; a voice or video offer carries sdp and dtls_fingerprint",
    ),
  z
    .strictObject({
      type: z.literal("rt_answer"),
      session: id16,
      eph: key32.optional(),
      /** The callee's direct endpoint for a data session (PROTOCOL §11.3). */
      direct: z
        .string()
        .max(MAX_DIRECT_URL)
        .refine(isDirectEndpoint, "not a ws:// or wss:// host:port URL")
        .optional(),
      sdp: sdpText.optional(),
      dtls_fingerprint: fingerprintText.optional(),
    })
    .refine(
      (a) =>
        (a.eph !== undefined) !== (a.sdp !== undefined) &&
        (a.sdp !== undefined) === (a.dtls_fingerprint !== undefined),
      "an answer carries eph (data) or sdp and dtls_fingerprint (a call)",
    ),
  z.strictObject({
    type: z.literal("rt_candidate"),
    session: id16,
    /** Trickled ICE candidates; an empty `candidate` marks the end of them. */
    candidates: z.array(iceCandidateSchema).min(1).max(64),
  }),
  z.strictObject({
    /** One sealed frame of a realtime session sent over the envelope transport (PROTOCOL §11.3). */
    type: z.literal("rt_frame"),
    session: id16,
    frame: z
      .string()
      .min(1)
      .max(MAX_RT_FRAME_TEXT)
      .regex(/^[A-Za-z0-9_-]+$/)
      .refine((s) => s.length % 4 !== 1, "frame is not base64url"),
  }),
  z.strictObject({
    type: z.literal("rt_hangup"),
    session: id16,
    reason: z.enum(["normal", "busy", "declined", "failed", "timeout"]),
  }),
  z.strictObject({
    type: z.literal("move_notice"),
    /** The account-signed move statement, verified by the receiver against the pinned account key. */
    notice: z.strictObject({ body: z.string().max(4096), sig: z.string().max(128) }),
  }),
  z.strictObject({
    type: z.literal("delivery_token"),
    token: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
    expires: ms,
  }),
  /** Device linking between a new device and one of the account's own devices (never shown as a message). */
  z.strictObject({ type: z.literal("device_link"), document: z.string().max(16 * 1024) }),
]);

export type MessageContent = z.infer<typeof contentSchema>;
export type MessageType = MessageContent["type"];

export const innerMessageSchema = z.strictObject({
  v: z.literal(1),
  id: id16,
  from: address,
  device: z.string().max(64),
  ts: ms,
  exp: ms,
  to: z.array(address).min(1).max(1024),
  /** Commitment to the content key: SHA-256 of "people/v1 content-key\0" || key. */
  ck: key32,
  content: contentSchema,
});

export type InnerMessageJson = z.infer<typeof innerMessageSchema>;
