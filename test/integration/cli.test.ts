// The `people` program as a user runs it: bin/people spawned as a process,
// its real output read, against two real People servers (a.test, b.test)
// that it reaches through --pin and trusts through --ca.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeWebm, tinyPng } from "../helpers/images.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { PASSPHRASE, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import {
  ROOT,
  programEnv,
  runProgram,
  type ProgramOptions,
  type ProgramResult,
} from "../helpers/run-program.js";

const BIN = join(ROOT, "bin", "people");
const JANE = "jane@a.test";
const JOE = "joe@b.test";

type Result = ProgramResult;
type RunOptions = ProgramOptions;

function start(args: string[], o: RunOptions = {}): ChildProcess {
  return spawn(BIN, args, { env: programEnv(o.env), stdio: ["pipe", "pipe", "pipe"] });
}

function people(args: string[], o: RunOptions = {}): Promise<Result> {
  return runProgram(BIN, args, o);
}

/** Lines of stdout as they come, for the commands that keep running. */
function lineReader(child: ChildProcess): (what: string, test: (line: string) => boolean) => Promise<string> {
  const lines: string[] = [];
  const waiting: (() => void)[] = [];
  let buffer = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    buffer += s;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    waiting.splice(0).forEach((wake) => wake());
  });
  return async (what, test) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = lines.find(test);
      if (found !== undefined) return found;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no line with ${what}`);
      await new Promise<void>((r) => {
        waiting.push(r);
        setTimeout(r, 200);
      });
    }
  };
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.on("exit", (code) => r(code)));
}

function json<T>(r: Result): T {
  assert.equal(r.code, 0, `exit code 0 expected; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Message {
  id: string;
  from: string;
  to: string[];
  type: string;
  text?: string;
  attachment?: { name?: string; mime: string; size: number };
}

