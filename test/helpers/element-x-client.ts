// An "Element X"-like Matrix user for end-to-bridge encryption tests:
// matrix-js-sdk with its Rust crypto (matrix-sdk-crypto-wasm, the same crypto
// crate Element X runs), against the harness's real Synapse.
//
// What a first login does here, as Element X does it: initRustCrypto (memory
// store: Node has no IndexedDB, and a test client never restarts), start
// syncing, bootstrapCrossSigning (master/self-signing/user-signing keys; the
// device is signed by its owner's self-signing key), then "recovery":
// bootstrapSecretStorage with a fresh recovery key (4S, the cross-signing
// private keys stored in it) and a new key backup. A later login of the same
// user (loginAnotherDevice) "verifies with the recovery key": it reads the
// cross-signing keys from 4S and signs itself, exactly what Element X's
// "Enter recovery key" does; without that it stays a device not verified by
// its owner (a red shield on everything it sends).
//
// Facts learned (matrix-js-sdk 43, crypto-wasm 18.9, Synapse 1.163):
// - The shield of an event: client.getCrypto().getEncryptionInfoForEvent(ev)
//   → { shieldColour: EventShieldColour, shieldReason: EventShieldReason|null }
//   (the non-strict mode Element uses: a cross-signed device of a user I have
//   not verified is NONE/null; a device its owner did not sign is
//   RED/UNSIGNED_DEVICE). null for an unencrypted event.
// - Trust is read from the keys the reader has downloaded: after a device
//   gets signed, readers see it only once they have re-queried the owner's
//   keys (device_lists.changed in their sync). waitForDeviceSignedByOwner
//   waits for that instead of sleeping.
// - History a later device restores from the key backup (restoreFromKeyBackup)
//   decrypts with GREY/AUTHENTICITY_NOT_GUARANTEED, as in Element: only keys
//   received straight from the sender's device give "no shield".
// - In "exclude insecure devices" mode (OnlySignedDevicesIsolationMode)
//   an event from an unsigned device does not decrypt at all
//   (DecryptionFailureCode.UNSIGNED_SENDER_DEVICE); per the SDK's docs it also
//   shares room keys only with signed devices (not measured here).
// - A fresh login must query its own keys (userHasCrossSigningKeys(me, true))
//   before importing the cross-signing keys from 4S, else the import silently
//   fails ("importCrossSigningKeys failed to import the keys"); and it sees its
//   own device as signed only after querying its keys again.
// - matrix-js-sdk never encrypts m.reaction (so Element Web sends reactions in
//   the clear even in encrypted rooms); matrix-rust-sdk (Element X) encrypts
//   them. sendReaction encrypts by default, { encrypted: false } is the Element
//   Web way; a bridge must take both. m.relates_to stays in the clear on the
//   wire of an encrypted event.
// - Node quirks (two copies of SDK modules under tsx, 5-minute timers, log
//   noise) are handled in matrix-sdk-node.ts.
// - No Synapse config beyond the harness's is needed for plain clients. A
//   cross-signing upload that asks for user-interactive auth gets the
//   password (authUploadDeviceSigningKeys below).
// - The wasm module is compiled once per process (initRustCrypto's first
//   call), each further client only builds an OlmMachine. stop() closes the
//   OlmMachine (frees its wasm memory) and the client's sync.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  ClientEvent,
  EventType,
  MatrixEvent,
  Preset,
  SyncState,
  createClient,
  type MatrixClient,
  type Room,
} from "matrix-js-sdk";
import {
  DecryptionFailureCode,
  EventShieldColour,
  EventShieldReason,
  OnlySignedDevicesIsolationMode,
  type CryptoApi,
} from "matrix-js-sdk/lib/crypto-api/index.js";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/recovery-key.js";
import { WAIT_DEFAULT_MS, eventually } from "./bridge-harness.js";
import {
  decryptFile,
  editContent,
  encryptFile,
  encryptedFileOf,
  imageContent,
  reactionContent,
  replyContent,
  textContent,
  type ImageFile,
} from "./element-x-content.js";
import { quietSdkLogger, readySdkForNode } from "./matrix-sdk-node.js";
import { loginUser, type SynapseHandle } from "./synapse.js";

