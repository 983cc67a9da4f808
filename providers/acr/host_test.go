package acr

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		host             string
		ok               bool
		registry, region string
		cloud            string
	}{
		{"myregistry.azurecr.io", true, "myregistry", "", "AzurePublic"},
		{"myregistry.azurecr.cn", true, "myregistry", "", "AzureChina"},
		{"myregistry.azurecr.us", true, "myregistry", "", "AzureGovernment"},
		{"myregistry.eastus.geo.azurecr.io", true, "myregistry", "eastus", "AzurePublic"},
		{"abcde.azurecr.io", true, "abcde", "", "AzurePublic"},
		{strings.Repeat("a", 50) + ".azurecr.io", true, strings.Repeat("a", 50), "", "AzurePublic"},
		{"12345.azurecr.io", true, "12345", "", "AzurePublic"},
		{strings.Repeat("a", 51) + ".azurecr.io", false, "", "", ""},
		{"abcd.azurecr.io", false, "", "", ""},
		{"my-registry.azurecr.io", false, "", "", ""},
		{"MyRegistry.azurecr.io", false, "", "", ""},
		{"myregistry.azurecr.io.evil.io", false, "", "", ""},
		{"evil.io", false, "", "", ""},
		{"a.b.azurecr.io", false, "", "", ""},
		{"myregistry.azurecr.io.", false, "", "", ""},
		{"myregistry.azurecr.io:443", false, "", "", ""},
		{"myregistry.eastus.data.azurecr.io", false, "", "", ""},
		{"myregistry.eastus.azurecr.io", false, "", "", ""},
		{"myregistry.eastus.geo.azurecr.cn", false, "", "", ""},
		{"myregistry.1eastus.geo.azurecr.io", false, "", "", ""},
		{"my_registry.azurecr.io", false, "", "", ""},
		{"myregistry.azurecr.io/x", false, "", "", ""},
		{"xmyregistry.azurecr.iox", false, "", "", ""},
		{"myregistry\n.azurecr.io", false, "", "", ""},
		{"azurecr.io", false, "", "", ""},
		{"", false, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			h, ok := ParseHost(tt.host)
			if ok != tt.ok {
				t.Fatalf("ParseHost(%q) ok = %v, want %v", tt.host, ok, tt.ok)
			}
			if !ok {
				return
			}
			if h.Name != tt.host || h.Registry != tt.registry || h.Region != tt.region || h.Cloud.Name != tt.cloud {
				t.Errorf("ParseHost(%q) = %+v, want registry %q region %q cloud %s", tt.host, h, tt.registry, tt.region, tt.cloud)
			}
		})
	}
}

func TestCloudAuthority(t *testing.T) {
	tests := map[string]string{
		"myregistry.azurecr.io": "https://login.microsoftonline.com/",
		"myregistry.azurecr.cn": "https://login.chinacloudapi.cn/",
		"myregistry.azurecr.us": "https://login.microsoftonline.us/",
	}
	for host, want := range tests {
		h, ok := ParseHost(host)
		if !ok || h.Cloud.Config.ActiveDirectoryAuthorityHost != want {
			t.Errorf("%s: authority %q, want %q", host, h.Cloud.Config.ActiveDirectoryAuthorityHost, want)
		}
	}
}

// FuzzParseACRHost: whatever the input, an accepted host is canonical, ends
// in an owned suffix, and is exactly the registry name plus that suffix.
func FuzzParseACRHost(f *testing.F) {
	for _, s := range []string{"myregistry.azurecr.io", "myregistry.eastus.geo.azurecr.io", "a.b.azurecr.io", "x.azurecr.io.evil.com", "MYREG.azurecr.cn", "myregistry.azurecr.us."} {
		f.Add(s)
	}
	// The documented grammar, as a regular expression: ParseHost must
	// agree with it exactly (it is hand-written only for start-up speed).
	spec := regexp.MustCompile(`^([a-z0-9]{5,50})\.(?:azurecr\.(io|cn|us)|([a-z][a-z0-9]{1,49})\.geo\.azurecr\.io)$`)
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := ParseHost(s)
		if want := spec.MatchString(s); ok != want {
			t.Fatalf("ParseHost(%q) = %v, the grammar says %v", s, ok, want)
		}
		if !ok {
			return
		}
		if h.Name != s || strings.ToLower(s) != s || strings.ContainsAny(s, ":/@ ") {
			t.Fatalf("accepted odd host %q", s)
		}
		var suffix string
		switch {
		case h.Region != "":
			suffix = "." + h.Region + ".geo.azurecr.io"
		case strings.HasSuffix(s, ".azurecr.io"), strings.HasSuffix(s, ".azurecr.cn"), strings.HasSuffix(s, ".azurecr.us"):
			suffix = s[len(s)-len(".azurecr.io"):]
		default:
			t.Fatalf("accepted %q with no owned suffix", s)
		}
		if h.Registry+suffix != s || len(h.Registry) < 5 || len(h.Registry) > 50 || strings.Contains(h.Registry, ".") {
			t.Fatalf("accepted %q as registry %q + %q", s, h.Registry, suffix)
		}
	})
}
