package kubelet

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/pullkey/pullkey/test/standin"
)

// cloud is one cloud's stand-in as the node scenarios use it: runNode
// starts it behind the shared MITM proxy, gives pullkey its Env (through
// the CredentialProviderConfig's env) and its Config (as
// providers.<Provider> in pullkey's config), then runs its steps after the
// node's own (nodeSteps), in order, in the same kubelet.
type cloud struct {
	// start starts the stand-in; the Demo's Close runs at test cleanup.
	start func(t *testing.T) *standin.Demo
	// steps are the lookups against this cloud with the credentials,
	// plugin executions and upstream calls (keyed by Demo.Provider) each
	// must give. The images' hosts must be in the shipped matchImages.
	steps func(d *standin.Demo) []step
	// afterRestart are the lookups a restarted kubelet makes on the same
	// node (scenario kubelet-restart, phase 1): kubelet's memory cache is
	// gone, pullkey's disk cache is not, so each registry's first lookup
	// executes pullkey (execs: 1) and the cloud is not called (calls: 0)
	// while the credential is fresh. nil: the cloud has no disk cache.
	afterRestart func(d *standin.Demo) []step
}

// clouds lists the stand-ins the node scenarios run, in order. Each cloud's
// file (clouds_ecr_test.go, clouds_acr_test.go, clouds_ghcr_test.go) appends
// its row in an init function; see README.md, "Adding a cloud".
var clouds = []cloud{}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
