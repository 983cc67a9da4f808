package providers

import "log/slog"

// Secret holds a password or token. It prints as "[redacted]" through fmt,
// slog and encoding/json, so it cannot leak into a log line or an error by
// accident; Reveal is the one explicit way to read it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer so %#v is redacted too.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps encoding/json (and friends) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
