package manifeststest

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestHelmLint runs "helm lint" on the chart: no warning or error.
func TestHelmLint(t *testing.T) {
	l := lint.All(filepath.Join(deployDir(), "helm", "pullkey"), map[string]any{}, "pullkey-system", false)
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		} else {
			t.Logf("helm lint: %s", m)
		}
	}
}
