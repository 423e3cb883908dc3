// The ghost's LiveKit token exchange (src/bridge/rtc/livekit-token.ts) against a fake token
// service: what lk-jwt-service answers becomes a URL and a JWT; any other answer, random or
// hostile, is refused with one clear error and never anything else. The request is what
// Element Call sends (the focus's alias, else the room id; the OpenID token; the device).
import assert from "node:assert/strict";
import fc from "fast-check";
import { livekitTokenFor } from "../../src/bridge/adapters/rtc/livekit-token.js";

const FOCUS = { type: "livekit" as const, livekit_service_url: "https://lk.example.org/jwt" };
const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

const answering =
  (status: number, body: unknown, seen?: { url: string; body: unknown }[]): typeof fetch =>
  (input, init) => {
    seen?.push({ url: String(input), body: JSON.parse(String(init?.body)) });
    return Promise.resolve(new Response(typeof body === "string" ? body : JSON.stringify(body), { status }));
  };

describe("bridge rtc: the LiveKit token exchange", function () {
  it("posts what Element Call posts and takes lk-jwt-service's answer", async function () {
    const seen: { url: string; body: unknown }[] = [];
    const t = await livekitTokenFor({
      focus: FOCUS,
      roomId: "!r:hs",
      deviceId: "GHOSTDEV",
      openId: { access_token: "o" },
      fetch: answering(200, { url: "wss://sfu.example.org", jwt: JWT }, seen),
    });
    assert.deepEqual(t, { url: "wss://sfu.example.org", jwt: JWT });
    assert.deepEqual(seen, [
      {
        url: "https://lk.example.org/jwt/sfu/get",
        body: { room: "!r:hs", openid_token: { access_token: "o" }, device_id: "GHOSTDEV" },
      },
    ]);
    const aliased = await livekitTokenFor({
      focus: { ...FOCUS, livekit_alias: "alias" },
      roomId: "!r:hs",
      deviceId: "D",
      openId: {},
      fetch: answering(200, { url: "ws://127.0.0.1:7880", jwt: JWT }, seen),
    });
    assert.equal(aliased.url, "ws://127.0.0.1:7880");
    assert.equal((seen[1]!.body as { room: string }).room, "alias");
  });

  it("refuses a refusal, and any answer that is not a ws(s) URL and a JWT, with one clear error", async function () {
    await assert.rejects(
      livekitTokenFor({ focus: FOCUS, roomId: "!r", deviceId: "D", openId: {}, fetch: answering(401, {}) }),
      /answered 401/,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything(),
          fc.record({ url: fc.string(), jwt: fc.string() }),
          fc.record({
            url: fc.constantFrom("https://x", "javascript:alert(1)", "wss://"),
            jwt: fc.constant(JWT),
          }),
          fc.record({ url: fc.constant("wss://ok.example"), jwt: fc.string({ maxLength: 40 }) }),
          fc.string(),
        ),
        async (body) => {
          // What could pass (a ws(s) URL with a host, three base64url parts) is left out here.
          const b = (typeof body === "object" && body !== null ? body : {}) as {
            url?: unknown;
            jwt?: unknown;
          };
          const jwtLike = typeof b.jwt === "string" && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(b.jwt);
          const wsLike = typeof b.url === "string" && /^wss?:\/\/[^/]/i.test(b.url);
          const valid = jwtLike && wsLike;
          fc.pre(!valid);
          await assert.rejects(
            livekitTokenFor({
              focus: FOCUS,
              roomId: "!r",
              deviceId: "D",
              openId: {},
              fetch: answering(200, body),
            }),
            /the LiveKit token service gave no usable url and jwt/,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
