// The types PeopleClient's users need, re-exported from people-client.ts in one line.
export type { ClientOptions } from "./client-core.js";
export type { GroupInfo, GroupUpdate } from "./groups.js";
export type { FeedResult, Post, PostInput, PublishedPost, UnopenablePost } from "./post-types.js";
export type { IncomingCall, RtSession, RtTransport } from "./realtime.js";
export type { AvatarRef, Profile, ProfileInput } from "./profile.js";
export type { TransferOptions } from "./attachments.js";
export type { GroupsFacet, PostsFacet, ProfileFacet, RealtimeFacet } from "./facets.js";
export type { MoveResult } from "./client-moves.js";
