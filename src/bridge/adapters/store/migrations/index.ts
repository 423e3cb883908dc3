// The bridge's migrations, in order, as a knex migrationSource (no directory
// globbing). Append only; knex records the names in `bridge_migrations`.

import type { Knex } from "knex";
import * as initial from "./001-initial.js";
import * as portals from "./002-portals.js";
import * as groups from "./003-groups.js";
import * as catchup from "./004-catchup.js";
import * as ghostProfiles from "./005-ghost-profiles.js";
import * as crypto from "./006-crypto.js";
import * as ghostNames from "./007-ghost-names.js";
import * as senderCreations from "./008-sender-creations.js";
import * as eventRetries from "./009-event-retries.js";
import * as managementRooms from "./010-management-rooms.js";
import * as sendStatus from "./011-send-status.js";
import * as feeds from "./012-feeds.js";
import * as roomRelays from "./013-room-relays.js";
import * as logins from "./014-logins.js";
import * as postGroups from "./015-post-groups.js";
import * as personalSpaces from "./016-personal-spaces.js";
import * as calls from "./017-calls.js";
import * as cryptoRecords from "./018-crypto-records.js";
import * as doublePuppets from "./019-double-puppets.js";
import * as postRoomCursors from "./020-post-room-cursors.js";
import * as portalOwner from "./021-portal-owner.js";
import * as feedRoomProfile from "./022-feed-room-profile.js";
import * as rtcCalls from "./023-rtc-calls.js";
import * as lazyAccounts from "./024-lazy-accounts.js";
import * as addressLookups from "./025-address-lookups.js";
import * as bridgeStateRecords from "./026-bridge-state-records.js";

export interface NamedMigration {
  name: string;
  migration: Knex.Migration;
}

export const BRIDGE_MIGRATIONS_TABLE = "bridge_migrations";

export const BRIDGE_MIGRATIONS: readonly NamedMigration[] = [
  { name: "001-initial", migration: initial },
  { name: "002-portals", migration: portals },
  { name: "003-groups", migration: groups },
  { name: "004-catchup", migration: catchup },
  { name: "005-ghost-profiles", migration: ghostProfiles },
  { name: "006-crypto", migration: crypto },
  { name: "007-ghost-names", migration: ghostNames },
  { name: "008-sender-creations", migration: senderCreations },
  { name: "009-event-retries", migration: eventRetries },
  { name: "010-management-rooms", migration: managementRooms },
  { name: "011-send-status", migration: sendStatus },
  { name: "012-feeds", migration: feeds },
  { name: "013-room-relays", migration: roomRelays },
  { name: "014-logins", migration: logins },
  { name: "015-post-groups", migration: postGroups },
  { name: "016-personal-spaces", migration: personalSpaces },
  { name: "017-calls", migration: calls },
  { name: "018-crypto-records", migration: cryptoRecords },
  { name: "019-double-puppets", migration: doublePuppets },
  { name: "020-post-room-cursors", migration: postRoomCursors },
  { name: "021-portal-owner", migration: portalOwner },
  { name: "022-feed-room-profile", migration: feedRoomProfile },
  { name: "023-rtc-calls", migration: rtcCalls },
  { name: "024-lazy-accounts", migration: lazyAccounts },
  { name: "025-address-lookups", migration: addressLookups },
  { name: "026-bridge-state-records", migration: bridgeStateRecords },
];

export const bridgeMigrationSource: Knex.MigrationSource<NamedMigration> = {
  getMigrations: () => Promise.resolve([...BRIDGE_MIGRATIONS]),
  getMigrationName: (m) => m.name,
  getMigration: (m) => Promise.resolve(m.migration),
};
