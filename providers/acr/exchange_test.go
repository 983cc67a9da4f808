package acr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// exchangerFor returns an exchanger whose connections, whatever the host,
// reach srv (TLS, trusted through srv's own client).
func exchangerFor(srv *httptest.Server) *httpExchanger {
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig.InsecureSkipVerify = true // the test server's cert names 127.0.0.1
	return &httpExchanger{
		client:  &http.Client{Transport: tr, Timeout: 2 * time.Second, CheckRedirect: httpx.NewClient(time.Second).CheckRedirect},
		backoff: httpx.Backoff{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond},
	}
}

func TestExchange(t *testing.T) {
	good := jwtWith(`{"exp":1700000000}`)
	tests := []struct {
		name      string
		answers   []func(w http.ResponseWriter)
		wantErr   error
		wantText  string
		wantCalls int
	}{
		{"ok", []func(http.ResponseWriter){okAnswer(good)}, nil, "", 1},
		{"429 then ok", []func(http.ResponseWriter){status(429), okAnswer(good)}, nil, "", 2},
		{"503 then ok", []func(http.ResponseWriter){status(503), okAnswer(good)}, nil, "", 2},
		{"429 forever", []func(http.ResponseWriter){status(429), status(429), status(429)}, ErrThrottled, "", 3},
		{"401", []func(http.ResponseWriter){status(401)}, ErrNoAcrPull, "HTTP 401", 1},
		{"403", []func(http.ResponseWriter){status(403)}, ErrNoAcrPull, "HTTP 403", 1},
		{"404", []func(http.ResponseWriter){status(404)}, nil, "HTTP 404", 1},
		{"redirect not followed", []func(http.ResponseWriter){redirect("https://evil.example/oauth2/exchange")}, nil, "HTTP 302", 1},
		{"not JSON", []func(http.ResponseWriter){raw("<html>secret-ish</html>")}, nil, "not JSON", 1},
		{"no refresh token", []func(http.ResponseWriter){raw(`{"access_token":"x"}`)}, nil, "no refresh_token", 1},
		{"body too large", []func(http.ResponseWriter){raw(`{"refresh_token":"` + strings.Repeat("a", maxExchangeBody) + `"}`)}, httpx.ErrBodyTooLarge, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.URL.Path != "/oauth2/exchange" ||
					r.Host != "myregistry.azurecr.io" || r.PostForm.Get("service") != "myregistry.azurecr.io" ||
					r.PostForm.Get("grant_type") != "access_token" || r.PostForm.Get("access_token") != "aad" || r.PostForm.Get("tenant") != "t1" {
					t.Errorf("bad request: %s %s host %s form %v", r.Method, r.URL.Path, r.Host, r.PostForm)
				}
				tt.answers[min(n, len(tt.answers)-1)](w)
			}))
			defer srv.Close()
			h, _ := ParseHost("myregistry.azurecr.io")
			tok, err := exchangerFor(srv).Exchange(context.Background(), h, "t1", "aad")
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == nil && tt.wantText == "" {
				if err != nil || tok.Reveal() != good {
					t.Fatalf("Exchange = %q, %v", tok.Reveal(), err)
				}
				return
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %v, want %v / %q", err, tt.wantErr, tt.wantText)
			}
			if strings.Contains(err.Error(), "secret-ish") || strings.Contains(err.Error(), "aad") {
				t.Fatalf("error quotes the body or the token: %v", err)
			}
		})
	}
}

func TestExchangeRefusesForeignHost(t *testing.T) {
	e := newHTTPExchanger(time.Second)
	_, err := e.Exchange(context.Background(), Host{Name: "evil.example"}, "", "aad")
	if err == nil || !strings.Contains(err.Error(), "not an ACR host") {
		t.Fatalf("err = %v", err)
	}
}

func TestClassifyTransportError(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "nope.azurecr.io", IsNotFound: true}
	if err := classifyTransportError(context.Background(), fmt.Errorf("post: %w", dns)); !errors.Is(err, ErrRegistryNotFound) {
		t.Errorf("DNS not found: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := classifyTransportError(ctx, errors.New("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	var r httpx.Retryable
	if err := classifyTransportError(context.Background(), errors.New("connection reset")); !errors.As(err, &r) {
		t.Errorf("reset should be retryable: %v", err)
	}
	err := explainExchangeError(Host{Name: "nope.azurecr.io", Registry: "nope"}, Identity{}, classifyTransportError(context.Background(), dns))
	if !strings.Contains(err.Error(), "az acr show --name nope") {
		t.Errorf("DNS error lacks the fix: %v", err)
	}
}

func okAnswer(tok string) func(http.ResponseWriter) {
	return raw(`{"refresh_token":"` + tok + `"}`)
}

func raw(body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { fmt.Fprint(w, body) }
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { http.Error(w, `{"errors":"secret-ish"}`, code) }
}

func redirect(to string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusFound)
	}
}
