// The live link of a bridge-made account: in-process while the account lives on
// the bridge's embedded People server, a WebSocket once it moved to another
// server (`move`, PROTOCOL §20). Chosen at each connection by the account's
// current address, since a move reconnects the same client to its new server.
import { webSocketTransport, type LiveTransport } from "../../../people/client/live-transport.js";
import { addressDomain, type PeopleAddress } from "../../../people/protocol/address.js";

export function heldAccountTransport(
  inProcess: LiveTransport,
  embeddedDomain: string,
  address: () => PeopleAddress | undefined,
): LiveTransport {
  return {
    open(o) {
      const current = address();
      const local = current === undefined || addressDomain(current) === embeddedDomain;
      return (local ? inProcess : webSocketTransport).open(o);
    },
  };
}
