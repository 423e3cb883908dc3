// The new device's side of linking (steps 2 and 5 of the flow in link.ts).
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain, parseAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import { certValidAt } from "../protocol/device-chain.js";
import { DEFAULT_ROTATION_MS, DeviceIdentity } from "../protocol/device-identity.js";
import type { VerifiedAccount } from "../protocol/device-list.js";
import { decryptInner, MemoryReplayGuard, sealMessage, verifyMessage } from "../protocol/envelope.js";
import { newDeviceId } from "../protocol/ids.js";
import { Ed25519KeyPair, X25519KeyPair } from "../protocol/keys.js";
import { encodeBody } from "../protocol/signed-json.js";
import { signBytes } from "../protocol/signing.js";
import { parseAnswer } from "./answers.js";
import { fetchDeviceLists, verifyLists } from "./directory.js";
import type { Discovery } from "../net/discovery.js";
import type { DeviceLists } from "./local-store.js";
import { LINK_TTL_MS } from "./link.js";
import {
  linkGrantSchema,
  linkKey,
  linkMac,
  macMatches,
  parseLinkCode,
  parseLinkDocument,
} from "./link-code.js";
import type { ServerDirectory } from "./server-directory.js";
import { Session } from "./session.js";
import { sleep } from "../../shared/sleep.js";

export interface JoinDeps {
  http: Pick<HttpsClient, "json" | "send">;
  discovery: Discovery;
  servers: ServerDirectory;
  now: () => number;
  /** How often to look for the other device's answer (default 1 s), and for how long (default 10 min). */
  pollMs?: number;
  timeoutMs?: number;
}

export interface Joined {
  accountKey: Ed25519KeyPair;
  identity: DeviceIdentity;
  lists: DeviceLists;
  /** Remove the grant from the mailbox: call once the secrets are persisted. */
  acknowledge: () => Promise<void>;
}

const mailboxAnswer = z.object({
  envelopes: z.array(z.object({ id: z.string(), data: z.string() })),
});

export async function joinByCode(deps: JoinDeps, o: { address: string; code: string }): Promise<Joined> {
  const address = parseAddress(o.address);
  const key = linkKey(parseLinkCode(o.code));
  const serverUrl = await deps.discovery.resolve(addressDomain(address));
  // Unauthenticated as yet: the account key read here is checked by the device that showed the code.
  const current = verifyLists(address, await fetchDeviceLists(deps.http, serverUrl, address));
  const now = deps.now();
  const signKey = Ed25519KeyPair.generate();
  const encKey = X25519KeyPair.generate();
  const device = newDeviceId();
  const body = encodeBody({
    v: 1,
    type: "people.device_cert",
    address,
    device,
    seq: 0,
    prev_hash: null,
    account_key: current.list.accountKey.toB64u(),
    keys: { sign: signKey.publicKey.toB64u(), enc: encKey.publicKey.toB64u() },
    not_before: now,
    not_after: now + 2 * DEFAULT_ROTATION_MS,
  });
  const request = {
    people_link_request: {
      v: 1,
      body: b64u(body),
      sig_self: b64u(signBytes(signKey, "device-cert", body)),
      mac: b64u(linkMac(key, "request", body)),
    },
  };
  const devices = [...current.chains.values()].map((c) => c.head).filter((h) => certValidAt(h, now));
  if (devices.length === 0) throw new PeopleError("PEOPLE_EXPIRED", "the account has no device to link with");
  const server = await deps.servers.keys(addressDomain(address));
  const sealed = sealMessage({
    from: address,
    device,
    signingKey: signKey,
    to: [address],
    content: { type: "device_link", document: JSON.stringify(request) },
    copies: [{ address, devices: devices.map((d) => d.encKey), server: server.envelopeKey }],
    now,
    ttlMs: LINK_TTL_MS,
  });
  const res = await deps.http.send("POST", `${serverUrl}/_people/v1/envelopes`, {
    headers: { "content-type": "application/octet-stream" },
    body: sealed.copies[0]!.outer,
  });
  if (res.status !== 200)
    throw new PeopleError("PEOPLE_UNAVAILABLE", `link request not delivered (${res.status})`);

  const deadline = deps.now() + (deps.timeoutMs ?? 10 * 60 * 1000);
  const pollMs = deps.pollMs ?? 1000;
  // Step 5: wait for the list that names this device; its certificate now carries the account's signature.
  let lists: DeviceLists | undefined;
  let listed: VerifiedAccount | undefined;
  while (!listed) {
    if (deps.now() > deadline) throw timeout();
    await sleep(pollMs);
    lists = await fetchDeviceLists(deps.http, serverUrl, address);
    const v = verifyLists(address, lists);
    if (v.list.accountKey.equals(current.list.accountKey) && v.chains.has(device)) listed = v;
  }
  const cert = listed.chains.get(device)!.certs[0]!;
  if (!cert.bodyBytes.equals(body))
    throw new PeopleError("PEOPLE_CHAIN_FORK", "the listed certificate is not ours");
  const identity = DeviceIdentity.importSecrets({
    v: 1,
    address,
    device,
    sign: b64u(signKey.exportSeed()),
    enc: b64u(encKey.exportSecret()),
    retired: [],
    certs: [cert.wire],
  });
  const session = new Session({
    http: deps.http,
    serverUrl: async () => serverUrl,
    identity: () => identity,
    now: deps.now,
  });
  while (deps.now() <= deadline) {
    const grant = await findGrant(session, identity, listed, key, cert.hash, deps.now());
    if (grant) {
      const acknowledge = async () => {
        await session.json("POST", "/_people/v1/mailbox/ack", { ids: [grant.envelopeId] });
      };
      return { accountKey: grant.accountKey, identity, lists: lists!, acknowledge };
    }
    await sleep(pollMs);
  }
  throw timeout();
}

