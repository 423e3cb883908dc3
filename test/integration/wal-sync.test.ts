// WalSync, the durability barrier of the stores that commit with
// synchronous=NORMAL: on a real SQLite file in WAL mode, callers asking at
// once share fsyncs, a caller arriving during an fsync gets one that starts
// after it, and a database without a WAL file is nothing to sync.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database, { type Database as SqliteDb } from "better-sqlite3";
import { WalSync } from "../../src/shared/wal-sync.js";

describe("WalSync: fsyncing a SQLite WAL before an acknowledgement", function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "wal-sync-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function open(file: string): SqliteDb {
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec("CREATE TABLE t (x INTEGER)");
    return db;
  }

  it("shares fsyncs: 50 callers at once cost at most two, and each resolves", async function () {
    const file = join(dir, "a.db");
    const db = open(file);
    const wal = new WalSync(file);
    const insert = db.prepare("INSERT INTO t VALUES (?)");
    const waits = Array.from({ length: 50 }, (_, i) => {
      insert.run(i);
      return wal.sync();
    });
    await Promise.all(waits);
    assert.ok(wal.syncs >= 1 && wal.syncs <= 2, `fsyncs: ${wal.syncs}`);
    db.close();
  });

  it("a caller arriving while an fsync runs gets one that starts after its commit", async function () {
    const file = join(dir, "b.db");
    const db = open(file);
    const wal = new WalSync(file);
    db.prepare("INSERT INTO t VALUES (1)").run();
    const first = wal.sync();
    db.prepare("INSERT INTO t VALUES (2)").run();
    const second = wal.sync();
    const third = wal.sync();
    assert.notEqual(first, second, "the second caller must not share the fsync already under way");
    assert.equal(second, third, "callers during one fsync share the next");
    await Promise.all([first, second, third]);
    assert.equal(wal.syncs, 2);
    // Sequential callers each get their own.
    await wal.sync();
    await wal.sync();
    assert.equal(wal.syncs, 4);
    db.close();
  });

  it("without a WAL file (closed cleanly, checkpointed) there is nothing to sync", async function () {
    const file = join(dir, "c.db");
    const db = open(file);
    db.prepare("INSERT INTO t VALUES (1)").run();
    db.close();
    const wal = new WalSync(file);
    await wal.sync();
    assert.equal(wal.syncs, 0);
    const reopened = new Database(file);
    assert.deepEqual(reopened.prepare("SELECT x FROM t").all(), [{ x: 1 }]);
    reopened.close();
  });
  /** This process's open file descriptors on `path` (Linux). */
  function openFds(path: string): number {
    return readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(path);
      } catch {
        return false;
      }
    }).length;
  }

  it("keeps the WAL open between fsyncs, follows a WAL made anew, and closes it on close()", async function () {
    const file = join(dir, "d.db");
    const wal = new WalSync(file);
    let db = open(file);
    db.prepare("INSERT INTO t VALUES (1)").run();
    const sqlites = openFds(`${file}-wal`); // SQLite's own
    await wal.sync();
    await wal.sync();
    assert.equal(wal.syncs, 2);
    assert.equal(openFds(`${file}-wal`), sqlites + 1, "one handle kept, not one per fsync");
    // Closing the database checkpoints and deletes the WAL; reopening makes a new file.
    db.close();
    db = new Database(file);
    db.pragma("synchronous = NORMAL");
    db.prepare("INSERT INTO t VALUES (2)").run();
    await wal.sync();
    assert.equal(wal.syncs, 3, "the new WAL is fsynced");
    // A handle on the deleted WAL would still be listed ("…-wal (deleted)").
    assert.equal(openFds(`${file}-wal`), sqlites + 1, "the deleted WAL's handle was let go");
    await wal.close();
    assert.equal(openFds(`${file}-wal`), sqlites);
    db.close();
  });
});
