// Matrix → People mappings waiting for their People outbox's fsync. A mapping
// makes a redelivered event a duplicate, so it is written only once the
// message is durably in the outbox (a power loss must not keep the one and
// lose the other); meanwhile the flow sees it here, so a later event of the
// same transaction (an edit, a reply, the same event again) finds it.
import type { MessageMapping } from "../core/ports/store.js";

export class PendingMappings {
  private readonly byEvent = new Map<string, MessageMapping>();

  has(matrixEventId: string): boolean {
    return this.byEvent.has(matrixEventId);
  }

  /** The pending mappings of `roomId` among `ids`. */
  inRoom(roomId: string, ids: readonly string[]): MessageMapping[] {
    return ids.flatMap((id) => {
      const m = this.byEvent.get(id);
      return m && m.roomId === roomId ? [m] : [];
    });
  }

  /** Holds `mapping` until `write` (the fsync, then the mapping's own write) settled; returns `write`. */
  hold(mapping: MessageMapping, write: Promise<void>): Promise<void> {
    this.byEvent.set(mapping.matrixEventId, mapping);
    return write.finally(() => this.byEvent.delete(mapping.matrixEventId));
  }
}
