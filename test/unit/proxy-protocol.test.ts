import assert from "node:assert/strict";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import fc from "fast-check";
import {
  Command,
  IPv4Address,
  IPv4ProxyAddress,
  IPv6Address,
  IPv6ProxyAddress,
  TransportProtocol,
  V2ProxyProtocol,
} from "proxy-protocol-js";
import { isCidr } from "../../src/people/server/config";
import {
  headerLength,
  parseProxyHeader,
  proxyGate,
  ProxyHeaderError,
  trustedProxies,
  V2_SIGNATURE,
} from "../../src/people/server/proxy-protocol";

/** A header as HAProxy sends it, TLVs after the addresses (counted in the length). */
const withTlv = (built: Uint8Array, tlv: Uint8Array): Buffer => {
  const h = Buffer.concat([Buffer.from(built), tlv]);
  h.writeUInt16BE(h.readUInt16BE(14) + tlv.length, 14);
  return h;
};
const v4 = (src: number[], cmd = Command.PROXY, tlv = new Uint8Array()) =>
  withTlv(
    new V2ProxyProtocol(
      cmd,
      TransportProtocol.STREAM,
      new IPv4ProxyAddress(IPv4Address.createFrom(src), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 7367),
    ).build(),
    tlv,
  );

const expand = (b: number[]) =>
  new URL(
    `http://[${Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(":")}]/`,
  ).hostname.slice(1, -1);

describe("PROXY protocol v2 header", () => {
  it("reads the spec's IPv4 example (127.0.0.1 → 192.0.2.1)", () => {
    const example = Buffer.from([
      13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 0x21, 0x11, 0, 12, 127, 0, 0, 1, 192, 0, 2, 1, 48, 57,
      212, 49,
    ]);
    assert.equal(headerLength(example), 28);
    assert.deepEqual(parseProxyHeader(example), { kind: "proxy", address: "127.0.0.1" });
  });

  it("writes an IPv6 source in its shortest form, as Node writes a socket's address", () => {
    const h = Buffer.from(
      new V2ProxyProtocol(
        Command.PROXY,
        TransportProtocol.STREAM,
        new IPv6ProxyAddress(
          IPv6Address.createFrom([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
          1,
          IPv6Address.createWithEmptyAddress(),
          2,
        ),
      ).build(),
    );
    assert.deepEqual(parseProxyHeader(h), { kind: "proxy", address: "2001:db8::1" });
  });

  it("takes a LOCAL header (health checks) as the proxy's own connection", () => {
    const h = v4([127, 0, 0, 1], Command.LOCAL);
    assert.deepEqual(parseProxyHeader(h.subarray(0, headerLength(h))), { kind: "local" });
  });

  it("frames and reads any IPv4 or IPv6 source, with TLVs, from any prefix of the bytes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
        ),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 32 }),
        (src, tlv, after) => {
          const header =
            src.length === 4
              ? v4(src, Command.PROXY, tlv)
              : withTlv(
                  new V2ProxyProtocol(
                    Command.PROXY,
                    TransportProtocol.STREAM,
                    new IPv6ProxyAddress(IPv6Address.createFrom(src), 1, IPv6Address.createFrom(src), 2),
                  ).build(),
                  tlv,
                );
          const wire = Buffer.concat([header, after]);
          for (let n = 0; n < header.length; n++) assert.equal(headerLength(wire.subarray(0, n)), 0);
          assert.equal(headerLength(wire), header.length);
          const parsed = parseProxyHeader(wire.subarray(0, header.length));
          assert.equal(parsed.kind, "proxy");
          if (src.length === 4) assert.equal(parsed.kind === "proxy" && parsed.address, src.join("."));
          else if (parsed.kind === "proxy") {
            // v4-mapped sources read as the IPv4 client; others as the IPv6 address.
            const mapped = src.slice(0, 12).join(",") === "0,0,0,0,0,0,0,0,0,0,255,255";
            assert.equal(parsed.address, mapped ? src.slice(12).join(".") : expand(src));
          }
        },
      ),
    );
  });

  it("refuses anything that is not a v2 header as soon as it can tell", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes);
        const sig = Math.min(b.length, 12);
        if (b.subarray(0, sig).equals(V2_SIGNATURE.subarray(0, sig))) return;
        assert.throws(() => headerLength(b), ProxyHeaderError);
      }),
    );
    // A TLS ClientHello and a v1 text header are not v2.
    assert.throws(() => headerLength(Buffer.from([0x16, 3, 1])), ProxyHeaderError);
    assert.throws(() => headerLength(Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")), ProxyHeaderError);
  });

  it("refuses a bad version, a body too long, addresses cut short and a header without an IP source", () => {
    const h = v4([1, 2, 3, 4]);
    const badVersion = Buffer.from(h);
    badVersion[12] = 0x11;
    assert.throws(() => parseProxyHeader(badVersion), ProxyHeaderError);
    const long = Buffer.from(h);
    long.writeUInt16BE(5000, 14);
    assert.throws(() => headerLength(long), ProxyHeaderError);
    const short = Buffer.from(h.subarray(0, 20));
    short.writeUInt16BE(4, 14);
    assert.throws(() => parseProxyHeader(short), ProxyHeaderError);
    const unspec = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x00, 0, 0])]);
    assert.throws(() => parseProxyHeader(unspec), ProxyHeaderError);
  });

  it("checks trusted_proxies CIDRs", () => {
    assert.ok(isCidr("127.0.0.1/32") && isCidr("::1/128") && isCidr("10.0.0.1"));
    assert.ok(!isCidr("10.0.0.0/33") && !isCidr("nope/8") && !isCidr("1.2.3.4/8/8") && !isCidr("::1/129"));
    const list = trustedProxies(["10.0.0.0/8", "::1/128"]);
    assert.ok(list.check("10.9.8.7", "ipv4") && list.check("::1", "ipv6") && !list.check("11.0.0.1", "ipv4"));
  });
});