describe("people (the command-line program) against two real servers", function () {
  // Some tests run a dozen CLI processes in a row; each takes ~1 s idle and ~5 s on a loaded machine.
  this.timeout(300_000);
  let a: TestServer;
  let b: TestServer;
  let bDir: string;
  let network: string[];
  let passFile: string;
  /** Jane's device reads its passphrase from a file, Joe's from PEOPLE_PASSPHRASE. */
  let jane: (args: string[], o?: RunOptions) => Promise<Result>;
  let joe: (args: string[], o?: RunOptions) => Promise<Result>;
  let janeArgs: string[];
  let joeArgs: string[];
  const joeEnv = { PEOPLE_PASSPHRASE: PASSPHRASE };

  before(async () => {
    bDir = tempDir("cli-b-server");
    [a, b] = await Promise.all([startTestServer("a.test"), startTestServer("b.test", { dataDir: bDir })]);
    const dir = tempDir("cli");
    network = [];
    for (const s of [a, b]) {
      const ca = join(dir, `${s.domain}.pem`);
      writeFileSync(ca, s.handle.certificate);
      network.push("--pin", `${s.domain}=127.0.0.1:${s.handle.port}`, "--ca", ca);
    }
    passFile = join(dir, "passphrase");
    writeFileSync(passFile, `${PASSPHRASE}\n`);
    chmodSync(passFile, 0o600);
    janeArgs = ["--data", tempDir("cli-jane"), "--passphrase-file", passFile, ...network];
    joeArgs = ["--data", tempDir("cli-joe"), ...network];
    jane = (args, o) => people([...janeArgs, ...args], o);
    joe = (args, o) => people([...joeArgs, ...args], { ...o, env: { ...joeEnv, ...o?.env } });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  it("--help of the program and of every command exits 0", async () => {
    const commands = [
      [],
      ["init"],
      ["link"],
      ["link-code"],
      ["devices"],
      ["devices", "revoke"],
      ["rotate"],
      ["send"],
      ["inbox"],
      ["watch"],
      ["download"],
      ["contacts"],
      ["fingerprint"],
      ["verify"],
      ["group"],
      ["group", "create"],
      ["group", "list"],
      ["group", "show"],
      ["group", "add"],
      ["group", "remove"],
      ["post"],
      ["feed"],
      ["chat"],
      ["profile"],
      ["profile", "set"],
    ];
    // Two at a time: 25 Node.js starts at once on two cores starve each other.
    const results: Result[] = [];
    for (let i = 0; i < commands.length; i += 2)
      results.push(...(await Promise.all(commands.slice(i, i + 2).map((c) => people([...c, "--help"])))));
    results.forEach((r, i) => {
      const name = ["people", ...commands[i]!].join(" ");
      assert.equal(r.code, 0, `${name} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: ${name} `), name);
    });
    assert.match(results[0]!.stdout, /Messages:[\s\S]*send[\s\S]*inbox[\s\S]*watch/);
    const usage = await people(["send"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^people: missing required argument/);
  });

  it("creates an account on each server with init", async () => {
    const j = json<{ address: string; device: string }>(await jane(["--json", "init", JANE]));
    assert.equal(j.address, JANE);
    assert.match(j.device, /^[A-Za-z0-9_-]+$/);
    const o = await joe(["init", JOE]);
    assert.equal(o.code, 0, o.stderr);
    assert.match(o.stdout, /^Created joe@b\.test; this computer is its device /);
    const again = await joe(["init", JOE]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^people: .*cli-joe.*: already holds a People client store/);
  });

  it("sends from jane@a.test and joe@b.test lists it with inbox --json", async () => {
    const sent = await jane(["send", JOE, "Hello Joe, from the command line"]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^Sent to joe@b\.test \(message [A-Za-z0-9_-]{22}\)\.$/m);
    const inbox = json<Message[]>(await joe(["--json", "inbox"]));
    assert.equal(inbox.length, 1);
    assert.deepEqual(
      { from: inbox[0]!.from, to: inbox[0]!.to, type: inbox[0]!.type, text: inbox[0]!.text },
      { from: JANE, to: [JOE], type: "text", text: "Hello Joe, from the command line" },
    );
    // The text from stdin, with `-`; JSON output for scripts.
    const piped = json<{ delivered: string[]; queued: string[] }>(
      await jane(["--json", "send", JOE, "-"], { stdin: "piped\nin\n" }),
    );
    assert.deepEqual(piped.delivered, [JOE]);
    assert.deepEqual(piped.queued, []);
    const human = await joe(["inbox", "--from", JANE]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^ID +RECEIVED +FROM +MESSAGE/);
    assert.match(human.stdout, /jane@a\.test +piped ⏎ in$/m);
  });

  it("watch --json prints a message the moment it arrives, and stops cleanly on a signal", async () => {
    const watch = start([...joeArgs, "--json", "watch"], { env: joeEnv });
    const stderr: string[] = [];
    watch.stderr!.setEncoding("utf8").on("data", (s: string) => stderr.push(s));
    const next = lineReader(watch);
    try {
      const sent = await jane(["send", JOE, "live one"]);
      assert.equal(sent.code, 0, sent.stderr);
      const line = await next("the live message", (l) => l.includes("live one"));
      const m = JSON.parse(line) as Message & { event: string };
      assert.equal(m.event, "message");
      assert.equal(m.from, JANE);
      assert.equal(m.text, "live one");
    } finally {
      watch.kill("SIGTERM");
    }
    assert.equal(await exited(watch), 0, stderr.join(""));
  });

  it("shows both sides the same safety number, and verifies with it", async () => {
    const [x, y] = await Promise.all([
      jane(["--json", "fingerprint", JOE]),
      joe(["--json", "fingerprint", JANE]),
    ]);
    const fromJane = json<{ safety_number: string; verified: boolean }>(x);
    const fromJoe = json<{ safety_number: string }>(y);
    assert.match(fromJane.safety_number, /^\d{5}( \d{5}){11}$/);
    assert.equal(fromJane.safety_number, fromJoe.safety_number);
    assert.equal(fromJane.verified, false);

    const wrong = fromJane.safety_number.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    const refused = await jane(["verify", JOE, "--number", wrong]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^people: joe@b\.test: the safety number you gave does not match/);
    const noConfirmation = await jane(["verify", JOE]);
    assert.equal(noConfirmation.code, 2, "not on a terminal: --number or --yes is needed");

    const ok = await jane(["verify", JOE, "--number", fromJane.safety_number]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "joe@b.test is verified.\n");
    const contacts = json<{ address: string; verified: boolean; state: string }[]>(
      await jane(["--json", "contacts"]),
    );
    assert.deepEqual(
      contacts.map((c) => [c.address, c.verified, c.state]),
      [[JOE, true, "trusted"]],
    );
  });

  it("round-trips an attachment: send --file, then download", async () => {
    const dir = tempDir("cli-files");
    const file = join(dir, "report.pdf");
    const bytes = randomBytes(300 * 1024);
    writeFileSync(file, bytes);
    const sent = await jane(["send", JOE, "--file", file, "--caption", "the report"]);
    assert.equal(sent.code, 0, sent.stderr);
    // Not a terminal: no bar, one final line with the bytes sent (the ciphertext: 16 more) and the rate.
    assert.match(
      sent.stderr,
      /^uploaded report\.pdf \(300 KB\): 307216 bytes in [\d.]+ s(, [\d.]+ [KMG]?B\/s)?$/m,
      "the progress line",
    );
    const inbox = await joe(["--json", "inbox"]);
    const m = json<Message[]>(inbox).find((x) => x.type === "attachment")!;
    assert.deepEqual(m.attachment, {
      name: "report.pdf",
      mime: "application/pdf",
      size: bytes.length,
      server: "a.test",
    });
    assert(!/"key"|"hash"/.test(inbox.stdout), "no blob key in the output");

    const out = join(dir, "got.pdf");
    const got = await joe(["download", m.id.slice(0, 10), "-o", out]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stderr, /^downloaded report\.pdf \(300 KB\): 307216 bytes in [\d.]+ s/m);
    assert(readFileSync(out).equals(bytes), "the same bytes");
    const exists = await joe(["download", m.id, "-o", out]);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, new RegExp(`^people: ${out}: already exists`));
  });

  it("makes a group, posts to it with a file and publicly; the member reads the feed and downloads the file", async () => {
    const group = json<{ id: string; members: string[]; undelivered: unknown[] }>(
      await jane(["--json", "group", "create", "Weekend hikers", JOE]),
    );
    assert.deepEqual(group.members, [JANE, JOE]);
    assert.deepEqual(group.undelivered, []);
    const seen = json<{ id: string; name: string | null; owner: string; is_owner: boolean }[]>(
      await joe(["--json", "group", "list"]),
    );
    assert.deepEqual(seen, [
      { ...seen[0], id: group.id, name: "Weekend hikers", owner: JANE, is_owner: false },
    ]);

    const dir = tempDir("cli-post");
    const photo = join(dir, "summit.png");
    const bytes = randomBytes(40 * 1024);
    writeFileSync(photo, bytes);
    const posted = json<{ id: string; group: string }>(
      await jane(["--json", "post", "--group", "Weekend hikers", "Summit at dawn", "--file", photo]),
    );
    assert.equal(posted.group, group.id);
    const pub = json<{ id: string; public: boolean }>(
      await jane(["--json", "post", "--public", "Hello, world"]),
    );
    assert.equal(pub.public, true);

    const feed = json<{ posts: { id: string; text: string; public: boolean; attachments: unknown[] }[] }>(
      await joe(["--json", "feed", JANE]),
    );
    assert.deepEqual(
      feed.posts.map((p) => [p.id, p.text, p.public, p.attachments]),
      [
        [posted.id, "Summit at dawn", false, [{ name: "summit.png", mime: "image/png", size: bytes.length }]],
        [pub.id, "Hello, world", true, []],
      ],
    );
    const out = join(dir, "got.png");
    const got = await joe(["download", posted.id, "--author", JANE, "-o", out]);
    assert.equal(got.code, 0, got.stderr);
    assert(readFileSync(out).equals(bytes));

    const usage = await jane(["post", "no audience"]);
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr, "people: post needs either --group <group> or --public\n");
    // A video with a thumbnail: the thumbnail's sides are read from the image.
    const video = join(dir, "climb.webm");
    const thumb = join(dir, "climb.png");
    writeFileSync(video, fakeWebm(10_000));
    writeFileSync(thumb, tinyPng(32, 18));
    const clip = json<{ id: string }>(
      await jane(["--json", "post", "--public", "The climb", "--file", video, "--thumbnail", thumb]),
    );
    const withThumb = json<{ posts: { id: string; attachments: { thumbnail?: unknown }[] }[] }>(
      await joe(["--json", "feed", JANE]),
    ).posts.find((p) => p.id === clip.id);
    assert.deepEqual(withThumb?.attachments[0]?.thumbnail, { mime: "image/png", width: 32, height: 18 });
    const extra = await jane(["post", "--public", "x", "--thumbnail", thumb]);
    assert.equal(extra.code, 2, extra.stderr);
    assert.match(extra.stderr, /more thumbnails than files/);
    const notOwner = await joe(["group", "add", group.id, "nobody@a.test"]);
    assert.equal(notOwner.code, 1, notOwner.stderr);
    assert.match(notOwner.stderr, /only its owner jane@a\.test changes the members/);
    // One id in 64 begins with "-": it is an id, not an unknown option.
    const dashed = await joe(["group", "show", "-AbCdEfGhIjKlMnOpQrStUv", "--offline"]);
    assert.equal(dashed.code, 1, dashed.stderr);
    assert.match(dashed.stderr, /-AbCdEfGhIjKlMnOpQrStUv: no such group on this device/);
    const typo = await joe(["group", "show", group.id, "--ofline"]);
    assert.equal(typo.code, 2);
  });

  it("publishes a profile with profile set, and another address reads and verifies it", async () => {
    const dir = tempDir("cli-profile");
    const avatar = join(dir, "me.png");
    const bytes = randomBytes(20 * 1024);
    writeFileSync(avatar, bytes);
    const set = await jane(["profile", "set", "--name", "Jane Doe", "--avatar", avatar]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stderr, /^uploaded the avatar \(20 KB\): 20480 bytes in /m);
    assert.match(set.stdout, /^Name: +Jane Doe$/m);
    const seen = json<{ address: string; display_name: string; avatar: Record<string, unknown> }>(
      await joe(["--json", "profile", JANE]),
    );
    assert.equal(seen.address, JANE);
    assert.equal(seen.display_name, "Jane Doe");
    assert.deepEqual(
      { ...seen.avatar, id: undefined },
      { server: "a.test", id: undefined, mime: "image/png", size: bytes.length },
    );
    // Only the name changes; the avatar is kept.
    assert.equal((await jane(["--json", "profile", "set", "--name", "J."])).code, 0);
    const own = await jane(["profile"]);
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /^Name: +J\.$/m);
    assert.match(own.stdout, /^Avatar: +image\/png, 20 KB$/m);
    const none = await joe(["profile"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^people: joe@b\.test: has no public profile yet/);
    const usage = await jane(["profile", "set"]);
    assert.equal(usage.code, 2);
  });

  it("chats live: lines typed on one side appear on the other, both ways, until one hangs up", async () => {
    const answering = start([...joeArgs, "--json", "chat", "--answer", "--from", JANE], { env: joeEnv });
    const calling = start([...janeArgs, "--json", "chat", JOE]);
    const atJoe = lineReader(answering);
    const atJane = lineReader(calling);
    try {
      await atJane("the session open", (l) => l.includes('"event":"open"'));
      calling.stdin!.write("hello joe\n");
      const heard = JSON.parse(await atJoe("jane's line", (l) => l.includes("hello joe"))) as Record<
        string,
        string
      >;
      assert.deepEqual([heard.event, heard.from, heard.text], ["data", JANE, "hello joe"]);
      answering.stdin!.write("hi jane\n");
      const back = JSON.parse(await atJane("joe's line", (l) => l.includes("hi jane"))) as Record<
        string,
        string
      >;
      assert.deepEqual([back.from, back.text], [JOE, "hi jane"]);
      calling.kill("SIGTERM");
      assert.equal(await exited(calling), 0);
      const closed = JSON.parse(await atJoe("the hangup", (l) => l.includes('"event":"close"'))) as {
        reason: string;
        remote: boolean;
      };
      assert.deepEqual(closed, { event: "close", reason: "normal", remote: true });
      assert.equal(await exited(answering), 0);
    } finally {
      calling.kill("SIGKILL");
      answering.kill("SIGKILL");
    }
  });

  it("lists devices, links a second one with a code, and rotates keys", async () => {
    const before = json<{ device: string; self: boolean; revoked: boolean }[]>(
      await jane(["--json", "devices"]),
    );
    assert.equal(before.length, 1);
    assert.equal(before[0]!.self, true);

    const shower = start([...janeArgs, "--json", "link-code", "--with-history"]);
    const next = lineReader(shower);
    try {
      const { code } = JSON.parse(await next("the code", (l) => l.includes('"code"'))) as { code: string };
      const laptop = ["--data", tempDir("cli-jane-laptop"), "--passphrase-file", passFile, ...network];
      const linked = json<{ address: string; device: string }>(
        await people([...laptop, "--json", "link", JANE, "--code", code]),
      );
      assert.equal(linked.address, JANE);
      const done = JSON.parse(await next("the new device", (l) => l.includes('"device"'))) as {
        device: string;
        history?: number;
      };
      assert.equal(done.device, linked.device);
      assert.equal(await exited(shower), 0);
      // --with-history: the archive went out, with the messages Jane exchanged in the tests before.
      assert.ok(typeof done.history === "number" && done.history > 0, `history: ${done.history}`);
      const listed = json<{ device: string; self: boolean }[]>(
        await people([...laptop, "--json", "devices"]),
      );
      assert.deepEqual(listed.map((d) => d.device).sort(), [before[0]!.device, linked.device].sort());
    } finally {
      shower.kill("SIGKILL");
    }

    const rotated = json<{ rotated: boolean; key_generation: number }>(
      await jane(["--json", "rotate", "--force"]),
    );
    assert.equal(rotated.rotated, true);
    assert.equal(rotated.key_generation, 1);
    const fresh = await jane(["rotate"]);
    assert.match(fresh.stdout, /are fresh; next renewal due/);
  });

  it("refuses a wrong passphrase and a malformed address clearly", async () => {
    const wrong = await joe(["inbox"], { env: { PEOPLE_PASSPHRASE: "not the passphrase" } });
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^people: .*cli-joe[^:]*: Wrong passphrase or key file for this client store\.\n$/,
    );
    assert(!wrong.stderr.includes("    at "), "no stack trace");
    assert(!wrong.stderr.includes("not the passphrase"), "the passphrase is not echoed");

    const none = await joe(["inbox"], { env: { PEOPLE_PASSPHRASE: "" } });
    assert.equal(none.code, 2);

    const bad = await jane(["send", "joe-at-b.test", "hi"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "people: joe-at-b.test: not a valid People address (missing '@')\n");
    const badFp = await jane(["fingerprint", "joe@@b.test"]);
    assert.equal(badFp.code, 2);
    assert.match(badFp.stderr, /^people: joe@@b\.test: not a valid People address/);

    const unknown = await jane(["send", "nobody@b.test", "hi"]);
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      "people: nobody@b.test: no such account on its server (check the spelling)\n",
    );
  });

  it("warns loudly when a contact's keys change, and sends again only after verify --accept-change", async () => {
    // b.test starts over (same address and certificate, new keys and database) and a new joe@b.test appears.
    const port = b.handle.port;
    await b.stop();
    const fresh = tempDir("cli-b-fresh");
    cpSync(join(bDir, "tls"), join(fresh, "tls"), { recursive: true });
    b = await startTestServer("b.test", { dataDir: fresh, config: { listen: { host: "127.0.0.1", port } } });
    const newJoe = ["--data", tempDir("cli-new-joe"), ...network];
    assert.equal((await people([...newJoe, "init", JOE], { env: joeEnv })).code, 0);

    const refused = await jane(["send", JOE, "are you still you?"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^people: joe@b\.test: WARNING: the keys of joe@b\.test changed/m);
    assert.match(
      refused.stderr,
      /^people: joe@b\.test: their keys changed in a way their account did not sign/m,
    );
    const listed = json<{ address: string; state: string; verified: boolean }[]>(
      await jane(["--json", "contacts"]),
    );
    assert.deepEqual(
      listed.map((c) => [c.address, c.state]),
      [[JOE, "key_changed"]],
    );

    const notYet = await jane(["verify", JOE, "--yes"]);
    assert.equal(notYet.code, 1);
    assert.match(notYet.stderr, /--accept-change/);
    // The number of the new keys, compared before they are accepted: a wrong one accepts nothing.
    const theirs = json<{ safety_number: string }>(
      await people([...newJoe, "--json", "fingerprint", JANE], { env: joeEnv }),
    );
    const pending = json<{ safety_number: string }>(await jane(["--json", "fingerprint", JOE, "--pending"]));
    assert.equal(pending.safety_number, theirs.safety_number, "the pending number is the new joe's");
    const old = json<{ safety_number: string; state: string }>(await jane(["--json", "fingerprint", JOE]));
    assert.notEqual(old.safety_number, theirs.safety_number);
    assert.equal(old.state, "key_changed");
    const mismatch = await jane(["verify", JOE, "--accept-change", "--number", old.safety_number]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /does not match: NOT verified/);
    assert.equal((await jane(["send", JOE, "still refused"])).code, 1, "nothing was accepted");
    const accepted = json<{ verified: boolean; accepted_change: boolean; safety_number: string }>(
      await jane(["--json", "verify", JOE, "--accept-change", "--number", theirs.safety_number]),
    );
    assert.deepEqual([accepted.verified, accepted.accepted_change], [true, true]);
    // Their server was replaced too: that is a trust decision of its own.
    const server = await jane(["send", JOE, "welcome back"]);
    assert.equal(server.code, 1);
    assert.match(
      server.stderr,
      /^people: joe@b\.test: The identity key of the server for b\.test changed\..*--accept-server-key/m,
    );
    assert.equal((await jane(["verify", JOE, "--yes", "--accept-server-key"])).code, 0);
    const sent = await jane(["send", JOE, "welcome back"]);
    assert.equal(sent.code, 0, sent.stderr);
    const inbox = json<Message[]>(await people([...newJoe, "--json", "inbox"], { env: joeEnv }));
    assert.deepEqual(
      inbox.map((m) => m.text),
      ["welcome back"],
    );
  });
});
