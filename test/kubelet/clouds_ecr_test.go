package kubelet

import (
	"testing"
	"time"

	"github.com/pullkey/pullkey/test/standin"
	ecrstandin "github.com/pullkey/pullkey/test/standin/ecr"
)

func init() { clouds = append(clouds, ecrCloud()) }

// ECR and ECR Public on the node: the node role from IMDSv2 (the stand-in's
// loopback IMDS), GetAuthorizationToken from the stand-in playing the real
// API hosts behind the proxy. pullkey runs with no ecr section (on by
// default).
const (
	ecrAccount = "123456789012"
	ecrUser    = "AWS"
	ecrPrivate = ecrAccount + ".dkr.ecr.us-west-2.amazonaws.com"
	ecrPublic  = "public.ecr.aws"
)

func ecrCloud() cloud {
	var s *ecrstandin.StandIn
	// The password inside every token the stand-in mints (its Password is
	// random per stand-in, so per kubelet process).
	token := func() []cred { return []cred{{ecrUser, s.Password}} }
	return cloud{
		start: func(t *testing.T) *standin.Demo {
			s = ecrstandin.New()
			return &standin.Demo{
				Provider: "ecr",
				Plays:    ecrstandin.Plays,
				Handler:  s,
				Env:      s.Env(),
				Calls:    &s.Mints,
				Close:    s.Close,
			}
		},
		steps: func(*standin.Demo) []step {
			ecr := map[string]int64{"ecr": 1}
			return []step{
				// One token per registry: kubelet keeps it per registry
				// (cacheKeyType Registry), pullkey per account, region and
				// endpoint variant on disk.
				{image: ecrPrivate + "/team/app", wantFunc: token, execs: 1, calls: ecr, save: "ecr"},
				{image: ecrPrivate + "/team/app", wantFunc: token, execs: 0},
				{image: ecrPrivate + "/other/svc", wantFunc: token, execs: 0},
				// Dual-stack and FIPS hosts reach their own API endpoints.
				{image: ecrAccount + ".dkr-ecr.us-west-2.on.aws/team/app", wantFunc: token, execs: 1, calls: ecr},
				{image: ecrAccount + ".dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/app", wantFunc: token, execs: 1, calls: ecr},
				// ECR Public.
				{image: ecrPublic + "/team/tool", wantFunc: token, execs: 1, calls: ecr, save: "ecr-public"},
				// matchImages lets these through (one * per label); pullkey
				// owns neither, so kubelet gets an empty answer.
				{image: "notanaccount.dkr.ecr.us-west-2.amazonaws.com/x", want: nil, execs: 1},
				// Not even in matchImages.
				{image: ecrPrivate + ".evil.com/team/app", want: nil, execs: 0},
				// Access denied: a short error through kubelet, nothing minted.
				{
					before: func(*node) { s.DenyToken.Store(true) },
					image:  ecrAccount + ".dkr.ecr.eu-west-1.amazonaws.com/app", want: nil, execs: 1,
					errLike: []string{"exit status 1", "ecr", "GetAuthorizationToken"},
				},
				// ECR hangs: pullkey gives up within its --timeout.
				{
					before: func(*node) { s.DenyToken.Store(false); s.HangAPI.Store(true) },
					image:  ecrAccount + ".dkr.ecr.ap-south-1.amazonaws.com/app", want: nil, execs: 1,
					maxWait: 10 * time.Second, errLike: []string{"exit status 1", "ecr"},
				},
				{
					before: func(*node) { s.HangAPI.Store(false) },
					image:  ecrAccount + ".dkr.ecr.ap-south-1.amazonaws.com/app", wantFunc: token, execs: 1, calls: ecr,
				},
			}
		},
		afterRestart: func(*standin.Demo) []step {
			// pullkey's disk cache answers: no token minted.
			return []step{
				{image: ecrPrivate + "/team/app", wantSaved: "ecr", execs: 1},
				{image: ecrPublic + "/team/tool", wantSaved: "ecr-public", execs: 1},
			}
		},
	}
}
