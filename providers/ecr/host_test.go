package ecr

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/providers"
)

func TestParseHostOwned(t *testing.T) {
	tests := []struct {
		host string
		want Registry
	}{
		{"123456789012.dkr.ecr.us-west-2.amazonaws.com", Registry{Account: "123456789012", Region: "us-west-2", Domain: "amazonaws.com", Partition: "amazonaws.com"}},
		{"000000000000.dkr.ecr.eu-west-1.amazonaws.com", Registry{Account: "000000000000", Region: "eu-west-1", Domain: "amazonaws.com", Partition: "amazonaws.com"}},
		{"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", Registry{Account: "123456789012", Region: "us-east-1", Domain: "amazonaws.com", Partition: "amazonaws.com", FIPS: true}},
		{"123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", Registry{Account: "123456789012", Region: "us-gov-west-1", Domain: "amazonaws.com", Partition: "amazonaws.com"}},
		{"123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com", Registry{Account: "123456789012", Region: "us-gov-east-1", Domain: "amazonaws.com", Partition: "amazonaws.com", FIPS: true}},
		{"123456789012.dkr-ecr.eu-central-1.on.aws", Registry{Account: "123456789012", Region: "eu-central-1", Domain: "on.aws", Partition: "amazonaws.com", DualStack: true}},
		{"123456789012.dkr-ecr-fips.us-east-2.on.aws", Registry{Account: "123456789012", Region: "us-east-2", Domain: "on.aws", Partition: "amazonaws.com", FIPS: true, DualStack: true}},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Registry{Account: "123456789012", Region: "cn-north-1", Domain: "amazonaws.com.cn", Partition: "amazonaws.com.cn"}},
		{"123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", Registry{Account: "123456789012", Region: "cn-northwest-1", Domain: "on.amazonwebservices.com.cn", Partition: "amazonaws.com.cn", DualStack: true}},
		{"123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", Registry{Account: "123456789012", Region: "eusc-de-east-1", Domain: "amazonaws.eu", Partition: "amazonaws.eu"}},
		{"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", Registry{Account: "123456789012", Region: "us-iso-east-1", Domain: "c2s.ic.gov", Partition: "c2s.ic.gov"}},
		{"123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", Registry{Account: "123456789012", Region: "us-isob-east-1", Domain: "sc2s.sgov.gov", Partition: "sc2s.sgov.gov"}},
		{"123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", Registry{Account: "123456789012", Region: "eu-isoe-west-1", Domain: "cloud.adc-e.uk", Partition: "cloud.adc-e.uk"}},
		{"123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", Registry{Account: "123456789012", Region: "us-isof-south-1", Domain: "csp.hci.ic.gov", Partition: "csp.hci.ic.gov"}},
		// A region the SDK does not know yet falls in the commercial
		// partition, as the SDK itself does.
		{"123456789012.dkr.ecr.ap-future-9.amazonaws.com", Registry{Account: "123456789012", Region: "ap-future-9", Domain: "amazonaws.com", Partition: "amazonaws.com"}},
		{"public.ecr.aws", Registry{Public: true, Region: "us-east-1", Domain: "aws", Partition: "amazonaws.com"}},
		{"ecr-public.aws.com", Registry{Public: true, Region: "us-east-1", Domain: "aws.com", Partition: "amazonaws.com", DualStack: true}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := ParseHost(tt.host)
			tt.want.Host = tt.host
			if !ok || got != tt.want {
				t.Fatalf("ParseHost = %+v, %v; want %+v, true", got, ok, tt.want)
			}
			if !matchesAPattern(tt.host) {
				t.Errorf("no pattern in Patterns() matches %s", tt.host)
			}
		})
	}
}

func TestParseHostLookalikes(t *testing.T) {
	hosts := []string{
		"",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.io",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.",
		"evil.io",
		"12345678901.dkr.ecr.us-west-2.amazonaws.com",
		"1234567890123.dkr.ecr.us-west-2.amazonaws.com",
		"x23456789012.dkr.ecr.us-west-2.amazonaws.com",
		"a.123456789012.dkr.ecr.us-west-2.amazonaws.com",
		"123456789012.DKR.ECR.us-west-2.amazonaws.com",
		"123456789012.dkr.ecr.US-WEST-2.amazonaws.com",
		"123456789012.dkr.ecr.us_west_2.amazonaws.com",
		"123456789012.dkr.ecr.us-west-2.amazonaws.co",
		"123456789012.dkr.ecr.us-west-2.amazonaws.comx",
		"123456789012.dkr.ecr.us-west-2.xamazonaws.com",
		"123456789012.dkrxecr.us-west-2.amazonaws.com",
		"123456789012.dkr..ecr.us-west-2.amazonaws.com",
		"123456789012.dkr.ecr-fipsx.us-west-2.amazonaws.com",
		"123456789012.dkr.ecr.-us-west-2.amazonaws.com",
		"123456789012.dkr.ecr.us.west.2.amazonaws.com",
		"123456789012.dkr.ecr.amazonaws.com",
		"123456789012.dkr.ecr.us-west-2.on.aws.evil.io",
		"123456789012.dkr.ecr.us-west-2.aws",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.cn.evil.io",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com%2f.evil.io",
		// Partition mismatches: region and domain disagree.
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.cn",
		"123456789012.dkr.ecr.us-west-2.amazonaws.eu",
		"123456789012.dkr-ecr.cn-north-1.on.aws",
		"123456789012.dkr.ecr.us-iso-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.c2s.ic.gov",
		"123456789012.dkr.ecr.us-isob-east-1.c2s.ic.gov",
		// ECR Public lookalikes.
		"public.ecr.aws.evil.io",
		"evilpublic.ecr.aws",
		"x.public.ecr.aws",
		"public.ecr.aws.",
		"PUBLIC.ECR.AWS",
		"ecr.aws",
		"ecr-public.aws.com.evil.io",
		"xecr-public.aws.com",
		// Unicode that folds to ASCII must not count.
		"123456789012.dkr.ecr.us-west-2.amazonaws.ｃom",
		"１23456789012.dkr.ecr.us-west-2.amazonaws.com",
	}
	for _, h := range hosts {
		if r, ok := ParseHost(h); ok {
			t.Errorf("ParseHost(%q) = %+v, want not ECR's", h, r)
		}
	}
}

