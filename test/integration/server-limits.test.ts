// Hostile connections: a client that sends its headers too slowly is cut off,
// a request body that never finishes is cut off, and connections beyond the
// configured maximum are refused, while the server keeps serving others.
import assert from "node:assert/strict";
import { connect, type TLSSocket } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";

function open(server: TestServer): Promise<TLSSocket> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port: Number(port), ca: [server.handle.certificate], servername: "localhost" },
      () => resolve(socket),
    );
    socket.once("error", reject);
  });
}

function closed(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once("close", () => resolve());
  });
}

describe("People server: slow and excess connections", function () {
  this.timeout(30_000);
  let server: TestServer;

  before(async () => {
    server = await startTestServer("limits.test", {
      config: { limits: { headers_timeout: 1000, request_timeout: 1500, max_connections: 5 } },
    });
  });
  after(async () => server?.stop());

  it("cuts off a client that sends headers slowly (slow loris) and keeps serving", async () => {
    const socket = await open(server);
    socket.write("GET /_people/v1/health HTTP/1.1\r\nHost: x\r\n");
    const dripping = setInterval(() => socket.writable && socket.write("X-Drip: 1\r\n"), 200);
    const started = Date.now();
    await closed(socket);
    clearInterval(dripping);
    assert.ok(Date.now() - started < 10_000, "closed by the server");
    assert.equal((await server.http.send("GET", `${server.url}/_people/v1/health`)).status, 200);
  });

  it("cuts off a request body that never finishes", async () => {
    const socket = await open(server);
    socket.write(
      "POST /_people/v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n",
    );
    socket.write(Buffer.alloc(1000));
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString()));
    await closed(socket);
    // Either a 408/400 answer or a plain close; never a stored envelope.
    assert.doesNotMatch(answer, /"status":"stored"/);
    assert.equal(await server.handle.store.mailbox.depth(), 0);
  });

  it("refuses connections beyond max_connections and recovers when they close", async () => {
    // Its own server: the short header timeout above would close idle sockets while the test counts.
    const crowded = await startTestServer("crowded.test", { config: { limits: { max_connections: 5 } } });
    try {
      await expectRefusalBeyondLimit(crowded);
    } finally {
      await crowded.stop();
    }
  });
});

async function expectRefusalBeyondLimit(server: TestServer): Promise<void> {
  const sockets: TLSSocket[] = [];
  let refusedAt = -1;
  for (let i = 0; i < 8 && refusedAt < 0; i++) {
    // A refused connection is closed by the server straight after the handshake.
    const socket = await open(server).catch(() => undefined);
    const outcome = socket
      ? await Promise.race([closed(socket).then(() => "closed"), sleep(500).then(() => "open")])
      : "closed";
    if (outcome === "closed") refusedAt = i;
    else sockets.push(socket!);
  }
  assert.ok(refusedAt >= 0 && refusedAt <= 5, `refused at connection ${refusedAt}`);
  for (const s of sockets) s.destroy();
  // Recovered once the server has seen the closes: polled, as a busy machine may take a while.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await server.http
      .send("GET", `${server.url}/_people/v1/health`)
      .then((r) => r.status)
      .catch((err: unknown) => String(err));
    if (status === 200) break;
    assert.ok(Date.now() < deadline, `the server still refuses after the sockets closed: ${status}`);
    await sleep(100);
  }
}
