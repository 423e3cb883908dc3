// The part of sodium-native's API this project uses (the package ships no types).
declare module "sodium-native" {
  const sodium: {
    randombytes_buf(out: Buffer): void;
    sodium_memzero(buf: Buffer): void;
    crypto_scalarmult(out: Buffer, secret: Buffer, publicKey: Buffer): void;
    crypto_scalarmult_base(out: Buffer, secret: Buffer): void;
    crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
    crypto_sign_keypair(publicKey: Buffer, secretKey: Buffer): void;
    crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void;
    crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean;
    crypto_hash_sha256(out: Buffer, input: Buffer): void;
    crypto_hash_sha256_init(state: Buffer): void;
    crypto_hash_sha256_update(state: Buffer, input: Buffer): void;
    crypto_hash_sha256_final(state: Buffer, out: Buffer): void;
    crypto_hash_sha256_STATEBYTES: number;
    crypto_aead_chacha20poly1305_ietf_encrypt(
      ciphertext: Buffer,
      message: Buffer,
      additionalData: Buffer | null,
      nsec: null,
      nonce: Buffer,
      key: Buffer,
    ): number;
    crypto_aead_chacha20poly1305_ietf_decrypt(
      message: Buffer,
      nsec: null,
      ciphertext: Buffer,
      additionalData: Buffer | null,
      nonce: Buffer,
      key: Buffer,
    ): number;
    crypto_aead_chacha20poly1305_ietf_ABYTES: number;
    crypto_box_seal(ciphertext: Buffer, message: Buffer, publicKey: Buffer): void;
    crypto_box_keypair(publicKey: Buffer, secretKey: Buffer): void;
    crypto_box_PUBLICKEYBYTES: number;
    crypto_box_SECRETKEYBYTES: number;
    crypto_box_SEALBYTES: number;
    // XChaCha20-Poly1305 and scrypt: the People client's encrypted-at-rest store.
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      ciphertext: Buffer,
      message: Buffer,
      additionalData: Buffer | null,
      nsec: null,
      nonce: Buffer,
      key: Buffer,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      message: Buffer,
      nsec: null,
      ciphertext: Buffer,
      additionalData: Buffer | null,
      nonce: Buffer,
      key: Buffer,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number;
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number;
    crypto_pwhash_scryptsalsa208sha256_async(
      out: Buffer,
      passwd: Buffer,
      salt: Buffer,
      opslimit: number,
      memlimit: number,
    ): Promise<void>;
    crypto_pwhash_scryptsalsa208sha256_SALTBYTES: number;
    crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE: number;
    crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE: number;
    crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN: number;
    crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN: number;
  };
  export default sodium;
}
