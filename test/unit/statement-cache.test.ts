// The per-connection statement cache knex's SQLite connections and the clients' stores get
// (src/shared/statement-cache.ts): on a real better-sqlite3 database, the
// same SQL gives the same statement, results stay right across inserts and a
// schema change, and the cache is bounded.
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { cacheStatements, statementCounts } from "../../src/shared/statement-cache.js";

describe("statement cache for knex's SQLite connections", function () {
  it("returns the statement prepared before for the same SQL, and the results stay right", function () {
    const db = new Database(":memory:");
    cacheStatements(db);
    db.prepare("CREATE TABLE t (x INTEGER)").run();
    const insert = db.prepare("INSERT INTO t VALUES (?)");
    assert.equal(db.prepare("INSERT INTO t VALUES (?)"), insert);
    insert.run(1);
    db.prepare("INSERT INTO t VALUES (?)").run(2);
    const select = "SELECT x FROM t ORDER BY x";
    assert.deepEqual(db.prepare(select).all(), [{ x: 1 }, { x: 2 }]);
    assert.notEqual(db.prepare("SELECT x FROM t WHERE x = ?"), db.prepare(select));
    db.close();
  });

  it("a kept statement sees a schema change made after it was prepared", function () {
    const db = new Database(":memory:");
    cacheStatements(db);
    db.prepare("CREATE TABLE t (x INTEGER)").run();
    db.prepare("INSERT INTO t VALUES (?)").run(1);
    assert.deepEqual(db.prepare("SELECT * FROM t").all(), [{ x: 1 }]);
    db.prepare("ALTER TABLE t ADD COLUMN y TEXT").run();
    db.prepare("UPDATE t SET y = ?").run("a");
    assert.deepEqual(db.prepare("SELECT * FROM t").all(), [{ x: 1, y: "a" }]);
    db.close();
  });

  it("keeps at most `max` statements, starting over past it", function () {
    let prepared = 0;
    const conn = { prepare: (sql: string) => ({ sql, n: ++prepared }) };
    cacheStatements(conn, 3);
    const a = conn.prepare("a");
    conn.prepare("b");
    conn.prepare("c");
    assert.equal(conn.prepare("a"), a);
    assert.equal(prepared, 3);
    conn.prepare("d"); // past the bound: the cache starts over with d
    assert.notEqual(conn.prepare("a"), a);
    assert.equal(prepared, 5);
  });

  it("counts every statement run per database and SQL text, cached or not", function () {
    const db = new Database(":memory:");
    cacheStatements(db, undefined, "people_client");
    const count = (sql: string) => statementCounts().get("people_client")?.get(sql) ?? 0;
    const before = count("SELECT 42 AS n");
    db.prepare("SELECT 42 AS n").get();
    db.prepare("SELECT 42 AS n").get();
    assert.equal(count("SELECT 42 AS n") - before, 2);
    assert.equal(statementCounts().get("bridge")?.get("SELECT 42 AS n") ?? 0, 0);
    db.close();
  });
});
