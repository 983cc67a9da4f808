package installer

import (
	"fmt"
	"slices"
	"strings"
)

// The kubelet flags pullkey needs.
const (
	flagConfig = "--image-credential-provider-config"
	flagBinDir = "--image-credential-provider-bin-dir"
)

const extraArgsVar = "KUBELET_EXTRA_ARGS"

// kubeletFlags returns the two flags that point kubelet at pullkey.
func kubeletFlags(p Platform) []string {
	return []string{flagConfig + "=" + p.ProviderConfig, flagBinDir + "=" + p.BinDir}
}

// setExtraArgs returns an environment file (/etc/default/kubelet style)
// whose KUBELET_EXTRA_ARGS carries flags, keeping every other line and
// argument. A flag kubelet already gets with another value is an error:
// kubelet takes one config, so pullkey must merge into that one instead.
func setExtraArgs(content string, flags []string) (string, error) {
	lines, idx, quote, args := parseExtraArgs(content)
	for _, f := range flags {
		name, want, _ := strings.Cut(f, "=")
		if got, ok := flagValue(args, name); ok && got != want {
			return "", fmt.Errorf("kubelet already runs with %s=%s; install with the matching path (--provider-config or --bin-dir) so pullkey merges into it", name, got)
		}
	}
	for _, f := range flags {
		if !slices.Contains(args, f) {
			args = append(args, f)
		}
	}
	return renderExtraArgs(lines, idx, quote, args), nil
}

// removeExtraArgs drops flags from KUBELET_EXTRA_ARGS.
func removeExtraArgs(content string, flags []string) string {
	lines, idx, quote, args := parseExtraArgs(content)
	args = slices.DeleteFunc(args, func(a string) bool { return slices.Contains(flags, a) })
	return renderExtraArgs(lines, idx, quote, args)
}

func parseExtraArgs(content string) (lines []string, idx int, quote string, args []string) {
	return parseEnvVar(content, extraArgsVar)
}

// parseEnvVar finds NAME=value in an environment file and splits the value
// into arguments.
func parseEnvVar(content, name string) (lines []string, idx int, quote string, args []string) {
	if content != "" {
		lines = strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	}
	idx = -1
	for i, l := range lines {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), name+"=")
		if !ok {
			continue
		}
		idx = i
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			quote, v = v[:1], v[1:len(v)-1]
		}
		args = strings.Fields(v)
	}
	return lines, idx, quote, args
}

func renderExtraArgs(lines []string, idx int, quote string, args []string) string {
	line := extraArgsVar + "=" + quote + strings.Join(args, " ") + quote
	lines = slices.Clone(lines)
	if idx >= 0 {
		lines[idx] = line
	} else {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n") + "\n"
}

// flagValue finds --name=value or --name value in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}
