// ClusterListener on a real PostgreSQL: hints another process NOTIFYs in its
// storing transaction arrive, its own and malformed ones do not; when its
// connection is cut it reconnects and asks every socket to re-read its
// mailbox (onResync), then hints flow again.
import assert from "node:assert/strict";
import knex, { type Knex } from "knex";
import { ClusterListener } from "../../src/people/server/cluster-notify.js";
import { createLogger } from "../../src/people/server/logger.js";
import { formatMailHint, MAIL_HINT_CHANNEL } from "../../src/store/index.js";
import { testPostgres } from "../helpers/postgres.js";

const ME = "00000000000000aa";
const OTHER = "00000000000000bb";

describe("ClusterListener (LISTEN/NOTIFY between server processes)", function () {
  this.timeout(180_000);
  let db: Knex;
  let listener: ClusterListener;
  const hints: string[] = [];
  let resyncs = 0;
  let changed: () => void = () => {};
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise<void>((r) => (changed = r));
  };
  const notify = (payload: string) => db.raw("select pg_notify(?, ?)", [MAIL_HINT_CHANNEL, payload]);

  before(async function () {
    this.timeout(180_000);
    const connection = await (await testPostgres()).createDatabase("cluster-listener");
    db = knex({ client: "pg", connection, pool: { min: 0, max: 2 } });
    listener = new ClusterListener({
      connection,
      origin: ME,
      log: createLogger("silent"),
      onHint: (address, devices) => {
        hints.push(`${address}:${devices.join(",")}`);
        changed();
      },
      onResync: () => {
        resyncs++;
        changed();
      },
    });
    await listener.start();
  });

  after(async () => {
    await listener?.close();
    await db?.destroy();
  });

  it("passes on other processes' hints and skips its own and malformed ones", async () => {
    assert.equal(resyncs, 1, "listening at start counts as a resync");
    await notify(formatMailHint({ origin: ME, address: "mine@x", devices: ["d"] })[0]!);
    await notify('{"o":"zz","a":"bad@x","d":["d"]}');
    await notify(formatMailHint({ origin: OTHER, address: "joe@x", devices: ["d1", "d2"] })[0]!);
    await until(() => hints.length >= 1);
    assert.deepEqual(hints, ["joe@x:d1,d2"]);
  });

  it("reconnects after its connection is cut, resyncs, and hears hints again", async () => {
    const cut = (await db.raw(
      "select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = current_database() and query ilike 'LISTEN%'",
    )) as { rows: { ok: boolean }[] };
    assert.equal(cut.rows.length, 1, "one listening connection");
    await until(() => resyncs >= 2);
    await notify(formatMailHint({ origin: OTHER, address: "ann@x", devices: ["d"] })[0]!);
    await until(() => hints.includes("ann@x:d"));
  });
});
