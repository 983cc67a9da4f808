package cache

import (
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers"
)

// FuzzDecodeEntry checks that no cache file content makes the decoder panic
// and that every accepted entry round-trips.
func FuzzDecodeEntry(f *testing.F) {
	good, _ := EncodeEntry("k", providers.Credential{Username: "AWS", Password: "pw", ExpiresAt: time.Unix(2e9, 0)}, time.Unix(1e9, 0))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":0}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeEntry("k", b)
		if err != nil {
			return
		}
		if c.Password == "" || c.ExpiresAt.IsZero() {
			t.Fatalf("accepted incomplete entry %q", b)
		}
		again, err := EncodeEntry("k", c, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeEntry("k", again)
		if err != nil || c2.Password != c.Password || !c2.ExpiresAt.Equal(c.ExpiresAt) || c2.Username != c.Username {
			t.Fatalf("round trip: %+v vs %+v (%v)", c, c2, err)
		}
	})
}
