package ecr

import (
	"context"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/pullkey/pullkey/providers"
)

// privateHost is the upstream (cloud-provider-aws) pattern of a private ECR
// registry host, anchored at both ends: account, "-fips", region, partition
// domain.
var privateHost = regexp.MustCompile(`^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// ECR Public's registry hosts. Its API lives in us-east-1 only.
const (
	publicHost          = "public.ecr.aws"
	publicDualStackHost = "ecr-public.aws.com"
	publicRegion        = "us-east-1"
)

// partitionDomains lists the domains privateHost accepts. Each maps to the
// DNS suffix of the AWS partition the registry lives in ("on." domains are
// the dual-stack spellings of a partition's registries).
var partitionDomains = map[string]string{
	"amazonaws.com":               "amazonaws.com",
	"amazonaws.com.cn":            "amazonaws.com.cn",
	"amazonaws.eu":                "amazonaws.eu",
	"on.aws":                      "amazonaws.com",
	"on.amazonwebservices.com.cn": "amazonaws.com.cn",
	"sc2s.sgov.gov":               "sc2s.sgov.gov",
	"c2s.ic.gov":                  "c2s.ic.gov",
	"cloud.adc-e.uk":              "cloud.adc-e.uk",
	"csp.hci.ic.gov":              "csp.hci.ic.gov",
}

// Registry is an ECR registry host taken apart.
type Registry struct {
	// Host is the registry host as the image names it.
	Host string
	// Public is true for ECR Public (Account is then "").
	Public bool
	// Account is the 12-digit AWS account of a private registry.
	Account string
	// Region is the registry's region (us-east-1 for ECR Public).
	Region string
	// Domain is the host's partition domain ("amazonaws.com", "on.aws", ...).
	Domain string
	// Partition is the DNS suffix of the AWS partition ("amazonaws.com",
	// "amazonaws.com.cn", ...).
	Partition string
	// FIPS and DualStack are the API endpoint variant the host asks for.
	FIPS, DualStack bool
}

// Variant names the endpoint variant, for cache keys and logs.
func (r Registry) Variant() string {
	switch {
	case r.FIPS && r.DualStack:
		return "fips-dualstack"
	case r.FIPS:
		return "fips"
	case r.DualStack:
		return "dualstack"
	}
	return "standard"
}

// ParseHost reports whether host is an ECR registry host and takes it apart.
// Only canonical hosts (lower case, no port, no trailing dot) qualify, the
// whole host must match, and a private host's region must belong to the
// partition its domain names, as the SDK's own partition table says: a
// "cn-north-1" registry under "amazonaws.com" is nobody's.
func ParseHost(host string) (Registry, bool) {
	if !providers.IsCanonicalHost(host) {
		return Registry{}, false
	}
	switch host {
	case publicHost:
		return Registry{Host: host, Public: true, Region: publicRegion, Domain: "aws", Partition: "amazonaws.com"}, true
	case publicDualStackHost:
		return Registry{Host: host, Public: true, Region: publicRegion, Domain: "aws.com", Partition: "amazonaws.com", DualStack: true}, true
	}
	m := privateHost.FindStringSubmatch(host)
	if m == nil {
		return Registry{}, false
	}
	r := Registry{
		Host:      host,
		Account:   m[1],
		FIPS:      m[2] != "",
		Region:    m[3],
		Domain:    m[4],
		Partition: partitionDomains[m[4]],
		DualStack: strings.HasPrefix(m[4], "on."),
	}
	if r.Partition == "" || partitionSuffix(r.Region) != r.Partition {
		return Registry{}, false
	}
	return r, true
}

// partitionSuffix is the DNS suffix of the partition the SDK places region
// in, read off the standard ECR API endpoint its resolver gives
// ("api.ecr.<region>.<suffix>"). It is pure computation: no I/O.
func partitionSuffix(region string) string {
	ep, err := ecr.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), ecr.EndpointParameters{
		Region: aws.String(region), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false),
	})
	if err != nil {
		return ""
	}
	suffix, ok := strings.CutPrefix(ep.URI.Host, "api.ecr."+region+".")
	if !ok {
		return ""
	}
	return suffix
}

// partitionName is the ARN partition of a registry, for the IAM commands
// pullkey suggests in its errors.
func (r Registry) partitionName() string {
	switch r.Partition {
	case "amazonaws.com.cn":
		return "aws-cn"
	case "amazonaws.eu":
		return "aws-eusc"
	case "c2s.ic.gov":
		return "aws-iso"
	case "sc2s.sgov.gov":
		return "aws-iso-b"
	case "cloud.adc-e.uk":
		return "aws-iso-e"
	case "csp.hci.ic.gov":
		return "aws-iso-f"
	}
	if strings.HasPrefix(r.Region, "us-gov-") {
		return "aws-us-gov"
	}
	return "aws"
}

// patterns are the hosts ParseHost accepts, in kubelet's matchImages glob
// syntax: every spelling of "dkr.ecr" the upstream pattern allows, with and
// without "-fips", under every partition domain, and ECR Public.
func patterns() []string {
	var out []string
	domains := []string{"amazonaws.com", "amazonaws.com.cn", "amazonaws.eu", "on.aws", "on.amazonwebservices.com.cn",
		"sc2s.sgov.gov", "c2s.ic.gov", "cloud.adc-e.uk", "csp.hci.ic.gov"}
	for _, d := range domains {
		for _, sep := range []string{".", "-"} {
			for _, fips := range []string{"", "-fips"} {
				out = append(out, "*.dkr"+sep+"ecr"+fips+".*."+d)
			}
		}
	}
	return append(out, publicHost, publicDualStackHost)
}
