package console

import "github.com/psbridge/psbridge/internal/mask"

// The console masks with psbridge's one masker, internal/mask; these names keep the console's
// API.

// Mask replaces every secret (in any of its encoded forms) in console output.
const Mask = mask.Mask

// MinSecretLen is the shortest secret that is registered (mask.MinSecretLen).
const MinSecretLen = mask.MinSecretLen

// Secrets is the set of values a session masks (a mask.Set).
type Secrets = mask.Set

// Filter masks secrets in a stream of terminal output (a mask.Filter).
type Filter = mask.Filter

// NewSecrets returns a set holding values (those shorter than MinSecretLen are ignored).
func NewSecrets(values ...string) *Secrets { return mask.NewSet(values...) }

// NewFilter returns a Filter that masks the secrets of s and passes the result to out; see
// mask.NewFilter.
var NewFilter = mask.NewFilter

// Variants returns the forms of secret that are masked (mask.Variants).
func Variants(secret string) []string { return mask.Variants(secret) }
