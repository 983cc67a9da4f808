package acr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers/internal/httpx"
)

func TestExplainTokenError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	user := Identity{ClientID: testClientID}
	sp := Identity{TenantID: testTenant, SP: &ServicePrincipal{ClientID: testClientID, SecretFile: "/x"}}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		id      Identity
		status  int
		netErr  error
		want    error
		wantFix string
	}{
		{"throttled", context.Background(), Identity{}, 429, nil, ErrThrottled, "retry later"},
		{"user-assigned not on node", context.Background(), user, 400, nil, ErrIdentityNotOnNode, "az vmss identity assign"},
		{"no system identity", context.Background(), Identity{}, 400, nil, ErrNoSystemIdentity, "providers.acr.identity"},
		{"sp refused", context.Background(), sp, 401, nil, ErrServicePrincipal, "secret or certificate file"},
		{"other status", context.Background(), Identity{}, 500, nil, ErrIdentityRejected, "HTTP 500"},
		{"refused", context.Background(), Identity{}, 0, refused, ErrNoIdentity, "connection refused"},
		{"deadline", expired, Identity{}, 0, nil, ErrIdentityTimeout, "raise the timeout"},
		{"deadline in transport", context.Background(), Identity{}, 0, fmt.Errorf("x: %w", context.DeadlineExceeded), ErrIdentityTimeout, "IMDS"},
		{"other transport", context.Background(), Identity{}, 0, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset")}, ErrNoIdentity, "read: connection reset"},
		{"garbage answer", context.Background(), Identity{}, 200, nil, errIdentityOtherCause, "-v"},
		{"huge identity answer", context.Background(), Identity{}, 200, fmt.Errorf("read: %w (over 1048576 bytes)", httpx.ErrBodyTooLarge), ErrAnswerTooLarge, "IDENTITY_ENDPOINT"},
		// azcore wraps a failed POST body read without Unwrap.
		{"huge Entra answer", context.Background(), sp, 200, errors.New("body download policy: " + httpx.ErrBodyTooLarge.Error()), ErrAnswerTooLarge, "Entra ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{tries: 1, status: tt.status, err: tt.netErr}
			err := explainTokenError(tt.ctx, tt.id, rec, errors.New("azidentity: long text with body {secret}"))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantFix) {
				t.Fatalf("err = %v, want %v with %q", err, tt.want, tt.wantFix)
			}
			if strings.Contains(err.Error(), "{secret}") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error quotes azidentity's text or spans lines: %q", err)
			}
		})
	}
}

func TestShouldRetry(t *testing.T) {
	refused := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if shouldRetry(nil, refused) {
		t.Error("a refused connection is retried")
	}
	if !shouldRetry(nil, errors.New("connection reset")) {
		t.Error("a reset is not retried")
	}
	if shouldRetry(nil, fmt.Errorf("x: %w", httpx.ErrBodyTooLarge)) {
		t.Error("an oversized answer is retried")
	}
	for code, want := range map[int]bool{200: false, 400: false, 404: true, 410: true, 429: true, 500: true, 503: true} {
		if got := shouldRetry(&http.Response{StatusCode: code}, nil); got != want {
			t.Errorf("status %d: retry %v, want %v", code, got, want)
		}
	}
}

func TestReadRootOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("s3cret\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"0600", write("ok", 0o600), ""},
		{"0400", write("ro", 0o400), ""},
		{"group readable", write("g", 0o640), "chmod 600"},
		{"world readable", write("w", 0o644), "chmod 600"},
		{"missing", filepath.Join(dir, "nope"), "does not exist"},
		{"directory", dir, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := readRootOnly(tt.path)
			if tt.wantErr == "" {
				if err != nil || string(b) != "s3cret\n" {
					t.Fatalf("readRootOnly = %q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatal("error quotes the secret")
			}
		})
	}
}

// TestServicePrincipalFiles: the credential is built from the files at
// Fetch time, and bad files are explained.
func TestServicePrincipalFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	notPEM := filepath.Join(dir, "cert")
	os.WriteFile(notPEM, []byte("s3cret"), 0o600)
	opts := clientOptions(publicCloud, time.Second, &recorder{})
	if _, err := (&ServicePrincipal{ClientID: testClientID, SecretFile: secret}).credential(testTenant, opts); err != nil {
		t.Errorf("secret file: %v", err)
	}
	if _, err := (&ServicePrincipal{ClientID: testClientID, SecretFile: empty}).credential(testTenant, opts); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty secret file: %v", err)
	}
	if _, err := (&ServicePrincipal{ClientID: testClientID, CertificateFile: notPEM}).credential(testTenant, opts); err == nil || !strings.Contains(err.Error(), "not a PEM certificate") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad certificate file: %v", err)
	}
}
