package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// READMEExample returns the YAML block that follows the marker
// `<!-- example: NAME -->` in the repository's README.md, so that tests run
// exactly the configuration the documentation shows.
func READMEExample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- example: "+name+" -->")
	if !ok {
		t.Fatalf("README.md has no <!-- example: %s --> marker", name)
	}
	_, rest, ok := strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("README.md has no yaml block after the %s marker", name)
	}
	return block
}
