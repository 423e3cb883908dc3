// /health of the metrics listener: both databases answer and the homeserver is connected.
import type { HealthReport } from "./metrics.js";
import type { ConnectionState } from "./homeserver.js";

const answers = (ping: () => Promise<void>): Promise<boolean> =>
  ping().then(
    () => true,
    () => false,
  );

export async function bridgeHealth(o: {
  store: { ping(): Promise<void> };
  peopleStore: { ping(): Promise<void> };
  connection: { readonly state: ConnectionState };
}): Promise<HealthReport> {
  const [bridgeDb, peopleDb] = await Promise.all([
    answers(() => o.store.ping()),
    answers(() => o.peopleStore.ping()),
  ]);
  const homeserver = o.connection.state;
  return {
    ok: bridgeDb && peopleDb && homeserver === "connected",
    homeserver,
    database: bridgeDb ? "ok" : "unavailable",
    people: peopleDb ? "ok" : "unavailable",
  };
}
