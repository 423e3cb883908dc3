// A bridge-made account's PeopleClient: its store opened, or the account
// registered on the embedded server (with the bridge's registration token) when
// the user has none yet.
import { isPeopleError } from "../../../people/errors.js";
import { PeopleClient, type ClientOptions } from "../../../people/client/people-client.js";
import type { LiveTransport } from "../../../people/client/live-transport.js";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import { userError } from "../../core/error-kinds.js";
import { heldAccountTransport } from "./held-transport.js";

export async function openOrCreateClient(o: {
  options: ClientOptions;
  owner: MatrixUserId;
  address: PeopleAddress;
  peopleDomain: string;
  /** The in-process link to the embedded server, when there is one. */
  live: LiveTransport | undefined;
  registrationToken: string;
  log: Logger;
}): Promise<PeopleClient> {
  let opened: PeopleClient | undefined;
  const { live, address, owner } = o;
  // An account moved off the embedded server (`move`) reaches its new one over a WebSocket.
  const options = live
    ? { ...o.options, liveTransport: heldAccountTransport(live, o.peopleDomain, () => opened?.address) }
    : o.options;
  try {
    return (opened = await PeopleClient.open(options));
  } catch (err) {
    if (!isPeopleError(err, "PEOPLE_NOT_FOUND")) throw err;
  }
  try {
    const client = (opened = await PeopleClient.create({ ...options, address, invite: o.registrationToken }));
    o.log.info({ user: owner, address, device: client.device }, "created a People account");
    return client;
  } catch (err) {
    if (isPeopleError(err, "PEOPLE_FORBIDDEN")) {
      throw userError(
        `The People address ${address} is taken on this server by someone else. Ask the bridge's admin.`,
        "registering the user's People account was refused",
        { cause: err },
      );
    }
    throw err;
  }
}
