// The persistence contract of the features beside the portals: feed rooms, post rooms, personal
// spaces, room relays, calls (part of types.ts, which re-exports it).

/** A feed room: one Matrix user following one People address (`follow`). */
export interface FeedRoom {
  roomId: string;
  matrixUser: string;
  author: string;
  /** The author's feed position read up to. */
  cursor: number;
  createdAt: number;
  /** The room name last set from the author's profile; absent when not known. */
  shownName?: string;
  /** The hash of the avatar last set from the profile ("" for none); absent when not known. */
  shownAvatar?: string;
}

/** A post of a feed room: shown (its first event), waiting for its epoch key, or retracted. */
export interface FeedPost {
  roomId: string;
  postId: string;
  seq: number;
  state: "shown" | "waiting" | "retracted";
  group?: string;
  eventId?: string;
}

export interface FeedStore {
  /** Records a new feed room; false when the user already follows the author (the row kept). */
  putRoom(room: FeedRoom): Promise<boolean>;
  roomOf(matrixUser: string, author: string): Promise<FeedRoom | undefined>;
  byRoom(roomId: string): Promise<FeedRoom | undefined>;
  rooms(): Promise<FeedRoom[]>;
  /** Moves the cursor forward (never back). */
  advance(roomId: string, cursor: number): Promise<void>;
  /** Records the name and avatar hash the room now shows from its author's profile. */
  setShown(roomId: string, shown: { name: string; avatar: string }): Promise<void>;
  /** Forgets the room, its posts and events. */
  removeRoom(roomId: string): Promise<void>;
  post(roomId: string, postId: string): Promise<FeedPost | undefined>;
  /** Inserts or replaces the post's row; `events` (the Matrix events it became) are added. */
  putPost(post: FeedPost, events?: readonly string[], now?: number): Promise<void>;
  /** The posts of the room waiting for a key of `group` (any group without it), by seq. */
  waiting(roomId: string, group?: string): Promise<FeedPost[]>;
  /** Every Matrix event a post became. */
  eventsOf(roomId: string, postId: string): Promise<string[]>;
  /** The post a Matrix event of the room shows. */
  postOfEvent(roomId: string, eventId: string): Promise<string | undefined>;
}

/** A post room: what its owner writes there is posted to a post group they own, or publicly. */
export interface PostRoom {
  roomId: string;
  matrixUser: string;
  /** The post group's id, or "public". */
  audience: string;
  createdAt: number;
}

export interface PostRoomStore {
  /** Records a new post room; false when the user has one for that audience already (the row kept). */
  put(room: PostRoom): Promise<boolean>;
  byRoom(roomId: string): Promise<PostRoom | undefined>;
  of(matrixUser: string, audience: string): Promise<PostRoom | undefined>;
  rooms(): Promise<PostRoom[]>;
  remove(roomId: string): Promise<void>;
  /** Records the post a Matrix event of the room became (a second record of one event is ignored). */
  putEvent(roomId: string, eventId: string, postId: string): Promise<void>;
  postOfEvent(roomId: string, eventId: string): Promise<string | undefined>;
  /** The position of the author's feed the room has read up to (0: nothing read yet). */
  cursorOf(roomId: string, author: string): Promise<number>;
  /** Moves the room's cursor of the author's feed forward (never back). */
  putCursor(roomId: string, author: string, cursor: number): Promise<void>;
}

/** Each Matrix user's personal space (bridge.personal_space) and the rooms added to it. */
export interface PersonalSpaceStore {
  spaceOf(matrixUser: string): Promise<string | undefined>;
  /** Records the user's space (a second one for the same user is ignored). */
  putSpace(matrixUser: string, roomId: string, now: number): Promise<void>;
  hasChild(spaceId: string, roomId: string): Promise<boolean>;
  putChild(spaceId: string, roomId: string): Promise<void>;
}

/** The relay of a group room (relay mode): whose People account sends for members without an address. */
export interface RoomRelay {
  roomId: string;
  matrixUser: string;
  createdAt: number;
}

export interface RoomRelayStore {
  /** Sets the room's relay (replacing the one it had). */
  put(relay: RoomRelay): Promise<void>;
  get(roomId: string): Promise<RoomRelay | undefined>;
  /** True when the room had a relay. */
  remove(roomId: string): Promise<boolean>;
}

