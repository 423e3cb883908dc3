// Package framecrypt is LiveKit's end-to-end frame encryption (the format livekit-client's
// FrameCryptor writes and Element Call uses): AES-128-GCM per encoded frame, the codec's
// leading bytes left in clear and authenticated, and a trailer IV | IV length | key index.
package framecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// IVLength is the IV size livekit-client writes (and the only one accepted here).
const IVLength = 12

// Salt is livekit-client's default ratchet salt, used as the HKDF salt.
const Salt = "LKFrameEncryptionKey"

// trailerLength is IV length byte + key index byte.
const trailerLength = 2

// gcmTagLength is AES-GCM's authentication tag.
const gcmTagLength = 16

// Kind tells which unencrypted-bytes rule applies to a frame.
type Kind int

const (
	// Audio is Opus: the TOC byte stays clear.
	Audio Kind = iota
	// VP8 keeps its frame tag clear: 10 bytes on a keyframe, 3 on a delta frame.
	VP8
)

var (
	// ErrShortFrame: the frame cannot hold header, ciphertext and trailer.
	ErrShortFrame = errors.New("frame too short")
	// ErrBadIVLength: the trailer names an IV length other than 12.
	ErrBadIVLength = errors.New("unsupported IV length")
	// ErrMissingKey: no key at the frame's key index.
	ErrMissingKey = errors.New("no key at index")
	// ErrInvalidKey: the key at the index failed too often; frames are dropped until it is set again.
	ErrInvalidKey = errors.New("key at index marked invalid")
	// ErrAuth: the ciphertext did not authenticate (wrong key or tampered).
	ErrAuth = errors.New("frame did not authenticate")
)

// DeriveKey turns a participant's key material into the AES-128 key, as livekit-client's
// createKeyMaterialFromBuffer + deriveKeys do: HKDF-SHA256, salt "LKFrameEncryptionKey",
// info 128 zero bytes.
func DeriveKey(material []byte) ([]byte, error) {
	if len(material) == 0 {
		return nil, errors.New("empty key material")
	}
	return hkdf.Key(sha256.New, material, []byte(Salt), string(make([]byte, 128)), 16)
}

// NewAEAD derives the key from material and returns its AES-GCM.
func NewAEAD(material []byte) (cipher.AEAD, error) {
	key, err := DeriveKey(material)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// IsVP8Keyframe reads the P bit of the VP8 frame tag (RFC 6386 9.1): 0 is a keyframe.
func IsVP8Keyframe(frame []byte) bool {
	return len(frame) > 0 && frame[0]&0x01 == 0
}

// UnencryptedBytes is how many leading bytes of the frame stay in clear (at most its length).
func UnencryptedBytes(kind Kind, frame []byte) int {
	return min(clearHeader(kind, frame), len(frame))
}

func clearHeader(kind Kind, frame []byte) int {
	if kind != VP8 {
		return 1
	}
	if IsVP8Keyframe(frame) {
		return 10
	}
	return 3
}

// IVMaker builds IVs as livekit-client's makeIV: SSRC | RTP timestamp | timestamp - (send
// count mod 0xffff), with a random starting send count per SSRC. Uniqueness is what matters to
// the receiver; following their construction keeps the two senders alike.
type IVMaker struct {
	counts map[uint32]uint32
	random func() uint32
}

// NewIVMaker starts per-SSRC counters at random() (livekit-client: random below 0xffff).
func NewIVMaker(random func() uint32) *IVMaker {
	return &IVMaker{counts: map[uint32]uint32{}, random: random}
}

// Next returns the IV for a frame of ssrc at RTP timestamp ts.
func (m *IVMaker) Next(ssrc, ts uint32) [IVLength]byte {
	count, ok := m.counts[ssrc]
	if !ok {
		count = m.random() % 0xffff
	}
	var iv [IVLength]byte
	binary.BigEndian.PutUint32(iv[0:], ssrc)
	binary.BigEndian.PutUint32(iv[4:], ts)
	binary.BigEndian.PutUint32(iv[8:], ts-(count%0xffff))
	m.counts[ssrc] = count + 1
	return iv
}

// Encrypt seals frame with aead: header | ciphertext+tag | IV | 12 | keyIndex. An empty frame
// (Opus DTX) is returned as it is, as livekit-client does; a frame shorter than its clear
// header is refused (livekit-client fails on it too, and the receiver could not split it).
func Encrypt(aead cipher.AEAD, keyIndex uint8, kind Kind, frame []byte, iv [IVLength]byte) ([]byte, error) {
	if len(frame) == 0 {
		return frame, nil
	}
	h := clearHeader(kind, frame)
	if len(frame) < h {
		return nil, ErrShortFrame
	}
	out := make([]byte, 0, len(frame)+gcmTagLength+IVLength+trailerLength)
	out = append(out, frame[:h]...)
	out = aead.Seal(out, iv[:], frame[h:], frame[:h])
	out = append(out, iv[:]...)
	return append(out, IVLength, keyIndex), nil
}

// KeyIndex is the key index a frame's trailer names (ok false when the frame has no trailer).
func KeyIndex(frame []byte) (uint8, bool) {
	if len(frame) < trailerLength {
		return 0, false
	}
	return frame[len(frame)-1], true
}

// Open authenticates and decrypts frame with aead, returning header | plaintext in a new slice.
func Open(aead cipher.AEAD, kind Kind, frame []byte) ([]byte, error) {
	h := clearHeader(kind, frame)
	if len(frame) < h+gcmTagLength+trailerLength {
		return nil, ErrShortFrame
	}
	ivLen := int(frame[len(frame)-2])
	if ivLen != IVLength {
		return nil, ErrBadIVLength
	}
	end := len(frame) - trailerLength - ivLen
	if end < h+gcmTagLength {
		return nil, ErrShortFrame
	}
	iv := frame[end : end+ivLen]
	out := make([]byte, h, len(frame))
	copy(out, frame[:h])
	out, err := aead.Open(out, iv, frame[h:end], frame[:h])
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}
