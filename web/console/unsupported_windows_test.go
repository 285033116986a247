package console

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// On Windows a session cannot start; Open says so, and where the console is available.
func TestOpenIsUnsupportedOnWindows(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Config{Pwsh: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Open(context.Background(), OpenOptions{User: "u"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Linux and macOS only") {
		t.Fatalf("Open = %v, want ErrUnsupported", err)
	}
}
