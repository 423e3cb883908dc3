// The People server over real HTTPS on loopback, on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { b64u } from "../../src/people/protocol/bytes.js";
import { parseDeviceCert } from "../../src/people/protocol/device-cert.js";
import { parseDeviceList, verifyDeviceList } from "../../src/people/protocol/device-list.js";
import type { DeviceId } from "../../src/people/protocol/ids.js";
import { decryptInner, verifyMessage, MemoryReplayGuard } from "../../src/people/protocol/envelope.js";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { PeopleError } from "../../src/people/errors.js";
import { ENGINES } from "../helpers/stores.js";
import { makeAccount, seal, type Account } from "../helpers/protocol-fixtures.js";
import {
  deviceUpload,
  envelopeKeyOf,
  login,
  postEnvelope,
  registerAccount,
  startTestServer,
  type TestServer,
} from "../helpers/people-servers.js";

const DOMAIN = "b.test";

async function expectRemote(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof PeopleError && e.code === code);
}

function sealTo(
  jane: Account,
  joe: Account,
  server: Awaited<ReturnType<typeof envelopeKeyOf>>,
  body = "hello",
  o: { now?: number; ttlMs?: number } = {},
) {
  return seal({
    from: jane,
    to: [joe.address],
    copies: [{ address: joe.address, devices: joe.devices.map((d) => d.head.encKey), server }],
    body,
    now: o.now ?? Date.now(),
    ttlMs: o.ttlMs ?? 86_400_000,
  }).copies[0]!;
}

