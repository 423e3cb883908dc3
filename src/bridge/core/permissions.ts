// Who may use the bridge (bridge.permissions): the most specific entry wins,
// a full Matrix user ID over its server name over "*". A "relay" entry uses
// the bridge only through a group room's relay (relay mode): for everything
// else it is "none".
import type { PermissionEntry, PermissionLevel } from "../config.js";

export type Access = PermissionLevel | "none";

const RANK: Record<Access, number> = { none: 0, user: 1, admin: 2 };

export class Permissions {
  constructor(private readonly table: Readonly<Record<string, PermissionEntry>>) {}

  private entryOf(userId: string): PermissionEntry | undefined {
    const exact = this.table[userId];
    if (exact) return exact;
    const colon = userId.indexOf(":");
    const server = colon > 0 ? userId.slice(colon + 1) : undefined;
    const byServer =
      server === undefined ? undefined : (this.table[server.toLowerCase()] ?? this.table[server]);
    return byServer ?? this.table["*"];
  }

  levelOf(userId: string): Access {
    const entry = this.entryOf(userId);
    return entry === undefined || entry === "relay" ? "none" : entry;
  }

  allows(userId: string, needed: PermissionLevel): boolean {
    return RANK[this.levelOf(userId)] >= RANK[needed];
  }

  /** Whether a room's relay may send this user's messages (any entry, "relay" included). */
  mayBeRelayed(userId: string): boolean {
    return this.entryOf(userId) !== undefined;
  }
}
