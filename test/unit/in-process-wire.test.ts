// The in-process link's two ends (net/in-process-wire.ts) behave as a
// WebSocket and its server socket would: frames in order each way, what the
// server sent before the client opened arrives after "open", a close reaches
// both ends once (after the frames sent before it), nothing is sent after it,
// and a refused link is an HTTP status then a close.
import assert from "node:assert/strict";
import { once } from "node:events";
import { wirePair } from "../../src/people/net/in-process-wire.js";

const texts = (frames: Buffer[]) => frames.map((b) => b.toString("utf8"));

describe("in-process wire", () => {
  it("hands frames over in order, after open, and closes both ends once", async () => {
    const { client, server } = wirePair();
    const toClient: Buffer[] = [];
    const toServer: Buffer[] = [];
    const closes: string[] = [];
    client.on("message", (d: Buffer) => toClient.push(d));
    server.on("message", (d: Buffer) => toServer.push(d));
    client.on("close", (code: number) => closes.push(`client ${code}`));
    server.once("close", () => closes.push("server"));
    server.send("ready");
    server.send(Buffer.from("e1"), { binary: false });
    assert.equal(client.readyState, 0, "connecting until the attach point accepted");
    assert.throws(() => client.send("too early"));
    const opened = once(client, "open");
    client.open();
    await opened;
    assert.equal(client.readyState, 1);
    for (let i = 0; i < 100; i++) client.send(`c${i}`);
    server.send("e2");
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(texts(toClient), ["ready", "e1", "e2"]);
    assert.deepEqual(
      texts(toServer),
      Array.from({ length: 100 }, (_, i) => `c${i}`),
    );
    server.send("last");
    client.close(1000);
    client.close(1000);
    server.send("after close");
    await once(server, "close");
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(texts(toClient).slice(-1), ["last"]);
    assert.deepEqual(closes, ["server", "client 1000"]);
    assert.equal(server.readyState, 3);
  });

  it("a close from inside a message handler is told once", async () => {
    const { client, server } = wirePair();
    let closes = 0;
    client.on("close", () => closes++);
    client.on("message", () => client.close(1000));
    client.open();
    await once(client, "open");
    server.send("a");
    server.send("b");
    await once(server, "close");
    await new Promise((r) => setImmediate(r));
    assert.equal(closes, 1);
  });

  it("a refused link answers with the status, then closes", async () => {
    const { client } = wirePair();
    const seen: unknown[] = [];
    client.on("unexpected-response", (_req: unknown, res: { statusCode: number }) =>
      seen.push(res.statusCode),
    );
    client.on("close", (code: number) => seen.push(`close ${code}`));
    client.refuse(401);
    await once(client, "close");
    assert.deepEqual(seen, [401, "close 1006"]);
  });

  it("the server's keepalive ping is answered", async () => {
    const { client, server } = wirePair();
    client.open();
    await once(client, "open");
    const pinged = once(client, "ping");
    const ponged = once(server, "pong");
    server.ping();
    await Promise.all([pinged, ponged]);
  });
});
