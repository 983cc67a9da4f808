package acr

import (
	"regexp"

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
var hostRE = regexp.MustCompile(`^([a-z0-9]{5,50})\.(?:azurecr\.(io|cn|us)|([a-z][a-z0-9]{1,49})\.geo\.azurecr\.io)$`)

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
	m := hostRE.FindStringSubmatch(h)
	if m == nil {
		return Host{}, false
	}
	out := Host{Name: h, Registry: m[1], Region: m[3], Cloud: publicCloud}
	switch m[2] {
	case "cn":
		out.Cloud = chinaCloud
	case "us":
		out.Cloud = govCloud
	}
	return out, true
}
