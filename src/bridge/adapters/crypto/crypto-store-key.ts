// The key of the bridge's Matrix crypto state (the "pickle key" of other
// bridges). encryption.pickle_key in config.yaml, or, when it is "generate"
// (the default), 32 random bytes in people.data_dir/crypto-store.key made on
// first start. Two keys are derived from it: one for the wasm store's own
// encryption of its IndexedDB values, one that seals the snapshot row the
// bridge keeps in its database (so the row is opaque even where the store
// would leave a field in clear). Losing it makes every bridged device's keys
// unreadable: the devices must then be replaced (see docs/ARCHITECTURE.md).
import { createHmac, hkdfSync } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sodium from "sodium-native";
import { readOrCreateKeyFile } from "../../../people/client/store-crypto.js";

export const CRYPTO_KEY_FILE = "crypto-store.key";

export class CryptoStoreKey {
  private constructor(private readonly root: Buffer) {}

  static fromConfig(pickleKey: string, dataDir: string): CryptoStoreKey {
    if (pickleKey === "generate") {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      return new CryptoStoreKey(readOrCreateKeyFile(join(dataDir, CRYPTO_KEY_FILE)));
    }
    // A configured key of any length (validated as >= 32 characters) becomes 32 bytes.
    return new CryptoStoreKey(Buffer.from(hkdfSync("sha256", pickleKey, "", "people-crypto-pickle-key", 32)));
  }

  /** For tests. */
  static fromBytes(bytes: Uint8Array): CryptoStoreKey {
    return new CryptoStoreKey(Buffer.from(bytes));
  }

  private derive(purpose: string, userId: string): Buffer {
    return createHmac("sha256", this.root)
      .update(`matrix-appservice-people/v1 ${purpose}\0${userId}`)
      .digest();
  }

  /** The 32-byte key given to StoreHandle.openWithKey for one identity. */
  wasmStoreKey(userId: string): Uint8Array {
    return new Uint8Array(this.derive("crypto-wasm-store", userId));
  }

  /** The key that seals one identity's snapshot row. */
  snapshotKey(userId: string): Buffer {
    return this.derive("crypto-snapshot", userId);
  }

  erase(): void {
    sodium.sodium_memzero(this.root);
  }
}
