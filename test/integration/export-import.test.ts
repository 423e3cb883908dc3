// A device's account exported on one machine and imported on another (two
// data directories, real People servers): the imported device reads new mail,
// keeps its history and its contacts' trust, and the exported store stops; a
// wrong archive passphrase is a clear error that writes nothing.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PeopleError } from "../../src/people/errors.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { exportDevice, importDevice } from "../../src/people/client/device-export.js";
import { CLIENT_DB_FILE } from "../../src/people/client/local-store-sqlite.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import {
  PASSPHRASE,
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";
import { ROOT, runProgram } from "../helpers/run-program.js";

const ANN = "ann@a.test";
const JOE = "joe@b.test";
const ARCHIVE_PASS = "archive passphrase, not the store's";
const WAIT_MS = 60_000;

function texts(r: Recorder): string[] {
  return r.messages.map((m) => (m.content.type === "text" ? m.content.body : `[${m.content.type}]`));
}

describe("Export and import of a device's account", function () {
  this.timeout(180_000);
  let servers: TestServer[];
  let ann: PeopleClient;
  let annRec: Recorder;
  let oldDir: string;
  let newDir: string;
  let archive: string;
  let joe: PeopleClient | undefined;
  let network: ReturnType<typeof networkOf>;

  before(async () => {
    servers = [await startTestServer("a.test"), await startTestServer("b.test")];
    network = networkOf(servers);
    ann = await PeopleClient.create({ ...clientOptions(network, tempDir("ann")), address: ANN });
    annRec = new Recorder(ann);
    await ann.start();
    oldDir = tempDir("joe-old");
    newDir = tempDir("joe-new");
  });

  after(async () => {
    await joe?.close().catch(() => undefined);
    await ann?.close().catch(() => undefined);
    for (const s of servers ?? []) await s.stop();
    removeTempDirs();
  });

  it("Joe talks with Ann, verifies her and makes a group on his first machine", async () => {
    joe = await PeopleClient.create({ ...clientOptions(network, oldDir), address: JOE });
    const rec = new Recorder(joe);
    await joe.start();
    await ann.sendText([JOE], "hello joe");
    await waitUntil(() => texts(rec).includes("hello joe"), "Joe reads Ann", WAIT_MS);
    await joe.sendText([ANN], "hello ann");
    await waitUntil(() => texts(annRec).includes("hello ann"), "Ann reads Joe", WAIT_MS);
    await joe.contacts.verify(ANN);
    await joe.groups.createGroup("friends", [ANN]);
    await joe.close();
    joe = undefined;
  });

  it("exports, and the exported store no longer opens", async () => {
    const out = await exportDevice(clientOptions(network, oldDir), ARCHIVE_PASS);
    archive = join(tempDir("archive"), "joe.people-archive");
    writeFileSync(archive, out.text, { mode: 0o600 });
    await out.retire();
    assert.equal(out.summary.address, JOE);
    assert.ok(out.summary.messages >= 2);
    assert.equal(out.summary.groups, 1);
    assert.ok(!out.text.includes("hello joe"), "the history is sealed");
    await assert.rejects(PeopleClient.open(clientOptions(network, oldDir)), (e: unknown) => {
      return e instanceof PeopleError && e.code === "PEOPLE_FORBIDDEN";
    });
  });

  it("a wrong passphrase is a clear error and writes nothing (library and CLI)", async () => {
    const text = readFileSync(archive, "utf8");
    await assert.rejects(importDevice(clientOptions(network, newDir), text, "wrong"), (e: unknown) => {
      return (
        e instanceof PeopleError && e.code === "PEOPLE_UNAUTHORIZED" && /Wrong passphrase/.test(e.publicText)
      );
    });
    assert.equal(existsSync(join(newDir, CLIENT_DB_FILE)), false);
    const r = await runProgram(join(ROOT, "bin", "people"), ["--data", newDir, "import", archive], {
      env: { PEOPLE_PASSPHRASE: PASSPHRASE, PEOPLE_ARCHIVE_PASSPHRASE: "also wrong" },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Wrong passphrase for this archive/);
    assert.equal(existsSync(join(newDir, CLIENT_DB_FILE)), false);
  });

  it("imported on the new machine: history, trust and groups kept, new mail read, no warning on either side", async () => {
    const r = await runProgram(join(ROOT, "bin", "people"), ["--data", newDir, "import", archive], {
      env: { PEOPLE_PASSPHRASE: PASSPHRASE, PEOPLE_ARCHIVE_PASSPHRASE: ARCHIVE_PASS },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported joe@b\.test/);
    joe = await PeopleClient.open(clientOptions(network, newDir));
    const rec = new Recorder(joe);
    await joe.start();
    const history = (await joe.inbox()).map((m) =>
      m.content.type === "text" ? m.content.body : m.content.type,
    );
    assert.ok(history.includes("hello joe") && history.includes("hello ann"));
    const contact = await joe.contacts.get(ANN);
    assert.equal(contact?.verified, true);
    assert.equal(contact?.state, "trusted");
    assert.equal((await joe.groups.list()).length, 1);
    await ann.sendText([JOE], "new mail for the new machine");
    await waitUntil(
      () => texts(rec).includes("new mail for the new machine"),
      "the imported device reads it",
      WAIT_MS,
    );
    await joe.sendText([ANN], "answered from the new machine");
    await waitUntil(() => texts(annRec).includes("answered from the new machine"), "Ann reads it", WAIT_MS);
    assert.equal(annRec.count("keyChange"), 0);
    assert.equal(rec.count("keyChange"), 0);
  });
});
