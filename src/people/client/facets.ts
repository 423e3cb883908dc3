// The parts of a PeopleClient its users see, each a narrow view of the class
// that implements it (the client exposes these, not the classes).
import type { Groups } from "./groups.js";
import type { Posts } from "./posts.js";
import type { Profiles } from "./profile.js";
import type { Realtime } from "./realtime.js";

/** Social groups owned by an account, keyed by epochs (groups.ts). */
export type GroupsFacet = Pick<
  Groups,
  | "createGroup"
  | "addMember"
  | "removeMember"
  | "rename"
  | "setDetails"
  | "members"
  | "get"
  | "list"
  | "events"
  | "keyFor"
>;
/** Group and public posts on the authors' feeds (posts.ts). */
export type PostsFacet = Pick<
  Posts,
  "post" | "postPublic" | "feed" | "deletePost" | "download" | "events" | "idle"
>;
/** Realtime data sessions between two devices (realtime.ts). */
export type RealtimeFacet = Pick<
  Realtime,
  "call" | "accept" | "decline" | "incoming" | "sessions" | "on" | "events"
>;
/** Public profiles: the own one set, anyone's read and verified (profile.ts). */
export type ProfileFacet = Pick<Profiles, "set" | "get" | "avatar">;
