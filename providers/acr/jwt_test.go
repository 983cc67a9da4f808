package acr

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func jwtWith(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name, token string
		want        time.Time
		ok          bool
	}{
		{"integer exp", jwtWith(`{"exp":1700000000,"aud":"x"}`), time.Unix(1700000000, 0), true},
		{"float exp", jwtWith(`{"exp":1700000000.5}`), time.Unix(1700000000, 5e8), true},
		{"padded payload", strings.Replace(jwtWith(`{"exp":1700000000}`), ".c2ln", "", 1) + "==.c2ln", time.Unix(1700000000, 0), true},
		{"no exp", jwtWith(`{"aud":"x"}`), time.Time{}, false},
		{"null exp", jwtWith(`{"exp":null}`), time.Time{}, false},
		{"string exp", jwtWith(`{"exp":"1700000000"}`), time.Time{}, false},
		{"zero exp", jwtWith(`{"exp":0}`), time.Time{}, false},
		{"negative exp", jwtWith(`{"exp":-5}`), time.Time{}, false},
		{"huge exp", jwtWith(`{"exp":1e300}`), time.Time{}, false},
		{"payload not JSON", jwtWith(`not json`), time.Time{}, false},
		{"payload an array", jwtWith(`[1]`), time.Time{}, false},
		{"two parts", "abc.def", time.Time{}, false},
		{"four parts", "a.b.c.d", time.Time{}, false},
		{"not base64", "a.!!!.c", time.Time{}, false},
		{"empty", "", time.Time{}, false},
		{"too long", jwtWith(`{"exp":1700000000,"x":"` + strings.Repeat("a", maxTokenLength) + `"}`), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenExpiry(tt.token)
			if tt.ok {
				if err != nil || !got.Equal(tt.want) {
					t.Fatalf("TokenExpiry = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadToken) {
				t.Fatalf("TokenExpiry = %v, %v; want an ErrBadToken", got, err)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("error quotes the token")
			}
		})
	}
}

// FuzzTokenExpiry: no panic; an accepted token has a positive, sane exp;
// an error never quotes the token's payload.
func FuzzTokenExpiry(f *testing.F) {
	f.Add(jwtWith(`{"exp":1700000000}`))
	f.Add(jwtWith(`{"exp":1.5e9}`))
	f.Add("a.b.c")
	f.Add(jwtWith(`{"exp":{}}`))
	f.Fuzz(func(t *testing.T, tok string) {
		exp, err := TokenExpiry(tok)
		if err != nil {
			if parts := strings.Split(tok, "."); len(parts) == 3 && len(parts[1]) > 12 && strings.Contains(err.Error(), parts[1]) {
				t.Fatalf("error quotes the payload: %v", err)
			}
			return
		}
		if exp.Unix() <= 0 || exp.Unix() > maxExp {
			t.Fatalf("accepted exp %v", exp)
		}
	})
}
