// Who may use the bridge (bridge.permissions): the most specific entry wins,
// a full Matrix user ID over its server name over "*".
import type { PermissionLevel } from "./config.js";

export type Access = PermissionLevel | "none";

const RANK: Record<Access, number> = { none: 0, user: 1, admin: 2 };

export class Permissions {
  constructor(private readonly table: Readonly<Record<string, PermissionLevel>>) {}

  levelOf(userId: string): Access {
    const exact = this.table[userId];
    if (exact) return exact;
    const colon = userId.indexOf(":");
    const server = colon > 0 ? userId.slice(colon + 1) : undefined;
    const byServer =
      server === undefined ? undefined : (this.table[server.toLowerCase()] ?? this.table[server]);
    return byServer ?? this.table["*"] ?? "none";
  }

  allows(userId: string, needed: PermissionLevel): boolean {
    return RANK[this.levelOf(userId)] >= RANK[needed];
  }
}
