package mask

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorFile is the masking test vectors shared with the C# masker.
type vectorFile struct {
	Mask         string   `json:"mask"`
	MinSecretLen int      `json:"minSecretLen"`
	Cases        []vector `json:"cases"`
}

type vector struct {
	Name        string   `json:"name"`
	Secrets     []string `json:"secrets"`
	Input       *string  `json:"input"`
	Want        string   `json:"want"`
	Records     []string `json:"records"`
	WantRecords []string `json:"wantRecords"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mask", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

// TestVectors runs the shared vectors through String, Bytes, a Filter fed byte by byte and
// Records.
func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	if vf.Mask != Mask || vf.MinSecretLen != MinSecretLen {
		t.Fatalf("vectors are for mask %q / min %d", vf.Mask, vf.MinSecretLen)
	}
	if len(vf.Cases) < 40 {
		t.Fatalf("only %d vectors", len(vf.Cases))
	}
	for _, v := range vf.Cases {
		t.Run(v.Name, func(t *testing.T) {
			s := NewSet(v.Secrets...)
			if v.Input == nil {
				got := s.Records(v.Records)
				if strings.Join(got, "\x00") != strings.Join(v.WantRecords, "\x00") {
					t.Fatalf("Records(%q)\n got  %q\n want %q", v.Records, got, v.WantRecords)
				}
				return
			}
			in := *v.Input
			if got := s.String(in); got != v.Want {
				t.Fatalf("String(%q)\n got  %q\n want %q", in, got, v.Want)
			}
			if got := string(s.Bytes([]byte(in))); got != v.Want {
				t.Fatalf("Bytes: got %q", got)
			}
			var chunks []string
			for i := 0; i < len(in); i++ {
				chunks = append(chunks, in[i:i+1])
			}
			if got := filterAll(s, chunks...); got != v.Want {
				t.Fatalf("Filter byte by byte: got %q", got)
			}
		})
	}
}
