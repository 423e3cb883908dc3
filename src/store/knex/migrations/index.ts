// The migrations, in order, handed to knex as a custom migrationSource: no
// directory globbing, so they load the same under tsx and from a bundle.
// Append only; the name is what knex_migrations records.

import type { Knex } from "knex";
import * as initial from "./001-initial.js";
import * as mailboxBytes from "./002-mailbox-bytes.js";
import * as profileUpdatedAt from "./003-profile-updated-at.js";
import * as invites from "./004-invites.js";
import * as moves from "./005-moves.js";
import * as sharedState from "./006-shared-state.js";
import * as clusterRelay from "./007-cluster-relay.js";

export interface NamedMigration {
  name: string;
  migration: Knex.Migration;
}

export const MIGRATIONS: readonly NamedMigration[] = [
  { name: "001-initial", migration: initial },
  { name: "002-mailbox-bytes", migration: mailboxBytes },
  { name: "003-profile-updated-at", migration: profileUpdatedAt },
  { name: "004-invites", migration: invites },
  { name: "005-moves", migration: moves },
  { name: "006-shared-state", migration: sharedState },
  { name: "007-cluster-relay", migration: clusterRelay },
];

export const migrationSource: Knex.MigrationSource<NamedMigration> = {
  getMigrations: () => Promise.resolve([...MIGRATIONS]),
  getMigrationName: (m) => m.name,
  getMigration: (m) => Promise.resolve(m.migration),
};
