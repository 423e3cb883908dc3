// A People read receipt or typing state in a portal, as the ghost's: best effort,
// only into a room that exists; a failure is logged and dropped, never retried.
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import type { IncomingMessage, PeopleAccount } from "../core/ports/people-side.js";
import type { ToMatrix } from "../model/people-to-matrix.js";

export async function ephemeralToMatrix(
  o: { ghosts: GhostSide; metrics: BridgeMetrics },
  account: PeopleAccount,
  m: IncomingMessage,
  roomId: string,
  result: Extract<ToMatrix, { kind: "receipt" | "typing" }>,
  log: Logger,
): Promise<void> {
  const ghost = o.ghosts.ghostId(m.from);
  try {
    if (result.kind === "receipt") {
      const latest = result.eventIds.at(-1);
      if (latest) await o.ghosts.sendReadReceipt(ghost, roomId, latest);
    } else {
      await o.ghosts.sendTyping(ghost, roomId, result.active, result.timeoutMs);
    }
    o.metrics.bridged("to_matrix", m.content.type);
  } catch (err) {
    log.debug({ err, kind: result.kind, user: account.owner }, "a receipt or typing did not reach Matrix");
  }
}