for (const engine of ENGINES) {
  describe(`People server over HTTPS [${engine}]`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let joe: Account;
    const jane = makeAccount("jane@a.test", Date.now(), { devices: 1 });

    before(async function () {
      this.timeout(180_000);
      server = await startTestServer(DOMAIN, { engine });
      joe = await registerAccount(server, "joe", 2);
    });
    after(async () => server?.stop());

    it("serves discovery, a descriptor whose envelope key its identity key signed, and health", async () => {
      const wk = await server.http.json<{ server: string }>("GET", `${server.url}/.well-known/people`);
      assert.match(wk.server, /^b\.test:\d+$/);
      const key = await envelopeKeyOf(server);
      assert.equal(key.domain, DOMAIN);
      assert.deepEqual(await server.http.json("GET", `${server.url}/_people/v1/health`), { status: "ok" });
    });

    it("publishes exactly the device list the account key signed", async () => {
      const got = await server.http.json<{ device_list: unknown; chains: Record<string, unknown[]> }>(
        "GET",
        `${server.url}/_people/v1/accounts/${joe.address}/devices`,
      );
      const list = parseDeviceList(got.device_list);
      const chains = new Map(
        Object.entries(got.chains).map(([d, c]) => [d as DeviceId, c.map(parseDeviceCert)]),
      );
      const verified = verifyDeviceList(list, chains, {
        address: joe.address,
        pinned: { accountKey: joe.accountKey.publicKey, version: 1, heads: new Map() },
      });
      assert.deepEqual([...verified.chains.keys()].sort(), joe.devices.map((d) => d.device).sort());
      assert.deepEqual(got.chains, deviceUpload(joe).chains);
    });

    it("refuses a device list the account key did not sign, and stores nothing", async () => {
      const mallory = makeAccount(`mallory@${DOMAIN}`, Date.now(), { devices: 1 });
      const upload = deviceUpload(mallory);
      const forged = {
        ...upload.device_list,
        sig: b64u(
          signBytes(
            Ed25519KeyPair.generate(),
            "device-list",
            Buffer.from(upload.device_list.body, "base64url"),
          ),
        ),
      };
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/accounts`, {
          address: mallory.address,
          device_list: forged,
          chains: upload.chains,
        }),
        "PEOPLE_BAD_SIGNATURE",
      );
      await expectRemote(
        server.http.json("GET", `${server.url}/_people/v1/accounts/${mallory.address}/devices`),
        "PEOPLE_UNKNOWN_RECIPIENT",
      );
    });

    it("authenticates a device by a signed one-time challenge", async () => {
      const token = await login(server, joe.devices[0]!);
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      // A challenge signed by another key, and a reused challenge, are refused.
      const { challenge } = await server.http.json<{ challenge: string }>(
        "POST",
        `${server.url}/_people/v1/auth/challenge`,
        {
          address: joe.address,
          device: joe.devices[0]!.device,
        },
      );
      const body = {
        address: joe.address,
        device: joe.devices[0]!.device,
        challenge,
        signature: b64u(Buffer.alloc(64, 1)),
      };
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/auth/token`, body),
        "PEOPLE_UNAUTHORIZED",
      );
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/auth/token`, body),
        "PEOPLE_UNAUTHORIZED",
      );
      await expectRemote(
        server.http.json("GET", `${server.url}/_people/v1/mailbox`, undefined, {
          authorization: "Bearer nope",
        }),
        "PEOPLE_UNAUTHORIZED",
      );
    });

    it("stores sealed mail durably for every device it was sealed to, until each acknowledged it", async () => {
      const key = await envelopeKeyOf(server);
      const copy = sealTo(jane, joe, key, "for both devices");
      const res = await postEnvelope(server, copy.outer);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { envelope_id: copy.envelopeId, status: "stored" });
      const [t0, t1] = [await login(server, joe.devices[0]!), await login(server, joe.devices[1]!)];
      const auth = (t: string) => ({ authorization: `Bearer ${t}` });
      type Mailbox = { envelopes: { id: string; data: string }[] };
      for (const [i, t] of [t0, t1].entries()) {
        const box = await server.http.json<Mailbox>(
          "GET",
          `${server.url}/_people/v1/mailbox`,
          undefined,
          auth(t),
        );
        const env = box.envelopes.find((e) => e.id === copy.envelopeId)!;
        const device = joe.devices[i]!;
        const message = verifyMessage(
          decryptInner(Buffer.from(env.data, "base64url"), (id) => device.decryptionKey(id)),
          jane.devices[0]!.head.signKey,
          {
            self: joe.address,
            now: Date.now(),
            replay: new MemoryReplayGuard(),
          },
        );
        assert.deepEqual(message.content, { type: "text", body: "for both devices" });
      }
      // A replay of the same envelope is answered as delivered and stored once.
      assert.deepEqual((await postEnvelope(server, copy.outer)).json, {
        envelope_id: copy.envelopeId,
        status: "duplicate",
      });
      await server.http.json(
        "POST",
        `${server.url}/_people/v1/mailbox/ack`,
        { ids: [copy.envelopeId] },
        auth(t0),
      );
      const box0 = await server.http.json<Mailbox>(
        "GET",
        `${server.url}/_people/v1/mailbox`,
        undefined,
        auth(t0),
      );
      assert.equal(box0.envelopes.filter((e) => e.id === copy.envelopeId).length, 0);
      const box1 = await server.http.json<Mailbox>(
        "GET",
        `${server.url}/_people/v1/mailbox`,
        undefined,
        auth(t1),
      );
      assert.equal(box1.envelopes.filter((e) => e.id === copy.envelopeId).length, 1);
      await server.http.json(
        "POST",
        `${server.url}/_people/v1/mailbox/ack`,
        { ids: [copy.envelopeId] },
        auth(t1),
      );
      assert.equal(
        (await server.http.json<Mailbox>("GET", `${server.url}/_people/v1/mailbox`, undefined, auth(t1)))
          .envelopes.length,
        0,
      );
      // Replayed after deletion but before expiry: still a duplicate, not new mail.
      assert.deepEqual((await postEnvelope(server, copy.outer)).json, {
        envelope_id: copy.envelopeId,
        status: "duplicate",
      });
    });

    it("answers bad envelopes with a clear error and stores nothing", async () => {
      const key = await envelopeKeyOf(server);
      const before = await server.handle.store.mailbox.depth();
      const good = sealTo(jane, joe, key).outer;
      const flipped = Buffer.from(good);
      flipped[60] = flipped[60]! ^ 1;
      const cases: [Buffer, number, string][] = [
        [Buffer.from("not an envelope"), 400, "PEOPLE_BAD_ENVELOPE"],
        [flipped, 400, "PEOPLE_DECRYPT_FAILED"],
        [
          sealTo(jane, joe, key, "old", { now: Date.now() - 2 * 86_400_000, ttlMs: 86_400_000 }).outer,
          400,
          "PEOPLE_EXPIRED",
        ],
        [
          sealTo(jane, makeAccount(`nobody@${DOMAIN}`, Date.now()), key).outer,
          404,
          "PEOPLE_UNKNOWN_RECIPIENT",
        ],
        [
          sealTo(jane, makeAccount("joe@elsewhere.test", Date.now()), key).outer,
          400,
          "PEOPLE_WRONG_RECIPIENT",
        ],
        [Buffer.alloc(1_300_000, 7), 413, "PEOPLE_TOO_LARGE"],
      ];
      for (const [body, status, errcode] of cases) {
        const res = await postEnvelope(server, body);
        assert.equal(res.status, status, errcode);
        assert.deepEqual(Object.keys(res.json as object).sort(), ["errcode", "error"]);
        assert.equal((res.json as { errcode: string }).errcode, errcode);
        // The reply never says which check failed inside the crypto.
        assert.doesNotMatch((res.json as { error: string }).error, /AEAD|HPKE|signature|stack|at /i);
      }
      const wrongType = await server.http.send("POST", `${server.url}/_people/v1/envelopes`, {
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(wrongType.status, 400);
      assert.equal(await server.handle.store.mailbox.depth(), before);
    });

    it("stores blobs by content hash, serves byte ranges, and refuses a wrong hash or a path trick", async () => {
      const token = await login(server, joe.devices[0]!);
      const data = randomBytes(200_000);
      const id = createHash("sha256").update(data).digest("base64url");
      const put = await server.http.send("PUT", `${server.url}/_people/v1/blobs/${id}`, {
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: data,
      });
      assert.equal(put.status, 201);
      const whole = await server.http.send("GET", `${server.url}/_people/v1/blobs/${id}`);
      assert.ok(whole.body.equals(data));
      const part = await server.http.send("GET", `${server.url}/_people/v1/blobs/${id}`, {
        headers: { range: "bytes=100-199" },
      });
      assert.equal(part.status, 206);
      assert.equal(part.headers["content-range"], `bytes 100-199/${data.length}`);
      assert.ok(part.body.equals(data.subarray(100, 200)));
      const beyond = await server.http.send("GET", `${server.url}/_people/v1/blobs/${id}`, {
        headers: { range: "bytes=999999-" },
      });
      assert.equal(beyond.status, 416);
      const wrongId = createHash("sha256").update("other").digest("base64url");
      const bad = await server.http.send("PUT", `${server.url}/_people/v1/blobs/${wrongId}`, {
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: data,
      });
      assert.equal(bad.status, 400);
      assert.equal((await server.http.send("GET", `${server.url}/_people/v1/blobs/${wrongId}`)).status, 404);
      for (const trick of ["..%2F..%2Fpeople.db", "%2e%2e", "a".repeat(44)]) {
        const res = await server.http.send("GET", `${server.url}/_people/v1/blobs/${trick}`);
        assert.ok(res.status === 400 || res.status === 404, `${trick}: ${res.status}`);
      }
      const unauth = await server.http.send("PUT", `${server.url}/_people/v1/blobs/${id}`, { body: data });
      assert.equal(unauth.status, 401);
      assert.deepEqual(
        readdirSync(join(server.dataDir, "blobs", "tmp")),
        [],
        "no partial upload left behind",
      );
    });

    it("keeps public profiles and posts signed by the account key, and refuses forgeries", async () => {
      const body = Buffer.from(
        JSON.stringify({
          v: 1,
          type: "people.profile",
          address: joe.address,
          display_name: "Joe",
          updated_at: 1_000,
        }),
      );
      const profile = { body: b64u(body), sig: b64u(signBytes(joe.accountKey, "profile", body)) };
      await server.http.json("PUT", `${server.url}/_people/v1/accounts/${joe.address}/profile`, profile);
      assert.deepEqual(
        await server.http.json("GET", `${server.url}/_people/v1/accounts/${joe.address}/profile`),
        profile,
      );
      const forged = { body: profile.body, sig: b64u(signBytes(Ed25519KeyPair.generate(), "profile", body)) };
      await expectRemote(
        server.http.json("PUT", `${server.url}/_people/v1/accounts/${joe.address}/profile`, forged),
        "PEOPLE_BAD_SIGNATURE",
      );

      const token = await login(server, joe.devices[0]!);
      const postBody = Buffer.from(JSON.stringify({ v: 1, type: "people.post", text: "hi all" }));
      const post = {
        post_id: b64u(randomBytes(16)),
        public: true,
        post: { body: b64u(postBody), sig: b64u(signBytes(joe.accountKey, "post", postBody)) },
      };
      await server.http.json("POST", `${server.url}/_people/v1/accounts/${joe.address}/feed`, post, {
        authorization: `Bearer ${token}`,
      });
      const feed = await server.http.json<{ posts: { post_id: string; public: boolean }[] }>(
        "GET",
        `${server.url}/_people/v1/accounts/${joe.address}/feed`,
      );
      assert.deepEqual(
        feed.posts.map((p) => [p.post_id, p.public]),
        [[post.post_id, true]],
      );
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/accounts/${jane.address}/feed`, post, {
          authorization: `Bearer ${token}`,
        }),
        "PEOPLE_FORBIDDEN",
      );
    });

    it("refuses a profile older than the one it holds, replayed by anyone; the same one again is a repeat", async () => {
      const url = `${server.url}/_people/v1/accounts/${joe.address}/profile`;
      const signed = (fields: Record<string, unknown>) => {
        const body = Buffer.from(
          JSON.stringify({ v: 1, type: "people.profile", address: joe.address, ...fields }),
        );
        return { body: b64u(body), sig: b64u(signBytes(joe.accountKey, "profile", body)) };
      };
      const v1 = signed({ display_name: "Joe 1", updated_at: 10_000 });
      const v2 = signed({ display_name: "Joe 2", updated_at: 20_000 });
      await server.http.json("PUT", url, v1);
      await server.http.json("PUT", url, v2);
      // Anyone holding the older signed profile puts it again: refused, the newer one is still served.
      await expectRemote(server.http.json("PUT", url, v1), "PEOPLE_REPLAYED");
      const replay = await server.http.send("PUT", url, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(v1),
      });
      assert.equal(replay.status, 409);
      assert.deepEqual(JSON.parse(replay.body.toString("utf8")), {
        errcode: "PEOPLE_REPLAYED",
        error: "A newer profile of this account is already stored.",
      });
      assert.deepEqual(await server.http.json("GET", url), v2);
      // The same profile again: 200, nothing changes. Another one as old: refused.
      assert.deepEqual(await server.http.json("PUT", url, v2), {});
      await expectRemote(
        server.http.json("PUT", url, signed({ display_name: "Joe 2b", updated_at: 20_000 })),
        "PEOPLE_REPLAYED",
      );
      // A body without a usable updated_at, or naming another address, is refused before anything is stored.
      await expectRemote(
        server.http.json("PUT", url, signed({ display_name: "no time" })),
        "PEOPLE_BAD_JSON",
      );
      await expectRemote(
        server.http.json("PUT", url, signed({ updated_at: 30_000, address: "jane@a.test" })),
        "PEOPLE_BAD_REQUEST",
      );
      assert.deepEqual(await server.http.json("GET", url), v2);
      // Racing puts of several newer versions: the newest stays, whatever order they land in.
      const versions = [5, 3, 9, 4, 8].map((n) =>
        signed({ display_name: `Joe ${n}`, updated_at: n * 10_000 }),
      );
      const outcomes = await Promise.allSettled(versions.map((v) => server.http.json("PUT", url, v)));
      for (const o of outcomes) {
        if (o.status === "rejected")
          assert.ok(o.reason instanceof PeopleError && o.reason.code === "PEOPLE_REPLAYED");
      }
      assert.deepEqual(await server.http.json("GET", url), versions[2]);
    });

    it("accepts a rotation that extends the chain and refuses a stale or forked list", async () => {
      const ann = await registerAccount(server, `ann${engine}`, 1);
      ann.devices[0]!.rotate(ann.accountKey, Date.now());
      await server.http.json(
        "PUT",
        `${server.url}/_people/v1/accounts/${ann.address}/devices`,
        deviceUpload(ann, 2),
      );
      await expectRemote(
        server.http.json(
          "PUT",
          `${server.url}/_people/v1/accounts/${ann.address}/devices`,
          deviceUpload(ann, 2),
        ),
        "PEOPLE_CHAIN_FORK",
      );
      // Mail sealed to the rotated key reaches the device.
      const key = await envelopeKeyOf(server);
      assert.equal((await postEnvelope(server, sealTo(jane, ann, key).outer)).status, 200);
    });

    it("exposes Prometheus metrics", async () => {
      const res = await server.http.send("GET", `${server.url}/metrics`);
      const text = res.body.toString();
      assert.match(text, /people_envelopes_accepted_total \d+/);
      assert.match(text, /people_envelopes_rejected_total\{errcode="PEOPLE_EXPIRED"\} \d+/);
    });

    it("answers unknown routes and malformed JSON with the error shape, never a stack", async () => {
      const missing = await server.http.send("GET", `${server.url}/_people/v1/nothing-here`);
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.body.toString()).errcode, "PEOPLE_NOT_FOUND");
      const broken = await server.http.send("POST", `${server.url}/_people/v1/accounts`, {
        headers: { "content-type": "application/json" },
        body: '{"address": ',
      });
      assert.equal(broken.status, 400);
      assert.deepEqual(JSON.parse(broken.body.toString()), {
        errcode: "PEOPLE_BAD_JSON",
        error: "The request body is not valid JSON of the expected shape.",
      });
    });
  });
}

