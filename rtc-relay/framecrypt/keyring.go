package framecrypt

import (
	"crypto/cipher"
	"sync"
)

// FailureTolerance is livekit-client's DECRYPTION_FAILURE_TOLERANCE: after this many
// consecutive failures at one index the key is treated as invalid until it is set again.
const FailureTolerance = 10

// KeyRing holds one participant's keys by index (0..255, Element Call's keyring size 256).
// The most recently set index is the one used to encrypt. No ratcheting: Element Call runs
// livekit-client with a ratchet window of 0.
type KeyRing struct {
	mu       sync.Mutex
	keys     map[uint8]cipher.AEAD
	failures map[uint8]int
	current  uint8
	hasKey   bool
}

// NewKeyRing returns an empty ring.
func NewKeyRing() *KeyRing {
	return &KeyRing{keys: map[uint8]cipher.AEAD{}, failures: map[uint8]int{}}
}

// SetKey derives and stores the key at index and makes it current.
func (r *KeyRing) SetKey(material []byte, index uint8) error {
	aead, err := NewAEAD(material)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[index] = aead
	delete(r.failures, index)
	r.current = index
	r.hasKey = true
	return nil
}

// Current returns the key to encrypt with and its index (ok false before any SetKey).
func (r *KeyRing) Current() (cipher.AEAD, uint8, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.hasKey {
		return nil, 0, false
	}
	return r.keys[r.current], r.current, true
}

// Decrypt opens frame with the key its trailer names, counting failures per index as
// livekit-client's ParticipantKeyHandler does.
func (r *KeyRing) Decrypt(kind Kind, frame []byte) ([]byte, error) {
	index, ok := KeyIndex(frame)
	if !ok {
		return nil, ErrShortFrame
	}
	r.mu.Lock()
	aead := r.keys[index]
	invalid := r.failures[index] >= FailureTolerance
	r.mu.Unlock()
	if invalid {
		return nil, ErrInvalidKey
	}
	if aead == nil {
		r.fail(index)
		return nil, ErrMissingKey
	}
	out, err := Open(aead, kind, frame)
	if err != nil {
		if err == ErrAuth {
			r.fail(index)
		}
		return nil, err
	}
	r.mu.Lock()
	delete(r.failures, index)
	r.mu.Unlock()
	return out, nil
}

func (r *KeyRing) fail(index uint8) {
	r.mu.Lock()
	r.failures[index]++
	r.mu.Unlock()
}
