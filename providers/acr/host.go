package acr

import (
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/pullkey/pullkey/providers"
)

// hostRE matches the registry login servers pullkey owns, whole host only:
// <name>.azurecr.io|cn|us and the geo-replica regional endpoint
// <name>.<region>.geo.azurecr.io. A registry name is 5-50 lower-case
// alphanumerics (ACR forbids dashes and upper case in names; the login
// server is always lower case). Dedicated data endpoints
// (<name>.<region>.data.azurecr.io) serve blobs behind a redirect from the
// login server and take no credential of their own, so they are not owned.
//
// The match is hand-written rather than a regular expression: counted
// repetitions make Go's regexp costly to compile, and every invocation
// would pay for it at start-up.

// Cloud is the Azure cloud a registry host belongs to.
type Cloud struct {
	// Name is "AzurePublic", "AzureChina" or "AzureGovernment".
	Name string
	// Config is azcore's configuration for the cloud: its Entra authority.
	Config cloud.Configuration
}

var (
	publicCloud = Cloud{Name: "AzurePublic", Config: cloud.AzurePublic}
	chinaCloud  = Cloud{Name: "AzureChina", Config: cloud.AzureChina}
	govCloud    = Cloud{Name: "AzureGovernment", Config: cloud.AzureGovernment}
)

// Host is an ACR login server pullkey owns.
type Host struct {
	// Name is the full host ("myregistry.azurecr.io"): where the exchange
	// goes and the exchange's service.
	Name string
	// Registry is the registry's name ("myregistry").
	Registry string
	// Region is the geo-replica's region for a regional endpoint, else "".
	Region string
	// Cloud is the Azure cloud, from the host's suffix.
	Cloud Cloud
}

// ParseHost reports whether h is an ACR login server pullkey owns. It does
// no I/O; h must be a canonical host (lower case, no port, no trailing dot).
func ParseHost(h string) (Host, bool) {
	if !providers.IsCanonicalHost(h) {
		return Host{}, false
	}
	labels := strings.Split(h, ".")
	out := Host{Name: h, Registry: labels[0]}
	switch {
	case len(labels) == 3 && labels[1] == "azurecr":
		switch labels[2] {
		case "io":
			out.Cloud = publicCloud
		case "cn":
			out.Cloud = chinaCloud
		case "us":
			out.Cloud = govCloud
		default:
			return Host{}, false
		}
	case len(labels) == 5 && labels[2] == "geo" && labels[3] == "azurecr" && labels[4] == "io":
		region := labels[1]
		if len(region) < 2 || len(region) > 50 || region[0] < 'a' || region[0] > 'z' || !isLowerAlnum(region) {
			return Host{}, false
		}
		out.Region, out.Cloud = region, publicCloud
	default:
		return Host{}, false
	}
	if len(out.Registry) < 5 || len(out.Registry) > 50 || !isLowerAlnum(out.Registry) {
		return Host{}, false
	}
	return out, true
}

func isLowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
