// The PROXY protocol v2 (HAProxy `send-proxy-v2`) in front of the TLS listener:
// a trusted balancer's connection starts with a binary header naming the
// client, read here before TLS begins, so the per-IP limits count clients and
// not the balancer. A connection from a trusted proxy without the header is
// refused (it would count every client as one), and so is one from anyone
// else that sends a header (it could claim any address). The header's fields
// are decoded by proxy-protocol-js; this file only frames and checks it.
import type { Server } from "node:https";
import {
  BlockList,
  createServer as createNetServer,
  isIP,
  type Server as NetServer,
  type Socket,
} from "node:net";
import type { TLSSocket } from "node:tls";
import {
  AddressFamilyType,
  Command,
  IPv4ProxyAddress,
  IPv6ProxyAddress,
  V2ProxyProtocol,
} from "proxy-protocol-js";
import type { Logger } from "./logger.js";

/** The 12-byte signature every v2 header starts with. */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Signature, version/command, family/transport and the 2-byte length. */
const FIXED = 16;
/** Addresses (at most 216 bytes, AF_UNIX) plus TLVs: HAProxy sends a few; more is refused. */
const MAX_BODY = 1024;

export type ProxyHeader =
  /** A connection the proxy relays for this client. */
  | { kind: "proxy"; address: string }
  /** The proxy's own connection (health checks): its own address stands. */
  | { kind: "local" };

export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

/**
 * How many bytes the header at the start of `buf` takes: 0 when more bytes are needed.
 * Throws ProxyHeaderError as soon as what arrived cannot start a v2 header.
 */
export function headerLength(buf: Buffer): number {
  const sig = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, sig).equals(V2_SIGNATURE.subarray(0, sig))) {
    throw new ProxyHeaderError("not a PROXY protocol v2 header");
  }
  if (buf.length < FIXED) return 0;
  const body = buf.readUInt16BE(14);
  if (body > MAX_BODY) throw new ProxyHeaderError("PROXY header too long");
  return buf.length < FIXED + body ? 0 : FIXED + body;
}

/** Decode one complete header (as framed by headerLength). */
export function parseProxyHeader(header: Buffer): ProxyHeader {
  let proto: V2ProxyProtocol;
  try {
    proto = V2ProxyProtocol.parse(new Uint8Array(header));
  } catch (err) {
    throw new ProxyHeaderError(`malformed PROXY header: ${(err as { message?: string }).message ?? ""}`);
  }
  const body = header.readUInt16BE(14);
  const family = proto.addressFamilyType;
  const need = family === AddressFamilyType.INET ? 12 : family === AddressFamilyType.INET6 ? 36 : 0;
  if (body < need) throw new ProxyHeaderError("PROXY header shorter than its addresses");
  if (proto.command === Command.LOCAL) return { kind: "local" };
  const a = proto.proxyAddress;
  if (a instanceof IPv4ProxyAddress) return { kind: "proxy", address: a.sourceAddress.address.join(".") };
  if (a instanceof IPv6ProxyAddress) return { kind: "proxy", address: ipv6(a.sourceAddress.address) };
  // AF_UNSPEC or AF_UNIX: no client address to count by.
  throw new ProxyHeaderError("PROXY header without an IP source address");
}

function ipv6(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const text = groups.join(":");
  // A v4-mapped address counts as the IPv4 client it is.
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(text);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  // The shortest form, as Node writes a socket's remoteAddress ("::1").
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** The networks whose connections must carry the header. */
export function trustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [address, prefix] = c.split("/") as [string, string | undefined];
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    list.addSubnet(address, prefix === undefined ? (type === "ipv4" ? 32 : 128) : Number(prefix), type);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return list.check(v4[1]!, "ipv4");
  return list.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}

export interface ProxyGateOptions {
  trusted: BlockList;
  /** The header must arrive within this time. */
  timeoutMs: number;
  /** Hand the socket on (its remoteAddress now the client's). */
  accept(socket: Socket): void;
  /** A refused connection (no plaintext, only why). */
  refused(reason: string, peer: string | undefined): void;
}

/**
 * Read the header from a new connection, then hand it on with the client's
 * address as its remoteAddress and the bytes after the header put back.
 */
export function proxyGate(socket: Socket, o: ProxyGateOptions): void {
  const peer = socket.remoteAddress;
  const trusted = peer !== undefined && isTrusted(o.trusted, peer);
  let buf: Buffer = Buffer.alloc(0);
  const refuse = (reason: string) => {
    cleanup();
    o.refused(reason, peer);
    socket.destroy();
  };
  const timer = setTimeout(() => refuse("no PROXY header in time"), o.timeoutMs);
  const onError = () => {
    cleanup();
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!trusted) {
      // Anyone else speaks TLS at once; a header (v2 or v1 text) from them is refused.
      if (buf[0] === V2_SIGNATURE[0] || buf[0] === 0x50)
        return refuse("PROXY header from an untrusted address");
      return pass(buf);
    }
    let length: number;
    let header: ProxyHeader;
    try {
      length = headerLength(buf);
      if (length === 0) return;
      header = parseProxyHeader(buf.subarray(0, length));
    } catch (err) {
      return refuse(err instanceof ProxyHeaderError ? err.message : "malformed PROXY header");
    }
    if (header.kind === "proxy") {
      Object.defineProperty(socket, "remoteAddress", { value: header.address, configurable: true });
    }
    pass(buf.subarray(length));
  };
  const cleanup = () => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
  };
  const pass = (rest: Buffer) => {
    cleanup();
    socket.pause();
    if (rest.length > 0) socket.unshift(rest);
    o.accept(socket);
  };
  socket.on("error", onError);
  socket.on("data", onData);
}

/**
 * A plain TCP listener that reads the header and hands each connection to
 * `https` (which then does not listen itself). The TLS socket https makes gets
 * the client's address as its remoteAddress (ctx.ip), from the raw socket it
 * wraps (`_parent`: Node sets it for a TLSSocket made over another socket).
 */
export function proxiedListener(
  https: Server,
  o: { trusted: BlockList; timeoutMs: number; maxConnections: number; log: Logger },
): NetServer {
  https.on("secureConnection", (tls: TLSSocket) => {
    const raw = (tls as TLSSocket & { _parent?: Socket | null })._parent;
    const address = raw?.remoteAddress;
    if (address !== undefined && address !== tls.remoteAddress) {
      Object.defineProperty(tls, "remoteAddress", { value: address, configurable: true });
    }
  });
  const front = createNetServer((socket) =>
    proxyGate(socket, {
      trusted: o.trusted,
      timeoutMs: o.timeoutMs,
      accept: (s) => https.emit("connection", s),
      refused: (reason, peer) => o.log.debug({ reason, peer }, "proxy protocol: connection refused"),
    }),
  );
  front.maxConnections = o.maxConnections;
  return front;
}
