package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The reference in docs/configuration.md is generated; this keeps it from going stale.
func TestDocsReferenceIsCurrent(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	var ref bytes.Buffer
	if err := Reference(&ref); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), ref.String()) {
		t.Fatal("docs/configuration.md is out of date: regenerate the table with 'go run ./cmd/psbridge config --reference'")
	}
}