export { DecryptionFailureCode, EventShieldColour, EventShieldReason };

type Json = Record<string, unknown>;

export interface ElementXOptions {
  /**
   * true (default): cross-signing and recovery set up as on Element X's first login.
   * false: a device that never cross-signs itself (the failure case: a red shield).
   */
  crossSigning?: boolean;
  /** Element's "exclude insecure devices": only devices signed by their owner count. */
  excludeInsecureDevices?: boolean;
}

/** The shield state of one event as this client shows it. */
export interface Shield {
  colour: EventShieldColour;
  reason: EventShieldReason | null;
}

/** The "decrypted, sent by a device its owner verified, no warning" state. */
export const NO_SHIELD: Shield = Object.freeze({ colour: EventShieldColour.NONE, reason: null });

export class ElementXClient {
  /** The recovery key (base58, as shown to the user), once recovery is set up. */
  recoveryKey: string | undefined;

  private secretStorageKey: Uint8Array<ArrayBuffer> | undefined;

  private constructor(
    readonly hs: SynapseHandle,
    readonly userId: string,
    readonly deviceId: string,
    readonly accessToken: string,
    private readonly password: string,
    readonly client: MatrixClient,
  ) {}

  /** Registers a new user and logs in its first device. */
  static async register(
    hs: SynapseHandle,
    localpart: string,
    o: ElementXOptions = {},
  ): Promise<ElementXClient> {
    const password = randomBytes(12).toString("hex");
    const account = await hs.registerUser(localpart, password);
    const me = await ElementXClient.make(hs, account.userId, account.deviceId, account.accessToken, password);
    await me.start(o);
    if (o.crossSigning ?? true) await me.setUpCrossSigningAndRecovery();
    return me;
  }

  /**
   * Logs the same user in on a new device. verify: true uses the recovery key as
   * Element X's "Enter recovery key" does; false leaves it unverified by its owner.
   */
  async loginAnotherDevice(
    o: { verify: boolean } & Omit<ElementXOptions, "crossSigning">,
  ): Promise<ElementXClient> {
    const login = await loginUser(this.hs, this.userId, this.password);
    const other = await ElementXClient.make(
      this.hs,
      this.userId,
      login.deviceId,
      login.accessToken,
      this.password,
    );
    await other.start(o);
    if (o.verify) {
      const recoveryKey = this.recoveryKey ?? assert.fail(`${this.userId} has no recovery set up`);
      await other.verifyWithRecoveryKey(recoveryKey);
    }
    return other;
  }

  private static async make(
    hs: SynapseHandle,
    userId: string,
    deviceId: string,
    accessToken: string,
    password: string,
  ): Promise<ElementXClient> {
    await readySdkForNode();
    const holder: { me?: ElementXClient } = {};
    const client = createClient({
      baseUrl: hs.url,
      userId,
      deviceId,
      accessToken,
      logger: quietSdkLogger,
      cryptoCallbacks: {
        // 4S asks for its key on each read and write: answer with the one we hold.
        getSecretStorageKey: async ({ keys }) => {
          const key = holder.me?.secretStorageKey;
          const keyId = Object.keys(keys)[0];
          return key && keyId ? [keyId, key] : null;
        },
      },
    });
    holder.me = new ElementXClient(hs, userId, deviceId, accessToken, password, client);
    return holder.me;
  }

  get crypto(): CryptoApi {
    return this.client.getCrypto() ?? assert.fail("Rust crypto is not initialised");
  }

  private async start(o: ElementXOptions): Promise<void> {
    await this.client.initRustCrypto({ useIndexedDB: false });
    if (o.excludeInsecureDevices) this.crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
    const synced = new Promise<void>((resolveSynced) => {
      const onSync = (state: SyncState): void => {
        if (state === SyncState.Prepared || state === SyncState.Syncing) {
          this.client.off(ClientEvent.Sync, onSync);
          resolveSynced();
        }
      };
      this.client.on(ClientEvent.Sync, onSync);
    });
    await this.client.startClient({ initialSyncLimit: 20 });
    await synced;
  }

