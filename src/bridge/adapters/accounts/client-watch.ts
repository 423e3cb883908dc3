// What an account's PeopleClient reports goes to the log, by code only (details
// could name keys), and its outbox outcomes to the bridge's metrics and send status.
import type { PeopleClient } from "../../../people/client/people-client.js";
import { errorCode } from "../../../people/transient.js";
import type { OutboxReport } from "../../core/ports/people-side.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";

export interface ClientReports {
  delivery(): ((messageId: string, accepted: boolean) => void) | undefined;
  outbox(): ((report: OutboxReport) => void) | undefined;
}

export function watchClient(client: PeopleClient, user: MatrixUserId, log0: Logger, to: ClientReports): void {
  const log = log0.child({ user, address: client.address });
  client.on("keyChange", (e) =>
    log.warn({ kind: e.kind, subject: e.subject, code: e.code }, "a contact's keys changed"),
  );
  client.on("delivered", (e) => to.delivery()?.(e.messageId, true));
  client.on("undeliverable", (e) => to.delivery()?.(e.messageId, false));
  for (const kind of ["delivered", "deferred", "undeliverable"] as const) {
    client.on(kind, (e) =>
      to.outbox()?.({
        kind,
        // Read at each report: a moved account (`move`) sends as its new address.
        sender: client.address,
        messageId: e.messageId,
        address: e.address,
        ...(e.code !== undefined ? { code: e.code } : {}),
      }),
    );
  }
  client.on("rejected", (e) => log.warn({ code: e.code, from: e.from }, "rejected a People envelope"));
  client.on("held", (e) => log.warn({ from: e.from }, "holding mail from a contact whose keys changed"));
  client.on("undeliverable", (e) =>
    log.warn(
      { to: e.address, code: e.code, message: e.messageId },
      "a People message could not be delivered",
    ),
  );
  client.on("error", (e) => log.warn({ where: e.where, code: errorCode(e.error) }, "People client error"));
}
