// A Matrix user as Element X is one: matrix-js-sdk with its Rust crypto on
// (the same matrix-sdk-crypto Element X uses), its own cross-signing set up,
// against the harness's real Synapse. Enough for the end-to-bridge tests;
// the fuller Element X client helper lives in test/helpers/element-x-client.ts
// once that lands.
import assert from "node:assert/strict";
import { ClientEvent, SyncState, createClient, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { EventShieldColour, type CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { MatrixUser } from "./bridge-harness.js";
import { quietSdkLogger } from "./matrix-sdk-node.js";
import type { SynapseHandle } from "./synapse.js";

export interface CryptoUser extends MatrixUser {
  deviceId: string;
  password: string;
  crypto: CryptoApi;
  /** Holds back this client's encrypted to-device sends (room keys), as a slow network would. */
  toDevice: ToDeviceGate;
}

/**
 * While `hold` is set, the client's PUT /sendToDevice/m.room.encrypted requests
 * are answered 200 at once but sent to the homeserver only on release():
 * a room key that arrives after the message it opens.
 */
export class ToDeviceGate {
  hold = false;
  private held: (() => Promise<unknown>)[] = [];

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (this.hold && init?.method === "PUT" && /\/sendToDevice\/m\.room\.encrypted\//.test(url)) {
      this.held.push(() => fetch(input, init));
      return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
    }
    return fetch(input, init);
  };

  get count(): number {
    return this.held.length;
  }

  /** Sends what was held, in order. */
  async release(): Promise<void> {
    this.hold = false;
    const held = this.held;
    this.held = [];
    for (const send of held) {
      const res = (await send()) as Response;
      assert.ok(res.ok, `a held to-device send failed: ${res.status}`);
    }
  }
}

async function startClient(
  hs: SynapseHandle,
  account: { userId: string; accessToken: string; deviceId: string },
  password: string,
  crossSign = true,
): Promise<CryptoUser> {
  const toDevice = new ToDeviceGate();
  const client: MatrixClient = createClient({
    fetchFn: toDevice.fetch as typeof fetch,
    baseUrl: hs.url,
    userId: account.userId,
    accessToken: account.accessToken,
    deviceId: account.deviceId,
    logger: quietSdkLogger,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const crypto = client.getCrypto() ?? assert.fail("no crypto");
  const synced = new Promise<void>((resolveSynced) => {
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        client.off(ClientEvent.Sync, onSync);
        resolveSynced();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20 });
  await synced;
  // Cross-signing as Element sets it up on the first device.
  if (crossSign)
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: false,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: account.userId },
          password,
        } as never);
      },
    });
  return { ...account, password, client, crypto, toDevice };
}

/** Registers a user and starts an Element X-like client (Rust crypto, cross-signing bootstrapped). */
export async function startCryptoUser(hs: SynapseHandle, localpart: string): Promise<CryptoUser> {
  const password = `${localpart}-password`;
  const account = await hs.registerUser(localpart, password);
  return startClient(hs, account, password);
}

/**
 * A second device of an existing user: logs in with the password and starts
 * its own client (not verified by the first: that takes an interactive verification).
 */
export async function loginCryptoDevice(hs: SynapseHandle, user: CryptoUser): Promise<CryptoUser> {
  const res = await fetch(`${hs.url}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: user.userId },
      password: user.password,
    }),
  });
  assert.ok(res.ok, `login failed: ${res.status}`);
  const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
  return startClient(
    hs,
    { userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id },
    user.password,
    false,
  );
}

/**
 * What the client itself says about a bridged event: decrypted, sent by a device
 * its owner cross-signed (no shield), and the shield reason when there is one.
 */
export async function shieldOf(user: CryptoUser, event: MatrixEvent) {
  const info = await user.crypto.getEncryptionInfoForEvent(event);
  return {
    encrypted: event.isEncrypted(),
    decryptionFailure: event.isDecryptionFailure(),
    none: info?.shieldColour === EventShieldColour.NONE,
    colour: info?.shieldColour,
    reason: info?.shieldReason ?? null,
  };
}