  // The user's password, for the UIA step uploading cross-signing keys when one is asked.
  private authUpload = async (makeRequest: (auth: Json | null) => Promise<unknown>): Promise<void> => {
    await makeRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: this.userId },
      password: this.password,
    });
  };

  private async setUpCrossSigningAndRecovery(): Promise<void> {
    await this.crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: this.authUpload });
    const generated = await this.crypto.createRecoveryKeyFromPassphrase();
    this.secretStorageKey = generated.privateKey;
    this.recoveryKey = generated.encodedPrivateKey;
    await this.crypto.bootstrapSecretStorage({
      createSecretStorageKey: async () => generated,
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
    });
    const status = await this.crypto.getCrossSigningStatus();
    assert.ok(status.publicKeysOnDevice && status.privateKeysInSecretStorage, "cross-signing not set up");
    assert.ok(await this.isSignedByOwner(this.deviceId), "own device not signed by its owner");
  }

  private async verifyWithRecoveryKey(recoveryKey: string): Promise<void> {
    this.secretStorageKey = decodeRecoveryKey(recoveryKey);
    this.recoveryKey = recoveryKey;
    // A fresh login has not downloaded its own cross-signing public keys yet, and
    // importing the private keys silently fails without them: fetch them first.
    assert.ok(
      await this.crypto.userHasCrossSigningKeys(this.userId, true),
      "no cross-signing keys on the server",
    );
    // Imports the cross-signing keys from 4S and signs this device with them.
    await this.crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: this.authUpload });
    // And, like Element X after recovery, reads the backup key to restore history.
    await this.crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    await this.crypto.checkKeyBackupAndEnable();
    // The signature is uploaded; the local view of this device changes once our own
    // keys are queried again (which userHasCrossSigningKeys forces for our own user).
    await eventually(`${this.deviceId} to see itself signed after recovery`, async () => {
      await this.crypto.userHasCrossSigningKeys(this.userId, true);
      return (await this.isSignedByOwner(this.deviceId)) ? true : undefined;
    });
  }

  /** Downloads the key backup and imports its room keys (history for a new device); returns how many. */
  async restoreFromKeyBackup(): Promise<number> {
    return (await this.crypto.restoreKeyBackup()).imported;
  }

  /** True if this client knows `deviceId` of `userId` (default: me) as signed by its owner. */
  async isSignedByOwner(deviceId: string, userId = this.userId): Promise<boolean> {
    const status = await this.crypto.getDeviceVerificationStatus(userId, deviceId);
    return status?.signedByOwner ?? false;
  }

  /** Waits until this client has downloaded `deviceId` of `userId` and sees it signed by its owner. */
  async waitForDeviceSignedByOwner(
    userId: string,
    deviceId: string,
    timeoutMs = WAIT_DEFAULT_MS,
  ): Promise<void> {
    await eventually(
      `${this.userId} to see ${userId}'s device ${deviceId} signed by its owner`,
      async () => ((await this.isSignedByOwner(deviceId, userId)) ? true : undefined),
      timeoutMs,
    );
  }

  /**
   * Waits until this client knows at least one device of `userId` and sees every one of
   * them signed by its owner (for a ghost whose device id the test does not know); returns their ids.
   */
  async waitForAllDevicesSignedByOwner(userId: string, timeoutMs = WAIT_DEFAULT_MS): Promise<string[]> {
    return eventually(
      `${this.userId} to see every device of ${userId} signed by its owner`,
      async () => {
        const ids = [...((await this.crypto.getUserDeviceInfo([userId], true)).get(userId)?.keys() ?? [])];
        const signed = await Promise.all(ids.map((id) => this.isSignedByOwner(id, userId)));
        return ids.length > 0 && signed.every(Boolean) ? ids : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until this client knows `deviceId` of `userId` at all (so it shares room keys with it). */
  async waitForDevice(userId: string, deviceId: string, timeoutMs = WAIT_DEFAULT_MS): Promise<void> {
    await eventually(
      `${this.userId} to know ${userId}'s device ${deviceId}`,
      async () => {
        const devices = await this.crypto.getUserDeviceInfo([userId], true);
        return devices.get(userId)?.has(deviceId) ? true : undefined;
      },
      timeoutMs,
    );
  }

  // -------------------------------------------------------------------------
  // Rooms and messages

  /** Creates an encrypted DM as Element X does: is_direct, trusted_private_chat, encryption in initial_state. */
  async createEncryptedDm(invitee: string): Promise<string> {
    const { room_id: roomId } = await this.client.createRoom({
      is_direct: true,
      preset: Preset.TrustedPrivateChat,
      invite: [invitee],
      initial_state: [
        { type: EventType.RoomEncryption, state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    const direct = (this.client.getAccountData(EventType.Direct)?.getContent() ?? {}) as Record<
      string,
      string[]
    >;
    await this.client.setAccountData(EventType.Direct, {
      ...direct,
      [invitee]: [...(direct[invitee] ?? []), roomId],
    });
    await this.waitForEncryptedRoom(roomId);
    return roomId;
  }

  /** Waits for an invite to `roomId` and joins it. */
  async acceptInvite(roomId: string): Promise<void> {
    await eventually(`${this.userId} to be invited to ${roomId}`, () =>
      this.client.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined,
    );
    await this.client.joinRoom(roomId);
    await this.waitForEncryptedRoom(roomId);
  }

  private async waitForEncryptedRoom(roomId: string): Promise<void> {
    await eventually(`${this.userId} to see ${roomId} as encrypted`, async () =>
      this.client.getRoom(roomId)?.getMyMembership() === "join" &&
      (await this.crypto.isEncryptionEnabledInRoom(roomId))
        ? true
        : undefined,
    );
  }

  /** Sends any event (encrypted by the SDK in an encrypted room); returns its event id. */
  async send(roomId: string, type: string, content: Json): Promise<string> {
    // The SDK's typings want a known event type; the wire accepts any.
    const sendEvent = this.client.sendEvent.bind(this.client) as (
      roomId: string,
      type: string,
      content: Json,
    ) => Promise<{ event_id: string }>;
    return (await sendEvent(roomId, type, content)).event_id;
  }

  sendText(roomId: string, body: string): Promise<string> {
    return this.send(roomId, EventType.RoomMessage, textContent(body));
  }

  sendReply(roomId: string, inReplyTo: string, body: string): Promise<string> {
    return this.send(roomId, EventType.RoomMessage, replyContent(body, inReplyTo));
  }

  sendEdit(roomId: string, original: string, body: string): Promise<string> {
    return this.send(roomId, EventType.RoomMessage, editContent(body, original));
  }

  /**
   * Sends a reaction encrypted, as Element X (matrix-rust-sdk) does; matrix-js-sdk
   * (so Element Web) sends reactions in the clear even in encrypted rooms, which
   * `encrypted: false` reproduces. The bridge must take both.
   */
  async sendReaction(roomId: string, target: string, key: string, o = { encrypted: true }): Promise<string> {
    const content = reactionContent(key, target);
    if (!o.encrypted) return this.send(roomId, EventType.Reaction, content);
    return this.sendEncrypted(roomId, EventType.Reaction, content);
  }

  /** Encrypts any event type itself (the SDK skips some types), then sends the m.room.encrypted. */
  async sendEncrypted(roomId: string, type: string, content: Json): Promise<string> {
    const room = this.client.getRoom(roomId) ?? assert.fail(`${this.userId} is not in ${roomId}`);
    const event = new MatrixEvent({ type, content, room_id: roomId, sender: this.userId });
    // getCrypto() is the SDK's RustCrypto, whose encryptEvent is public but not on CryptoApi.
    const backend = this.crypto as CryptoApi & { encryptEvent(e: MatrixEvent, r: Room): Promise<void> };
    await backend.encryptEvent(event, room);
    assert.equal(event.getWireType(), "m.room.encrypted");
    // (m.relates_to stays in the clear on the wire, as the spec asks, so servers can aggregate.)
    return this.send(roomId, "m.room.encrypted", event.getWireContent());
  }

  /** Encrypts the image (AES-CTR), uploads the ciphertext, sends an m.image with a `file` object. */
  async sendImage(roomId: string, image: ImageFile): Promise<string> {
    const { ciphertext, file } = await encryptFile(image.data);
    const { content_uri: mxc } = await this.client.uploadContent(
      new Blob([ciphertext as Uint8Array<ArrayBuffer>]),
      {
        type: "application/octet-stream",
        includeFilename: false,
      },
    );
    return this.send(roomId, EventType.RoomMessage, imageContent(image, mxc, file));
  }

  /** Downloads (authenticated media) and decrypts the attachment of a decrypted event. */
  async downloadAttachment(event: MatrixEvent): Promise<Uint8Array> {
    const file = encryptedFileOf(event.getContent());
    const [, serverName, mediaId] = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(file.url) ?? [];
    const res = await fetch(
      `${this.hs.url}/_matrix/client/v1/media/download/${encodeURIComponent(serverName ?? "")}/${encodeURIComponent(mediaId ?? "")}`,
      { headers: { authorization: `Bearer ${this.accessToken}` } },
    );
    assert.ok(res.ok, `downloading ${file.url}: ${res.status}`);
    return decryptFile(new Uint8Array(await res.arrayBuffer()), file);
  }

  /**
   * Waits for a timeline event in `roomId` that this client has decrypted (or that was
   * never encrypted) and that matches; the predicate sees the cleartext type and content.
   */
  async waitForEvent(
    roomId: string,
    match: (event: MatrixEvent) => boolean,
    timeoutMs = WAIT_DEFAULT_MS,
  ): Promise<MatrixEvent> {
    let undecrypted: MatrixEvent[] = [];
    try {
      return await eventually(
        `a matching decrypted event in ${roomId} for ${this.userId}/${this.deviceId}`,
        () => {
          const events = this.client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
          undecrypted = events.filter((e) => e.isDecryptionFailure() || e.isBeingDecrypted());
          return events.find((e) => !e.isDecryptionFailure() && !e.isBeingDecrypted() && match(e));
        },
        timeoutMs,
      );
    } catch (err) {
      const why = undecrypted.map((e) => `${e.getId()}: ${e.decryptionFailureReason ?? "being decrypted"}`);
      throw new Error(`${(err as Error).message}; undecrypted: ${why.join(", ") || "none"}`);
    }
  }

  /** Waits for the event `eventId` in `roomId`, decrypted. */
  waitForEventId(roomId: string, eventId: string, timeoutMs?: number): Promise<MatrixEvent> {
    return this.waitForEvent(roomId, (e) => e.getId() === eventId, timeoutMs);
  }

  /** Waits until `eventId` arrives and fails to decrypt; returns why. */
  async waitForDecryptionFailure(
    roomId: string,
    eventId: string,
    timeoutMs = WAIT_DEFAULT_MS,
  ): Promise<DecryptionFailureCode> {
    return eventually(
      `${eventId} to fail to decrypt for ${this.userId}/${this.deviceId}`,
      () => {
        const event = this.client.getRoom(roomId)?.findEventById(eventId);
        return event?.isDecryptionFailure() ? (event.decryptionFailureReason ?? undefined) : undefined;
      },
      timeoutMs,
    );
  }

  /** This client's shield for the event; throws if the event was not encrypted. */
  async shieldOf(event: MatrixEvent): Promise<Shield> {
    assert.ok(event.isEncrypted(), `${event.getId()} was not encrypted (wire type ${event.getWireType()})`);
    const info = await this.crypto.getEncryptionInfoForEvent(event);
    assert.ok(info, `no encryption info for ${event.getId()}`);
    return { colour: info.shieldColour, reason: info.shieldReason };
  }

  /** Stops syncing and closes the OlmMachine (frees its wasm memory). Safe to call twice. */
  stop(): void {
    this.client.stopClient();
  }
}

/** A readable shield for assertion messages: "RED/UNSIGNED_DEVICE". */
export function describeShield(shield: Shield): string {
  const reason = shield.reason === null ? "null" : EventShieldReason[shield.reason];
  return `${EventShieldColour[shield.colour]}/${reason}`;
}