describe("PROXY protocol gate on a socket", () => {
  let server: Server;
  let port: number;
  const seen: { address: string | undefined; first: string }[] = [];
  const refused: string[] = [];

  before(async () => {
    const trusted = trustedProxies(["127.0.0.1/32"]);
    server = createServer((s) =>
      proxyGate(s, {
        trusted,
        timeoutMs: 5_000,
        accept: (socket: Socket) => {
          socket.once("data", (d: Buffer) => {
            seen.push({ address: socket.remoteAddress, first: d.toString() });
            socket.end("ok");
          });
          socket.resume();
        },
        refused: (reason) => refused.push(reason),
      }),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const exchange = (localAddress: string, bytes: Buffer[]): Promise<string> =>
    new Promise((resolve) => {
      const s = connect({ port, host: "127.0.0.1", localAddress });
      let got = "";
      s.on("data", (d: Buffer) => (got += d.toString()));
      s.on("error", () => undefined);
      s.on("close", () => resolve(got));
      s.once("connect", () => {
        // Byte by byte: the gate must frame across chunks.
        void (async () => {
          for (const b of bytes) {
            for (const byte of b) {
              s.write(Buffer.from([byte]));
              await new Promise((r) => setImmediate(r));
            }
          }
        })();
      });
    });

  it("hands a trusted proxy's connection on with the client's address and the bytes after the header", async () => {
    assert.equal(await exchange("127.0.0.1", [v4([203, 0, 113, 7]), Buffer.from("hello")]), "ok");
    assert.deepEqual(seen.at(-1), { address: "203.0.113.7", first: "h" });
  });

  it("refuses a trusted proxy's connection without a header, and a header from anyone else", async () => {
    const before = seen.length;
    assert.equal(await exchange("127.0.0.1", [Buffer.from([0x16, 3, 1, 0, 5])]), "");
    assert.equal(await exchange("127.0.0.2", [v4([203, 0, 113, 7])]), "");
    assert.equal(seen.length, before);
    assert.deepEqual(refused.slice(-2), [
      "not a PROXY protocol v2 header",
      "PROXY header from an untrusted address",
    ]);
    // Anyone else without a header is served as themselves.
    assert.equal(await exchange("127.0.0.2", [Buffer.from([0x16])]), "ok");
    assert.equal(seen.at(-1)?.address, "127.0.0.2");
  });
});
