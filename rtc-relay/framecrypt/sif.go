package framecrypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
)

// Server-injected frames (SIF): the SFU fills gaps with a tiny VP8 keyframe or Opus silence,
// unencrypted, marked by the room's SIF trailer (join response). livekit-client strips the
// trailer and passes the frame only when it is one of the known payloads (by SHA-256).
var sifHashes = map[string]bool{
	"ef0161653d8b2b23aad46624b420af1d03ce48950e9fc85718028f91b50f9219": true, // VP8 keyframe 8x8
	"aad8d31fc56b2802ca500e58c2fb9d0b29ad71bb7cb52cd6530251eade188988": true, // Opus silence
}

// ServerInjected reports whether frame ends with trailer (non-empty) and, if so, returns the
// frame without it and whether that payload is a known SIF payload (pass) or not (drop).
func ServerInjected(frame, trailer []byte) (payload []byte, injected, known bool) {
	if len(trailer) == 0 || !bytes.HasSuffix(frame, trailer) {
		return frame, false, false
	}
	payload = frame[:len(frame)-len(trailer)]
	sum := sha256.Sum256(payload)
	return payload, true, sifHashes[hex.EncodeToString(sum[:])]
}
