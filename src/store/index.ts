// The People server's persistence: the PeopleStore contract and its knex implementation.

export { openStore, type OpenStoreOptions } from "./knex/open-store.js";
export { formatMailHint, MAIL_HINT_CHANNEL, parseMailHint, type MailHint } from "./mail-hint.js";
export type * from "./types.js";
