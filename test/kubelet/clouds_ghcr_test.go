package kubelet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
	ghstandin "github.com/pullkey/pullkey/test/standin/github"
)

func init() { clouds = append(clouds, ghcrCloud()) }

// GHCR on the node: owner acme through a GitHub App installation (tokens
// minted by the GitHub API stand-in), owner octo-user through a classic
// token in a file, owner slow-org through the App on an API that will
// hang, and owner beta-org through the App where it is not installed.
const (
	ghcrAppID   = 314159
	ghcrInstID  = 2718
	ghcrOwnerA  = "acme"
	ghcrOwnerB  = "octo-user"
	ghcrUser    = "x-access-token"
	ghcrMissing = "beta-org"
	ghcrSlow    = "slow-org"
)

func ghcrCloud() cloud {
	var (
		srv *ghstandin.Server
		pat string
	)
	// minted is the App token the stand-in minted last, as kubelet must
	// hand it to the runtime.
	minted := func() []cred {
		m := srv.Mints()
		if len(m) == 0 {
			return []cred{{ghcrUser, "(nothing minted)"}}
		}
		return []cred{{ghcrUser, m[len(m)-1].Token}}
	}
	return cloud{
		start: func(t *testing.T) *standin.Demo {
			dir := t.TempDir()
			key, keyPath, err := ghstandin.NewKey(dir)
			if err != nil {
				t.Fatal(err)
			}
			srv = ghstandin.NewServer(ghcrAppID, "", &key.PublicKey)
			for i, owner := range []string{ghcrOwnerA, ghcrSlow} {
				srv.AddInstallation(ghstandin.Installation{ID: int64(ghcrInstID + i), Account: owner, Org: true,
					Permissions: map[string]string{"packages": "read", "metadata": "read"}})
			}
			pat = "ghp_" + randomHex(18)
			tokenFile := harness.WriteFile(t, dir, "octo-user.token", pat+"\n", 0o600)
			app := map[string]any{"app": map[string]any{"appID": ghcrAppID, "privateKeyFile": keyPath}}
			cfg, err := json.Marshal(map[string]any{"owners": map[string]any{
				ghcrOwnerA:  app,
				ghcrSlow:    app,
				ghcrMissing: app,
				ghcrOwnerB:  map[string]any{"token": map[string]any{"tokenFile": tokenFile}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			return &standin.Demo{
				Provider: "ghcr",
				Plays:    func(host string) bool { return host == "api.github.com" },
				Handler:  srv,
				Config:   cfg,
				Calls:    srv.Counter(),
				Close:    srv.Close,
			}
		},
		steps: func(*standin.Demo) []step {
			ghcr := map[string]int64{"ghcr": 1}
			patCred := func() []cred { return []cred{{ghcrUser, pat}} }
			return []step{
				// Owner A: a minted App token, kept per image by kubelet
				// (cacheKeyType Image) and per owner on disk by pullkey.
				{image: "ghcr.io/acme/app", wantFunc: minted, execs: 1, calls: ghcr, save: "ghcr/acme"},
				{image: "ghcr.io/acme/app", wantFunc: minted, execs: 0},
				{image: "ghcr.io/acme/tools/cli", wantFunc: minted, execs: 1},
				// Owner B: the token file's token, never A's.
				{image: "ghcr.io/octo-user/tool", wantFunc: patCred, execs: 1},
				{image: "ghcr.io/octo-user/tool", wantFunc: patCred, execs: 0},
				// A's auth key ghcr.io/acme is a string prefix of this
				// image: kubelet must still not use A's credential for it.
				{image: "ghcr.io/acmecorp/app", want: nil, execs: 1},
				{image: "ghcr.io/someone-else/app", want: nil, execs: 1},
				// The App is not installed on beta-org: GitHub answers 404.
				{image: "ghcr.io/beta-org/app", want: nil, execs: 1,
					errLike: []string{"exit status 1", "ghcr", "beta-org"}},
				// The GitHub API hangs: pullkey gives up within its
				// --timeout, kubelet logs the error and goes on.
				{
					before: func(*node) { srv.SetFailure(ghstandin.Hang) },
					image:  "ghcr.io/slow-org/app", want: nil, execs: 1, maxWait: 10 * time.Second,
					errLike: []string{"exit status 1", "ghcr", "slow-org"},
				},
				{
					before: func(*node) { srv.SetFailure(ghstandin.OK) },
					image:  "ghcr.io/slow-org/app", wantFunc: minted, execs: 1, calls: ghcr,
				},
			}
		},
		afterRestart: func(*standin.Demo) []step {
			return []step{
				// The disk cache answers: no token is minted.
				{image: "ghcr.io/acme/app", wantSaved: "ghcr/acme", execs: 1},
				{image: "ghcr.io/acme/other", wantSaved: "ghcr/acme", execs: 1},
				// The token file is read again (no disk cache for it).
				{image: "ghcr.io/octo-user/tool", wantFunc: func() []cred { return []cred{{ghcrUser, pat}} }, execs: 1},
			}
		},
	}
}