func TestMatchRefusesPortsAndOtherHosts(t *testing.T) {
	p := &Provider{}
	for _, ref := range []string{
		"123456789012.dkr.ecr.us-west-2.amazonaws.com:443/team/app",
		"public.ecr.aws:443/team/app",
		"evil.io/123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"evil.io/123456789012.dkr.ecr.us-west-2.amazonaws.com",
		"nginx",
	} {
		img, err := providers.ParseImage(ref)
		if err != nil {
			t.Fatalf("ParseImage(%q): %v", ref, err)
		}
		if s, ok := p.Match(img); ok {
			t.Errorf("Match(%q) = %+v, want no", ref, s)
		}
	}
}

// TestPatternsCoverParseHost checks that the matchImages globs the provider
// publishes and the hosts it accepts agree: every pattern's label shape is
// one ParseHost accepts, and no pattern reaches beyond ECR.
func TestPatternsCoverParseHost(t *testing.T) {
	for _, p := range patterns() {
		host := strings.Replace(strings.Replace(p, "*", "123456789012", 1), "*", regionFor(p), 1)
		if _, ok := ParseHost(host); !ok {
			t.Errorf("pattern %s: its example %s is not accepted", p, host)
		}
		if !providers.GlobMatches(p, host+"/x") {
			t.Errorf("pattern %s does not match %s", p, host)
		}
	}
	if got := len(patterns()); got != 9*4+2 {
		t.Errorf("%d patterns, want %d", got, 9*4+2)
	}
}

func regionFor(pattern string) string {
	for d, region := range map[string]string{
		".amazonaws.com.cn": "cn-north-1", ".on.amazonwebservices.com.cn": "cn-north-1", ".amazonaws.eu": "eusc-de-east-1",
		".sc2s.sgov.gov": "us-isob-east-1", ".c2s.ic.gov": "us-iso-east-1", ".cloud.adc-e.uk": "eu-isoe-west-1", ".csp.hci.ic.gov": "us-isof-south-1",
	} {
		if strings.HasSuffix(pattern, d) {
			return region
		}
	}
	return "us-west-2"
}

func matchesAPattern(host string) bool {
	for _, p := range patterns() {
		if providers.GlobMatches(p, host+"/x") {
			return true
		}
	}
	return false
}

// hostShape is an independent restatement of what ParseHost may accept.
var hostShape = regexp.MustCompile(`^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.([a-z0-9.-]+)$`)

// FuzzParseECRHost checks that whatever ParseHost accepts is a canonical
// host of one of the owned shapes, that its parts put back together give
// the host exactly, and that a published pattern covers it.
func FuzzParseECRHost(f *testing.F) {
	for _, s := range []string{
		"123456789012.dkr.ecr.us-west-2.amazonaws.com", "123456789012.dkr-ecr-fips.us-east-2.on.aws", "public.ecr.aws",
		"ecr-public.aws.com", "123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.io", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
		"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "x.123456789012.dkr.ecr.us-west-2.amazonaws.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		r, ok := ParseHost(host)
		if !ok {
			return
		}
		if !providers.IsCanonicalHost(host) || r.Host != host {
			t.Fatalf("accepted non-canonical or altered host %q: %+v", host, r)
		}
		if !matchesAPattern(host) {
			t.Fatalf("accepted %q, which no published pattern covers", host)
		}
		if r.Public {
			if host != publicHost && host != publicDualStackHost || r.Account != "" || r.Region != publicRegion {
				t.Fatalf("bad public registry %q: %+v", host, r)
			}
			return
		}
		m := hostShape.FindStringSubmatch(host)
		if m == nil || m[1] != r.Account || (m[2] != "") != r.FIPS || m[3] != r.Region || m[4] != r.Domain {
			t.Fatalf("parts of %q do not add up: %+v", host, r)
		}
		if _, known := partitionDomains[r.Domain]; !known || r.Partition != partitionDomains[r.Domain] {
			t.Fatalf("unknown domain or partition in %q: %+v", host, r)
		}
		if r.DualStack != strings.HasPrefix(r.Domain, "on.") {
			t.Fatalf("dual-stack flag wrong for %q", host)
		}
		sep := "."
		if strings.Contains(host, ".dkr-ecr") {
			sep = "-"
		}
		fips := ""
		if r.FIPS {
			fips = "-fips"
		}
		if back := r.Account + ".dkr" + sep + "ecr" + fips + "." + r.Region + "." + r.Domain; back != host {
			t.Fatalf("%q rebuilt as %q", host, back)
		}
	})
}
