package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/providers/acr"
	"github.com/pullkey/pullkey/test/harness"
	acrstandin "github.com/pullkey/pullkey/test/standin/acr"
)

// acrNetnsChild marks the test process re-executed inside a fresh network
// namespace by TestACRRealIMDSPath.
const acrNetnsChild = "PULLKEY_ACR_NETNS_CHILD"

// TestACRRealIMDSPath runs the IMDS path itself, with no identity
// environment at all: the test re-executes itself in a new network
// namespace (unshare -n), puts 169.254.169.254 on its loopback device, and
// serves the identity stand-in there, so azidentity's hard-coded IMDS
// address reaches it. It needs root (CI runs as root) and is skipped
// otherwise.
func TestACRRealIMDSPath(t *testing.T) {
	if os.Getenv(acrNetnsChild) == "1" {
		acrIMDSChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -n")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	bin := harness.Binary(t)
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^TestACRRealIMDSPath$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), acrNetnsChild+"=1", "PULLKEY_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") {
		t.Skipf("cannot make a network namespace here: %s", out)
	}
	t.Logf("child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestACRRealIMDSPath") {
		t.Fatalf("child in the network namespace failed: %v\n%s", err, out)
	}
}

func acrIMDSChild(t *testing.T) {
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "169.254.169.254/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	imds, err := acrstandin.NewIMDS("169.254.169.254:80")
	if err != nil {
		t.Fatal(err)
	}
	defer imds.Close()
	reg := &acrstandin.Registry{Valid: imds.Issued}
	proxy := harness.StartProxy(t, reg)
	// IMDS is reached directly, as on a real node with a proxy configured.
	env := append(proxy.Env(), "NO_PROXY=169.254.169.254")

	const resourceID = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/nodes/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet"
	tests := []struct {
		name, section, wantResourceID string
	}{
		{"system-assigned", "", ""},
		{"resource ID", "    identity:\n      resourceID: " + resourceID + "\n", resourceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(imds.Calls())
			args := []string{"--no-cache", "--timeout", "5s"}
			if tt.section != "" {
				args = append(args, "--config", acrConfig(t, tt.section))
			}
			resp := harness.Run(t, env, harness.Request("myregistry.azurecr.io/web"), args...).Decode(t)
			if resp.Auth["myregistry.azurecr.io"].Username != acr.Username {
				t.Fatalf("auth = %v", resp.Auth)
			}
			calls := imds.Calls()[before:]
			if len(calls) != 1 {
				t.Fatalf("IMDS calls = %d, want 1", len(calls))
			}
			c := calls[0]
			if !c.IMDS || !c.HeaderOK || c.APIVersion != acrstandin.IMDSAPIVersion || c.ResourceID != tt.wantResourceID {
				t.Fatalf("IMDS call = %+v, want IMDS with Metadata: true and resource ID %q", c, tt.wantResourceID)
			}
		})
	}
	t.Run("not assigned", func(t *testing.T) {
		imds.SetMode(acrstandin.NotAssigned)
		defer imds.SetMode(acrstandin.Serve)
		res := harness.Run(t, env, harness.Request("myregistry.azurecr.io/web"), "--no-cache", "--timeout", "3s")
		if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "no system-assigned managed identity") {
			t.Fatalf("exit %d stdout %q stderr %s", res.Code, res.Stdout, res.Stderr)
		}
	})
}
