package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of a store encryption key (AES-256).
const KeySize = 32

// sealVersion is the first byte of every sealed value, so the format can change later.
const sealVersion byte = 1

// aadPrefix starts the additional data of every sealed value.
const aadPrefix = "psbridge.store.v1"

// sealer seals and opens values with AES-256-GCM. A sealed value is
// version(1) || nonce(12) || ciphertext+tag, and its additional data is
// aadPrefix || 0 || bucket || 0 || key, so a value only opens in the slot it was sealed for.
type sealer struct {
	aead cipher.AEAD
}

// newSealer builds a sealer for a 32-byte key.
func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("init AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("init GCM: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// aad returns the additional data binding a value to bucket and key.
func aad(bucket string, key []byte) []byte {
	out := make([]byte, 0, len(aadPrefix)+len(bucket)+len(key)+2)
	out = append(out, aadPrefix...)
	out = append(out, 0)
	out = append(out, bucket...)
	out = append(out, 0)
	return append(out, key...)
}

// seal encrypts plaintext for the slot (bucket, key) with a fresh random nonce.
func (s *sealer) seal(bucket string, key, plaintext []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+ns], plaintext, aad(bucket, key)), nil
}

// errSealed is returned when a sealed value does not open; it never carries the value.
var errSealed = errors.New("sealed value does not open (wrong key, corrupted, or moved from another slot)")

// open decrypts a value sealed for the slot (bucket, key).
func (s *sealer) open(bucket string, key, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, errSealed
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad(bucket, key))
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}
