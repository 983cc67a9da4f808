package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadBodyIsBounded(t *testing.T) {
	if b, err := ReadBody(strings.NewReader("12345"), 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	if _, err := ReadBody(strings.NewReader("123456"), 5); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestClientRefusesRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("redirect followed")
	}))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := NewClient(time.Second).Post(srv.URL, "text/plain", strings.NewReader("token"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect was not refused")
	}
}

func TestClientTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	if _, err := NewClient(200 * time.Millisecond).Get(srv.URL); err == nil {
		t.Fatal("no timeout")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestBackoff(t *testing.T) {
	retryable := Retryable{Err: errors.New("throttled")}
	final := errors.New("denied")
	tests := []struct {
		name      string
		results   []error
		attempts  int
		wantCalls int
		wantErr   error
	}{
		{"success first", []error{nil}, 5, 1, nil},
		{"retry then success", []error{retryable, retryable, nil}, 5, 3, nil},
		{"non-retryable stops", []error{retryable, final, nil}, 5, 2, final},
		{"attempts used up", []error{retryable, retryable, retryable}, 3, 3, retryable.Err},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Backoff{Attempts: tt.attempts, Base: time.Millisecond, Max: 2 * time.Millisecond}.Do(context.Background(), func(context.Context) error {
				calls++
				return tt.results[calls-1]
			})
			if calls != tt.wantCalls || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("calls %d err %v; want %d %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestBackoffNeverSleepsPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Backoff{Attempts: 100, Base: time.Second, Max: 10 * time.Second}.Do(ctx, func(context.Context) error {
		return Retryable{Err: errors.New("throttled")}
	})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}
