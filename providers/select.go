package providers

import "fmt"

// Set is an ordered list of enabled providers.
type Set []Provider

// Select returns the first provider that owns img, with its scope. The order
// is the configuration's and so deterministic. ok is false when no provider
// owns the image: that is an answer (no credentials), not an error.
func (s Set) Select(img Image) (p Provider, scope Scope, ok bool, err error) {
	for _, p := range s {
		scope, ok := p.Match(img)
		if !ok {
			continue
		}
		if err := checkScope(img, scope); err != nil {
			return nil, Scope{}, false, fmt.Errorf("provider %s: %w", p.Name(), err)
		}
		return p, scope, true, nil
	}
	return nil, Scope{}, false, nil
}

// checkScope is a second line of defence: whatever a provider says, an
// answer only ever names the image's own registry.
func checkScope(img Image, s Scope) error {
	reg := img.Registry()
	if s.AuthKey != reg && !(len(s.AuthKey) > len(reg) && s.AuthKey[:len(reg)+1] == reg+"/") {
		return fmt.Errorf("auth key %q is not on the image's registry %q", s.AuthKey, reg)
	}
	if !GlobMatches(s.AuthKey, img.Repository()) {
		return fmt.Errorf("auth key %q does not match the image", s.AuthKey)
	}
	switch s.KeyType {
	case KeyImage, KeyRegistry:
	default:
		return fmt.Errorf("unknown cache key type %q", s.KeyType)
	}
	if s.KeyType == KeyRegistry && s.AuthKey != reg {
		return fmt.Errorf("a per-path auth key %q needs cache key type Image", s.AuthKey)
	}
	return nil
}
