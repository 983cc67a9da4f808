package installer

import (
	"fmt"
	"strings"
)

// KubeletFlags says how a platform passes the two credential-provider flags
// to kubelet.
type KubeletFlags string

const (
	// FlagsByPlatform: the platform already starts kubelet with flags that
	// point at the preset's paths (EKS nodeadm, AKS, k3s, RKE2, kops), so
	// --configure-kubelet has nothing to do.
	FlagsByPlatform KubeletFlags = "platform"
	// FlagsExtraArgs: the flags go into KUBELET_EXTRA_ARGS in
	// /etc/default/kubelet (Debian family) or /etc/sysconfig/kubelet (RHEL
	// family), which kubeadm's systemd drop-in reads.
	FlagsExtraArgs KubeletFlags = "extra-args"
)

// Platform says where one kind of node keeps kubelet's credential-provider
// files. All paths are absolute paths on the node.
type Platform struct {
	Name string
	// BinDir is kubelet's --image-credential-provider-bin-dir.
	BinDir string
	// ProviderConfig is kubelet's --image-credential-provider-config: a
	// file, or a directory when ProviderConfigIsDir (kubelet 1.34+ merges
	// its *.yaml, *.yml and *.json files in name order).
	ProviderConfig      string
	ProviderConfigIsDir bool
	// PullkeyConfig is where pullkey's own configuration lives.
	PullkeyConfig string
	// Flags is how kubelet is told about BinDir and ProviderConfig.
	Flags KubeletFlags
	// RestartCommand restarts kubelet on the node (run in the host's
	// namespaces when installing from a container).
	RestartCommand []string
}

// DefaultPullkeyConfig is where pullkey's configuration is written unless a
// preset or flag says otherwise.
const DefaultPullkeyConfig = "/etc/pullkey/config.yaml"

// Preset returns the platform preset of that name (see PresetNames).
func Preset(name string) (Platform, error) {
	for _, p := range presets() {
		if p.Name == name {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("unknown platform %q (want one of %s)", name, strings.Join(PresetNames(), ", "))
}

// PresetNames lists the platform presets.
func PresetNames() []string {
	var names []string
	for _, p := range presets() {
		names = append(names, p.Name)
	}
	return names
}

// presets are the node layouts of DESIGN.md section 5.
func presets() []Platform {
	const (
		kubeadmConfig = "/etc/kubernetes/credential-provider-config.yaml"
		rancherDir    = "/var/lib/rancher/credentialprovider"
	)
	type row struct {
		names         []string
		binDir, cfg   string
		flags         KubeletFlags
		restartTarget string
	}
	rows := []row{
		{[]string{"kubeadm", "generic"}, "/usr/local/lib/kubelet-credential-providers", kubeadmConfig, FlagsExtraArgs, "kubelet"},
		{[]string{"capi", "image-builder"}, "/opt/bin", kubeadmConfig, FlagsExtraArgs, "kubelet"},
		{[]string{"eks"}, "/etc/eks/image-credential-provider", "/etc/eks/image-credential-provider/config.json", FlagsByPlatform, "kubelet"},
		{[]string{"aks", "capz"}, "/var/lib/kubelet/credential-provider", "/var/lib/kubelet/credential-provider-config.yaml", FlagsByPlatform, "kubelet"},
		{[]string{"k3s"}, rancherDir + "/bin", rancherDir + "/config.yaml", FlagsByPlatform, "k3s-agent"},
		{[]string{"rke2"}, rancherDir + "/bin", rancherDir + "/config.yaml", FlagsByPlatform, "rke2-agent"},
		{[]string{"kops"}, "/usr/local/bin", "/var/lib/kubelet/credential-provider.conf", FlagsByPlatform, "kubelet"},
	}
	var out []Platform
	for _, r := range rows {
		for _, n := range r.names {
			out = append(out, Platform{
				Name: n, BinDir: r.binDir, ProviderConfig: r.cfg, PullkeyConfig: DefaultPullkeyConfig,
				Flags: r.flags, RestartCommand: []string{"systemctl", "restart", r.restartTarget},
			})
		}
	}
	return out
}
