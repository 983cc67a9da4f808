package providers

import (
	"path"
	"strings"
)

// GlobMatches reports whether an image is matched by a kubelet match
// pattern (a matchImages entry or an auth key), with kubelet's rules: the
// host is split on dots and both sides need the same number of labels, each
// pattern label a glob ("*" matches within one label); ports must be equal;
// the pattern's path is a plain string prefix of the image's path.
func GlobMatches(pattern, image string) bool {
	pHost, pPort, pPath := splitSchemeless(pattern)
	iHost, iPort, iPath := splitSchemeless(image)
	if pPort != iPort || !strings.HasPrefix(iPath, pPath) {
		return false
	}
	pLabels, iLabels := strings.Split(pHost, "."), strings.Split(iHost, ".")
	if len(pLabels) != len(iLabels) {
		return false
	}
	for i := range pLabels {
		if ok, err := path.Match(pLabels[i], iLabels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitSchemeless(s string) (host, port, urlPath string) {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	hostPort, rest, _ := strings.Cut(s, "/")
	host, port, _ = strings.Cut(hostPort, ":")
	if rest != "" {
		urlPath = "/" + rest
	}
	return host, port, urlPath
}
