// How the bridge opens its accounts' client stores.
import sodium from "sodium-native";

/** The store passphrases are 256 random bits already: key stretching would only cost time. */
export const DERIVED_PASSPHRASE_KDF = {
  opslimit: sodium.crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN,
  memlimit: sodium.crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN,
};

/**
 * Each account's store keeps at most this much SQLite page cache: thousands of mostly idle
 * stores in one process, where SQLite's default (2 MB each) would grow without need.
 */
export const STORE_CACHE_KIB = 64;
