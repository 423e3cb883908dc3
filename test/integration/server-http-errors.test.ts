// Every HTTP error of the People server is JSON {errcode, error} with the
// status its errcode has (PROTOCOL §2, §16): the router's own answers (unknown
// path, wrong method, unknown method) and a request Node cannot parse, as well
// as the errors of the routes.
import assert from "node:assert/strict";
import { connect } from "node:tls";
import { ERROR_CODES, type ErrorCode } from "../../src/people/errors.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";

describe("People server: every HTTP error is JSON with an errcode", function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startTestServer("errors.test");
  });
  after(async () => {
    await server.stop();
  });

  async function request(
    method: string,
    path: string,
    o: { body?: string; headers?: Record<string, string> } = {},
  ) {
    return server.http.send(method, `${server.url}${path}`, {
      headers: o.headers ?? {},
      ...(o.body !== undefined ? { body: o.body } : {}),
    });
  }

  function assertError(
    res: { status: number; headers: Record<string, unknown>; body: Buffer },
    code: ErrorCode,
  ): void {
    assert.equal(res.status, ERROR_CODES[code].status, res.body.toString());
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    const json = JSON.parse(res.body.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ["errcode", "error"]);
    assert.equal(json.errcode, code);
    assert.equal(json.error, ERROR_CODES[code].text);
  }

  it("an unknown path: 404 PEOPLE_NOT_FOUND", async () => {
    assertError(await request("GET", "/nothing/here"), "PEOPLE_NOT_FOUND");
    assertError(await request("POST", "/_people/v1/nothing", { body: "x" }), "PEOPLE_NOT_FOUND");
  });

  it("a known path with another method: 405 PEOPLE_METHOD_NOT_ALLOWED, with the Allow header", async () => {
    const res = await request("POST", "/.well-known/people", { body: "{}" });
    assertError(res, "PEOPLE_METHOD_NOT_ALLOWED");
    assert.match(String(res.headers.allow), /GET/);
    assertError(await request("DELETE", "/_people/v1/server"), "PEOPLE_METHOD_NOT_ALLOWED");
  });

  it("a method the server does not implement at all: 501 PEOPLE_NOT_IMPLEMENTED", async () => {
    assertError(await request("PROPFIND", "/_people/v1/server"), "PEOPLE_NOT_IMPLEMENTED");
  });

  it("a route's own refusals: bad JSON 400, no credentials 401, too large 413", async () => {
    assertError(
      await request("POST", "/_people/v1/accounts", {
        body: "{not json",
        headers: { "content-type": "application/json" },
      }),
      "PEOPLE_BAD_JSON",
    );
    assertError(await request("GET", "/_people/v1/mailbox"), "PEOPLE_UNAUTHORIZED");
    assertError(
      await request("POST", "/_people/v1/envelopes", {
        body: "x".repeat(2 * 1024 * 1024),
        headers: { "content-type": "application/octet-stream" },
      }),
      "PEOPLE_TOO_LARGE",
    );
  });

  it("a request Node cannot parse: 400 PEOPLE_BAD_REQUEST as JSON, and the connection closed", async () => {
    const url = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: url.hostname,
        port: Number(url.port),
        ca: [server.handle.certificate],
        servername: "localhost",
      });
      const chunks: Buffer[] = [];
      socket.on("secureConnect", () => socket.write("THIS IS NOT HTTP\r\n\r\n"));
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("end", () => resolve(Buffer.concat(chunks).toString()));
      socket.on("error", reject);
    });
    const [head, body] = raw.split("\r\n\r\n");
    assert.match(head!, /^HTTP\/1\.1 400 /);
    assert.match(head!, /content-type: application\/json/i);
    assert.deepEqual(JSON.parse(body!), {
      errcode: "PEOPLE_BAD_REQUEST",
      error: ERROR_CODES.PEOPLE_BAD_REQUEST.text,
    });
  });
});
