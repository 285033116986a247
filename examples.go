// Package psbridge holds the files the psbridge binary bundles: the vendor's integration
// examples and the SentinelOne module from testdata/, used by 'psbridge demo'.
package psbridge

import "embed"

// Examples holds testdata/examples/*.ps1 and testdata/modules/*.psm1.
//
//go:embed testdata/examples/*.ps1 testdata/modules/*.psm1
var Examples embed.FS