/** Look through the mailbox for the grant (other mail is left for the regular receiver). */
async function findGrant(
  session: Session,
  identity: DeviceIdentity,
  listed: VerifiedAccount,
  key: Buffer,
  certHash: Buffer,
  now: number,
): Promise<{ accountKey: Ed25519KeyPair; envelopeId: string } | undefined> {
  const box = parseAnswer(
    mailboxAnswer,
    await session.json("GET", "/_people/v1/mailbox?after=0&limit=100"),
    "mailbox",
  );
  for (const envelope of box.envelopes) {
    const inner = fromB64u(envelope.data);
    if (!inner) continue;
    let accountKey: Ed25519KeyPair;
    try {
      const message = decryptInner(inner, (id) => identity.decryptionKey(id));
      if (message.from !== identity.address || message.device === identity.device) continue;
      const senderKey = keyAt(listed, message.device, message.ts);
      if (!senderKey) continue;
      const verified = verifyMessage(message, senderKey, {
        self: identity.address,
        now,
        replay: new MemoryReplayGuard(),
      });
      if (verified.content.type !== "device_link") continue;
      const grant = parseLinkDocument(linkGrantSchema, verified.content.document)?.people_link_grant;
      const seed = grant ? fromB64u(grant.account_seed) : null;
      if (!grant || !seed || seed.length !== 32 || grant.device !== identity.device) continue;
      const mac = linkMac(key, "grant", Buffer.from(`${identity.device}\0`), seed, certHash);
      if (!macMatches(mac, grant.mac)) continue;
      accountKey = Ed25519KeyPair.fromSeed(seed);
      if (!accountKey.publicKey.equals(listed.list.accountKey)) continue;
    } catch {
      continue; // not the grant (or not for us): left for the regular receiver
    }
    return { accountKey, envelopeId: envelope.id };
  }
  return undefined;
}

function keyAt(listed: VerifiedAccount, device: string, ts: number) {
  const chain = [...listed.chains.values()].find((c) => c.head.device === device);
  return [...(chain?.certs ?? [])].reverse().find((c) => c.notBefore <= ts && ts < c.notAfter)?.signKey;
}

function timeout(): PeopleError {
  return new PeopleError("PEOPLE_UNAVAILABLE", "linking timed out", {
    publicText: "The other device did not answer. Check the code and that it is online.",
  });
}
