package providers

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// MaxImageLength bounds an image reference; kubelet's own limit on a
// reference is far below it.
const MaxImageLength = 4096

// Image is an image reference split the way kubelet splits it.
type Image struct {
	// Raw is the reference as kubelet sent it.
	Raw string
	// Host is the registry host name without a port, exactly as written
	// (not lower-cased: kubelet matches case-sensitively, and so do we).
	Host string
	// Port is the registry port, or "" when none was written.
	Port string
	// Path is the repository path without tag or digest ("team/app").
	Path string
}

// Registry is the host with its port, if any: kubelet's first path segment.
func (i Image) Registry() string {
	if i.Port == "" {
		return i.Host
	}
	return i.Host + ":" + i.Port
}

// Owner is the first segment of the repository path (an org or user on
// GitHub), or "" for a path without one.
func (i Image) Owner() string {
	owner, _, _ := strings.Cut(i.Path, "/")
	return owner
}

// Repository is the registry and path, the key of a per-image answer.
func (i Image) Repository() string { return i.Registry() + "/" + i.Path }

// ErrInvalidImage is wrapped by every ParseImage error.
var ErrInvalidImage = errors.New("invalid image")

// ParseImage splits an image reference into registry host, port and path.
// Like kubelet (and docker), a first path component is a registry host only
// if it contains a "." or a ":" or is "localhost"; otherwise the image is on
// docker.io, and a one-component name is under "library/". A tag or digest
// is dropped. ParseImage rejects only references that are not image names
// at all; a host that merely looks odd parses, and then no provider owns it.
func ParseImage(ref string) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("%w: empty", ErrInvalidImage)
	}
	if len(ref) > MaxImageLength {
		return Image{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidImage, MaxImageLength)
	}
	for _, r := range ref {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return Image{}, fmt.Errorf("%w: contains a space or control character", ErrInvalidImage)
		}
	}
	if strings.Contains(ref, "://") {
		return Image{}, fmt.Errorf("%w: has a URL scheme", ErrInvalidImage)
	}
	name := ref
	if at := strings.IndexByte(name, '@'); at >= 0 && strings.Contains(name[at:], ":") && strings.LastIndexByte(name, '/') < at {
		name = name[:at] // digest
	}
	img := Image{Raw: ref}
	first, rest, hasSlash := strings.Cut(name, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		img.Host = first
		if h, p, ok := strings.Cut(first, ":"); ok {
			img.Host, img.Port = h, p
			if p == "" || strings.Trim(p, "0123456789") != "" {
				return Image{}, fmt.Errorf("%w: bad port %q", ErrInvalidImage, p)
			}
		}
		name = rest
	} else {
		img.Host = "docker.io"
		if !hasSlash {
			name = "library/" + name
		}
	}
	if img.Host == "" {
		return Image{}, fmt.Errorf("%w: empty registry host", ErrInvalidImage)
	}
	// Drop a tag from the last path segment.
	if slash := strings.LastIndexByte(name, '/'); strings.LastIndexByte(name, ':') > slash {
		name = name[:strings.LastIndexByte(name, ':')]
	}
	if name == "" {
		return Image{}, fmt.Errorf("%w: no repository path", ErrInvalidImage)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			return Image{}, fmt.Errorf("%w: empty path segment", ErrInvalidImage)
		}
	}
	img.Path = name
	return img, nil
}

// IsCanonicalHost reports whether h is a plain lower-case DNS name: labels
// of a-z, 0-9 and "-", no empty label, no trailing dot. Providers match
// only canonical hosts, so odd case, trailing dots and IDN spellings of an
// owned host are nobody's.
func IsCanonicalHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