describe("People server: registration policy and TLS", function () {
  this.timeout(60_000);

  it("closed and token registration refuse strangers; a development certificate is made once and reused", async () => {
    const server = await startTestServer("closed.test", {
      config: { registration: { mode: "token", tokens: ["invite-0123456789abcdef"] } },
    });
    try {
      const a = makeAccount("amy@closed.test", Date.now());
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/accounts`, {
          address: a.address,
          ...deviceUpload(a),
        }),
        "PEOPLE_FORBIDDEN",
      );
      await expectRemote(
        server.http.json("POST", `${server.url}/_people/v1/accounts`, {
          address: a.address,
          invite: "invite-wrong-0000000000",
          ...deviceUpload(a),
        }),
        "PEOPLE_FORBIDDEN",
      );
      await server.http.json("POST", `${server.url}/_people/v1/accounts`, {
        address: a.address,
        invite: "invite-0123456789abcdef",
        ...deviceUpload(a),
      });
      assert.ok(existsSync(join(server.dataDir, "tls", "dev-cert.pem")));
      // A client that does not trust the development certificate is refused by TLS.
      const stranger = new HttpsClient();
      await assert.rejects(
        stranger.send("GET", `${server.url}/_people/v1/health`),
        (e: unknown) => e instanceof PeopleError && e.code === "PEOPLE_UNAVAILABLE",
      );
      stranger.close();
    } finally {
      await server.stop();
    }
  });
});
