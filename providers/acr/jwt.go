package acr

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxTokenLength bounds a refresh token; ACR's are about 1-2 KiB.
const maxTokenLength = 16 << 10

// maxExp is the latest expiry accepted (year 9999): anything later is junk.
const maxExp = 253402300799

// ErrBadToken is wrapped by every TokenExpiry error. The messages never
// include the token or any part of it.
var ErrBadToken = errors.New("refresh token is not a JWT with an exp claim")

// TokenExpiry reads the exp claim of a JWT. It does not verify the
// signature: pullkey trusts the token because it came over TLS from the
// registry it asked, and only uses exp to know when to ask again.
func TokenExpiry(token string) (time.Time, error) {
	if len(token) > maxTokenLength {
		return time.Time{}, fmt.Errorf("%w: longer than %d bytes", ErrBadToken, maxTokenLength)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return time.Time{}, fmt.Errorf("%w: not three dot-separated parts", ErrBadToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: payload is not base64url", ErrBadToken)
	}
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("%w: payload is not a JSON object", ErrBadToken)
	}
	if len(claims.Exp) == 0 || string(claims.Exp) == "null" {
		return time.Time{}, fmt.Errorf("%w: no exp claim", ErrBadToken)
	}
	// exp is a JSON number (RFC 7519 NumericDate), not a string.
	f, err := strconv.ParseFloat(string(claims.Exp), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > maxExp {
		return time.Time{}, fmt.Errorf("%w: exp is not a valid time", ErrBadToken)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
