// A contact's account key changes, moves and signed continuations of one account go to the
// bridge's key-change handler (trust notices in the portals).
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { KeyChangeHandler } from "../../core/ports/people-side.js";
import type { Logger } from "../../logger.js";
import type { ClientAccount } from "./client-account.js";

export function watchKeys(
  account: ClientAccount,
  log0: Logger,
  handlerOf: () => KeyChangeHandler | undefined,
): void {
  const log = log0.child({ user: account.owner, address: account.address });
  const tell = (change: Parameters<KeyChangeHandler>[1]): void => {
    const handler = handlerOf();
    if (!handler || change.address === account.address) return;
    void handler(account, change).catch((err: unknown) =>
      log.warn({ err, contact: change.address, kind: change.kind }, "telling a key change failed"),
    );
  };
  account.client.on("keyChange", (e) => {
    if (e.kind !== "account") return;
    let address: PeopleAddress;
    try {
      address = parseAddress(e.subject);
    } catch {
      return;
    }
    tell({ kind: "unexplained", address, code: e.code });
  });
  account.client.on("contactMoved", (e) => {
    try {
      tell({ kind: "moved", address: parseAddress(e.from), to: parseAddress(e.to) });
    } catch {
      return;
    }
  });
  account.client.on("moveRefused", (e) => {
    log.warn({ contact: e.from, code: e.code }, "refused a move notice not signed by the pinned account key");
    try {
      tell({ kind: "move_refused", address: parseAddress(e.from), code: e.code });
    } catch {
      return;
    }
  });
  account.client.on("contactUpdate", (e) => {
    let address: PeopleAddress;
    try {
      address = parseAddress(e.address);
    } catch {
      return;
    }
    tell({ kind: "continued", address, added: e.added, rotated: e.rotated, removed: e.removed });
  });
}
