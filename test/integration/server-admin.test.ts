// The admin's commands of `people-server` (invite create/list/revoke, account
// list) as an admin runs them: bin/people-server spawned beside a running
// server in `closed` mode, on the same config and database, on SQLite and
// PostgreSQL; People clients register with the invites over real HTTPS.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { Writable } from "node:stream";
import { join } from "node:path";
import { stringify } from "yaml";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { PeopleError } from "../../src/people/errors.js";
import { createLogger } from "../../src/people/server/logger.js";
import { inviteHash } from "../../src/people/server/invites.js";
import { clientOptions, networkOf, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { ENGINES } from "../helpers/stores.js";
import { ROOT, runProgram, type ProgramResult } from "../helpers/run-program.js";

const BIN = join(ROOT, "bin", "people-server");
const DOMAIN = "closed.test";

type Result = ProgramResult;

function admin(config: string, args: string[]): Promise<Result> {
  return runProgram(BIN, [...args, "-c", config]);
}

function json<T>(r: Result): T {
  assert.equal(r.code, 0, `exit code 0 expected; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface InviteRow {
  id: string;
  state: string;
  uses: number;
  max_uses: number | null;
  expires_at: string | null;
  note: string | null;
}

for (const engine of ENGINES) {
  describe(`people-server admin commands beside a running closed server [${engine}]`, function () {
    // Each admin command is a process of its own: slow on a loaded machine.
    this.timeout(300_000);
    let server: TestServer;
    let config: string;
    let logs = "";
    const tokens: string[] = [];

    before(async function () {
      this.timeout(180_000);
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logs += chunk.toString();
          done();
        },
      });
      server = await startTestServer(DOMAIN, {
        engine,
        config: { registration: { mode: "closed" }, log: { level: "debug" } },
        logger: createLogger("debug", sink),
      });
      config = join(tempDir("admin-config"), "config.yaml");
      const c = server.handle.config;
      writeFileSync(
        config,
        stringify({ people: { domain: c.domain, data_dir: c.data_dir, database: c.database } }),
      );
    });
    after(async () => {
      await server?.stop();
      removeTempDirs();
    });

    async function register(local: string, invite?: string): Promise<void> {
      const client = await PeopleClient.create({
        ...clientOptions(networkOf([server]), tempDir(`admin-${local}`)),
        address: `${local}@${DOMAIN}`,
        ...(invite !== undefined ? { invite } : {}),
      });
      await client.close();
    }

    const refused = (e: unknown) => e instanceof PeopleError && e.code === "PEOPLE_FORBIDDEN";

    async function invites(): Promise<InviteRow[]> {
      return json<InviteRow[]>(await admin(config, ["--json", "invite", "list"]));
    }

    it("refuses registration without an invite; an invite made by the admin lets in as many as its uses", async () => {
      await assert.rejects(register("stranger"), refused);
      await assert.rejects(register("stranger", "people-invite-guessed0000000000000000000000"), refused);
      const made = json<{ id: string; token: string; max_uses: number; expires_at: string }>(
        await admin(config, ["--json", "invite", "create", "--uses", "2", "--note", "for Amy and Bob"]),
      );
      tokens.push(made.token);
      assert.match(made.token, /^people-invite-[A-Za-z0-9_-]{32}$/);
      assert.equal(made.max_uses, 2);
      // Seven days by default.
      const days = (Date.parse(made.expires_at) - Date.now()) / 86_400_000;
      assert.ok(days > 6.9 && days <= 7, `expires in ${days} days`);

      await register("amy", made.token);
      await register("bob", made.token);
      await assert.rejects(register("carl", made.token), refused);
      const [row] = await invites();
      assert.deepEqual(
        { id: row!.id, state: row!.state, uses: row!.uses, max: row!.max_uses, note: row!.note },
        { id: made.id, state: "used", uses: 2, max: 2, note: "for Amy and Bob" },
      );
    });

    it("gives a use back when the registration fails, and a revoked invite lets nobody in", async () => {
      const one = json<{ id: string; token: string }>(await admin(config, ["--json", "invite", "create"]));
      tokens.push(one.token);
      // The address is taken: refused, and the invite keeps its one use.
      await assert.rejects(register("amy", one.token), refused);
      assert.equal((await invites()).find((i) => i.id === one.id)!.uses, 0);
      await register("dan", one.token);

      const other = json<{ id: string; token: string }>(
        await admin(config, ["--json", "invite", "create", "--unlimited", "--expires", "never"]),
      );
      tokens.push(other.token);
      const text = await admin(config, ["invite", "revoke", other.id]);
      assert.equal(text.code, 0, text.stderr);
      assert.equal(text.stdout, `Revoked invite ${other.id}.\n`);
      await assert.rejects(register("eve", other.token), refused);
      const row = (await invites()).find((i) => i.id === other.id)!;
      assert.deepEqual([row.state, row.uses, row.max_uses, row.expires_at], ["revoked", 0, null, null]);
    });

    it("an expired invite takes no use (the store's condition, checked at a later time)", async () => {
      const made = json<{ token: string; expires_at: string }>(
        await admin(config, ["--json", "invite", "create", "--expires", "1h"]),
      );
      tokens.push(made.token);
      const hash = inviteHash(made.token);
      const expiry = (await server.handle.store.invites.get(hash))!.expiresAt!;
      assert.ok(Math.abs(expiry - Date.parse(made.expires_at)) < 1000);
      assert.equal(await server.handle.store.invites.use(hash, expiry), false);
      assert.equal(await server.handle.store.invites.use(hash, expiry - 1), true);
      await server.handle.store.invites.giveBack(hash);
      assert.equal((await server.handle.store.invites.get(hash))!.uses, 0);
    });

    it("lists the accounts, and bad input is answered with a clear error and exit code 2", async () => {
      const accounts = json<{ address: string; devices: number }[]>(
        await admin(config, ["--json", "account", "list"]),
      );
      assert.deepEqual(
        accounts.map((a) => [a.address, a.devices]),
        [
          ["amy@closed.test", 1],
          ["bob@closed.test", 1],
          ["dan@closed.test", 1],
        ],
      );
      for (const [args, message] of [
        [["invite", "create", "--uses", "0"], /--uses: expected a whole number/],
        [["invite", "create", "--expires", "soon"], /--expires: expected a duration/],
        [["invite", "revoke", "nope"], /nope: not an invite id/],
      ] as const) {
        const r = await admin(config, [...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
      const unknown = await admin(config, ["invite", "revoke", "0123456789ab"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^people-server: 0123456789ab: no such invite/);
      assert.equal((await invites()).length, 4, "no invite made by the bad commands");
    });

    it("keeps no token: not in the listing, the log or the database files", async () => {
      assert.equal(tokens.length, 4);
      const listing = (await admin(config, ["invite", "list"])).stdout;
      const files =
        engine === "sqlite"
          ? readdirSync(server.dataDir)
              .filter((f) => f.startsWith("people.db"))
              .map((f) => readFileSync(join(server.dataDir, f)).toString("latin1"))
              .join("")
          : "";
      assert.match(logs, /"msg"/, "the server logged");
      for (const token of tokens) {
        const secret = token.slice("people-invite-".length);
        assert.ok(!listing.includes(secret), "listing holds a token");
        assert.ok(!logs.includes(secret), "log holds a token");
        assert.ok(!files.includes(secret), "database holds a token");
      }
    });
  });
}
