// One device per ghost, so the homeserver remembers the ghost's send
// transaction ids across its own restarts.
//
// Synapse deduplicates PUT /send/{type}/{txnId} in two places: an in-memory
// cache (lost when it stops) and the table event_txn_id_device_id, written
// only when the request names a device. A ghost acting through the appservice
// token with ?user_id= alone has no device, so a send that Synapse stored but
// could not answer before stopping was made a second time when the bridge
// repeated it after the restart (a duplicate in the portal). With
// ?device_id= the repeat is answered with the first event for a day
// (Synapse's event_txn_id_device_id cleanup). The device is created with
// PUT /devices/{id} as the appservice (MSC4190, Synapse 1.141+); on a
// homeserver that refuses it the ghost sends without a device, as before.
import type { Intent } from "matrix-appservice-bridge";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";

/** The device id every ghost sends from. Stable: the homeserver keys remembered transactions by it. */
export const GHOST_DEVICE_ID = "PEOPLE_BRIDGE";

type Client = Intent["matrixClient"];

/** A 4xx other than rate limiting: the homeserver will not create the device, however often asked. */
function refused(err: unknown): boolean {
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === "number" && status >= 400 && status < 500 && status !== 429;
}

export class GhostDevices {
  private readonly known = new Map<MatrixUserId, Promise<string | undefined>>();
  private warned = false;

  constructor(private readonly log: Logger) {}

  /**
   * The query parameters naming the ghost's device (empty when the homeserver has none for it).
   * Creates the device on first use in this process; a transient failure is thrown and asked again next time.
   */
  async query(ghost: MatrixUserId, client: Client): Promise<Record<string, string>> {
    let device = this.known.get(ghost);
    if (!device) {
      device = this.create(ghost, client);
      this.known.set(ghost, device);
      device.catch(() => this.known.delete(ghost));
    }
    const id = await device;
    return id ? { device_id: id } : {};
  }

  private async create(ghost: MatrixUserId, client: Client): Promise<string | undefined> {
    try {
      // An upsert: 201 when made, 200 when it existed (a restart of the bridge).
      await client.doRequest("PUT", `/_matrix/client/v3/devices/${GHOST_DEVICE_ID}`, null, {
        display_name: "People bridge",
      });
      return GHOST_DEVICE_ID;
    } catch (err) {
      if (!refused(err)) throw err;
      if (!this.warned) {
        this.warned = true;
        this.log.warn(
          { ghost, status: (err as { statusCode?: unknown }).statusCode },
          "the homeserver does not let the appservice create devices for ghosts (MSC4190); " +
            "ghost sends repeated after a homeserver restart may appear twice",
        );
      }
      return undefined;
    }
  }
}