/** A call bridged between a Matrix client and a People device, while it rings or runs. */
export interface BridgedCall {
  callId: string;
  /** The People session id. */
  session: string;
  roomId: string;
  matrixUser: string;
  peopleAddress: string;
  /** to_people: the Matrix user called the address; to_matrix: the address called the user. */
  direction: "to_people" | "to_matrix";
  /** The People device in the call, once known (the ghost's party id). */
  peopleDevice: string | undefined;
  createdAt: number;
  /** When it ended (kept a while, so a call event read again does not start it anew). */
  endedAt?: number | undefined;
}

export interface BridgedCallStore {
  /** Records a call (one per call id and per session). */
  put(call: BridgedCall): Promise<void>;
  setPeopleDevice(callId: string, device: string): Promise<void>;
  /** The call, ended or not. */
  byCallId(callId: string): Promise<BridgedCall | undefined>;
  bySession(session: string): Promise<BridgedCall | undefined>;
  /** The calls not ended. */
  all(): Promise<BridgedCall[]>;
  end(callId: string, at: number): Promise<void>;
  /** Forgets the calls that ended before `before`. */
  prune(before: number): Promise<void>;
}

/** The bridge's double-puppet login for one Matrix user (bridge.double_puppet). */
export interface DoublePuppetRecord {
  matrixUser: string;
  deviceId: string;
  /** The access token, sealed with a key derived from the bridge secret (never stored in clear). */
  sealedToken: Buffer;
  createdAt: number;
}

export interface DoublePuppetStore {
  /** Inserts or replaces the user's login (a new one after the old token was refused). */
  put(record: DoublePuppetRecord): Promise<void>;
  of(matrixUser: string): Promise<DoublePuppetRecord | undefined>;
  remove(matrixUser: string): Promise<void>;
}

/** A MatrixRTC call bridged to a People call (adapters/rtc), kept while it rings or runs. */
export interface RtcCallRecord {
  callId: string;
  roomId: string;
  matrixUser: string;
  peopleAddress: string;
  ghost: string;
  direction: "to_people" | "to_matrix";
  media: "voice" | "video";
  state: "ringing" | "active";
  session?: string | undefined;
  /** The ghost's device once it joined the Matrix call (its membership's state key names it). */
  ghostDevice?: string | undefined;
  /** The homeserver's id of the ghost's delayed leave (MSC4140). */
  delayId?: string | undefined;
  answeredAt?: number | undefined;
  createdAt: number;
}

export interface RtcCallStore {
  /** Records a new call (durable when it resolves); a call id already recorded is kept. */
  put(call: RtcCallRecord): Promise<void>;
  /** Changes what a call learnt since (its session, the ghost's device, its delayed leave, the answer). */
  update(
    callId: string,
    change: Partial<Pick<RtcCallRecord, "state" | "session" | "ghostDevice" | "delayId" | "answeredAt">>,
  ): Promise<void>;
  /** Every call recorded, oldest first (at start: the calls a crash cut). */
  all(): Promise<RtcCallRecord[]>;
  remove(callId: string): Promise<void>;
}

/** A participant of a group room: a ghost's address, or a bridged Matrix user's People address. */
export interface GroupMember {
  address: string;
  /** Set for a bridged Matrix user (the address is their People account). */
  matrixUser?: string;
}

/** A group portal: the room of a People conversation with several participants. */
export interface GroupPortal {
  roomId: string;
  /** The current participant set, sorted by address. */
  members: GroupMember[];
  createdAt: number;
}

export interface GroupPortalStore {
  /**
   * Records the room's current members (replacing what it had). Another room
   * with the same set stops being a portal; its id is returned so its ghosts
   * can leave. Atomic: on any failure nothing changes.
   */
  put(portal: GroupPortal): Promise<{ replaced?: string }>;
  byRoom(roomId: string): Promise<GroupPortal | undefined>;
  /** The room whose current set has this key (participant-set.ts setKey). */
  bySetKey(key: string): Promise<GroupPortal | undefined>;
  /** The bridged Matrix users in a group room with this People address (one indexed query). */
  matrixUsersWith(address: string): Promise<string[]>;
  /** The group rooms in which any of these People messages were bridged. */
  roomsOfMessages(peopleMessageIds: readonly string[]): Promise<string[]>;
  remove(roomId: string): Promise<void>;
  count(): Promise<number>;
  /** Every group portal with its members, oldest first (bridge state events at start). */
  list(): Promise<GroupPortal[]>;
}
