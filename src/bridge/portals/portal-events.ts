// The portals' share of the appservice's room events: membership (ghost
// invites, portals ending) to the PortalService, everything else in a portal
// room to the Matrix → People flow. An unexpected failure asks the homeserver
// to resend the transaction for a while (RetryWindow) instead of being
// acknowledged silently; past the window it is logged and counted.
import { RetryLater, isRetryLater } from "../errors.js";
import type { EphemeralEvent, RoomEvent } from "../matrix-side.js";
import type { MatrixToPeopleFlow } from "./matrix-to-people-flow.js";
import type { PortalService } from "./portal-service.js";
import { RetryWindow } from "./retry-window.js";

export class PortalEvents {
  private readonly retry: RetryWindow;

  constructor(
    private readonly o: { service: PortalService; toPeople: MatrixToPeopleFlow; retry?: RetryWindow },
  ) {
    this.retry = o.retry ?? new RetryWindow();
  }

  async handle(event: RoomEvent): Promise<void> {
    try {
      await this.route(event);
      this.retry.succeeded(event.eventId);
    } catch (err) {
      if (isRetryLater(err)) throw err;
      if (this.retry.failed(event.eventId))
        throw new RetryLater("handling a portal event failed", { cause: err });
      throw err;
    }
  }

  /** Receipts and typing in a portal room, best effort: no portal is made for them, nothing retried. */
  async handleEphemeral(event: EphemeralEvent): Promise<void> {
    if (event.type !== "m.receipt" && event.type !== "m.typing") return;
    const portal = await this.o.service.byRoom(event.roomId);
    if (portal) await this.o.toPeople.handleEphemeral(event, portal);
  }

  private async route(event: RoomEvent): Promise<void> {
    if (event.type === "m.room.member") return this.o.service.onMember(event);
    const portal = await this.o.service.byRoom(event.roomId);
    if (portal) await this.o.toPeople.handle(event, portal);
  }
}
