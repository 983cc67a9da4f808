package acr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// Scope is the Entra scope of a token ACR's exchange accepts. The ACR
// audience is the same in every Azure cloud (the SDKs' default audience);
// only the Entra authority differs.
const Scope = "https://containerregistry.azure.net/.default"

// TokenSource is the one azidentity call pullkey makes.
type TokenSource interface {
	GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error)
}

// Identity says which Entra identity pullkey uses.
type Identity struct {
	// ClientID or ResourceID selects a user-assigned managed identity; both
	// empty means the node's system-assigned one (or, on AKS, the only one).
	ClientID, ResourceID string
	// SP is set for the service-principal mode instead of managed identity.
	SP *ServicePrincipal
	// TenantID is the Entra tenant (required for a service principal; sent
	// to the exchange when set).
	TenantID string
}

// Descriptor names the identity (and the tenant the exchange is asked
// for) in cache keys and logs; it holds no secret.
func (id Identity) Descriptor() string {
	var d string
	switch {
	case id.SP != nil:
		return "service-principal:" + id.TenantID + ":" + id.SP.ClientID
	case id.ClientID != "":
		d = "managed-identity:client-id:" + id.ClientID
	case id.ResourceID != "":
		d = "managed-identity:resource-id:" + id.ResourceID
	default:
		d = "managed-identity:system-assigned"
	}
	if id.TenantID != "" {
		d += ":tenant:" + id.TenantID
	}
	return d
}

// recorder is an azcore per-try policy remembering what the tries saw, so a
// failure can be explained in one line (throttled, refused, not answering)
// without quoting azidentity's multi-line error, which may include a
// response body.
type recorder struct {
	mu    sync.Mutex
	tries int
	// status is the last HTTP status any try got (a try cut short by the
	// deadline does not erase it: "throttled, then out of time" is
	// throttling); err is the last try's transport error.
	status int
	err    error
}

func (r *recorder) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	r.err = err
	if resp != nil {
		r.status = resp.StatusCode
	}
	return resp, err
}

func (r *recorder) last() (tries, status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries, r.status, r.err
}

// clientOptions bounds azidentity's retries: a few quick tries, each no
// longer than callTimeout, and never a Retry-After beyond a second or two.
// The caller's context bounds the whole. (azidentity's IMDS defaults are 6
// retries and up to 25 s each: minutes when IMDS is down.) Its transport is
// pullkey's client (proxy from the environment, per-call timeouts, no
// redirects) with every response body bounded: azcore reads whole bodies
// into memory. (On Service Fabric, which azidentity only supports with a
// plain *http.Transport, this fails closed; kubelet nodes are not Service
// Fabric nodes.)
func clientOptions(c Cloud, callTimeout time.Duration, rec *recorder) azcore.ClientOptions {
	hc := httpx.NewClient(callTimeout)
	hc.Transport = httpx.BoundBodies(hc.Transport, maxIdentityBody)
	return azcore.ClientOptions{
		Cloud:     c.Config,
		Transport: hc,
		Retry: policy.RetryOptions{
			MaxRetries:    3,
			TryTimeout:    callTimeout,
			RetryDelay:    250 * time.Millisecond,
			MaxRetryDelay: 2 * time.Second,
			ShouldRetry:   shouldRetry,
		},
		PerRetryPolicies: []policy.Policy{rec},
	}
}

// maxIdentityBody bounds an identity endpoint's or Entra's answer (a
// token is a few KiB).
const maxIdentityBody = httpx.MaxBody

// retryStatus are the answers worth another try: IMDS's own list (404 and
// 410 while the identity is being set up, 429, 5xx) and azcore's (408).
var retryStatus = map[int]bool{
	http.StatusRequestTimeout: true, http.StatusNotFound: true, http.StatusGone: true,
	http.StatusTooManyRequests: true, http.StatusInternalServerError: true,
	http.StatusBadGateway: true, http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true,
}

// shouldRetry retries throttling, server errors and transient transport
// errors, but not a refused connection: nothing listens at the identity
// endpoint, and asking again until the deadline only delays the answer.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		// An oversized answer comes back the same on another try.
		return !isRefused(err) && !isBodyTooLarge(err)
	}
	return resp != nil && retryStatus[resp.StatusCode]
}

// newTokenSource builds the azidentity credential for id in cloud c.
func newTokenSource(id Identity, c Cloud, callTimeout time.Duration, rec *recorder) (TokenSource, error) {
	opts := clientOptions(c, callTimeout, rec)
	if id.SP != nil {
		return id.SP.credential(id.TenantID, opts)
	}
	mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	switch {
	case id.ClientID != "":
		mo.ID = azidentity.ClientID(id.ClientID)
	case id.ResourceID != "":
		mo.ID = azidentity.ResourceID(id.ResourceID)
	}
	return azidentity.NewManagedIdentityCredential(mo)
}

// Errors for a failed Entra token, each wrapped with what to do.
var (
	ErrNoIdentity         = errors.New("no managed identity endpoint on this node")
	ErrIdentityNotOnNode  = errors.New("the managed identity is not assigned to this node")
	ErrNoSystemIdentity   = errors.New("the node has no system-assigned managed identity")
	ErrIdentityTimeout    = errors.New("the identity endpoint did not answer before the deadline")
	ErrIdentityRejected   = errors.New("the identity endpoint refused the request")
	ErrServicePrincipal   = errors.New("Entra ID refused the service principal")
	ErrAnswerTooLarge     = errors.New("the token endpoint's answer is too large")
	errIdentityOtherCause = errors.New("getting an Entra token failed")
)

// explainTokenError turns azidentity's error into one short line naming the
// cause and the fix. azidentity's own text is dropped (it is long, and may
// carry a response body); the recorder says what happened on the wire.
func explainTokenError(ctx context.Context, id Identity, rec *recorder, err error) error {
	tries, status, netErr := rec.last()
	desc := id.Descriptor()
	sp := id.SP != nil
	switch {
	case sp && isBodyTooLarge(netErr):
		return fmt.Errorf("%s: %w (over pullkey's %d-byte limit on a response body): check that HTTPS_PROXY/NO_PROXY lead to Entra ID", desc, ErrAnswerTooLarge, maxIdentityBody)
	case isBodyTooLarge(netErr):
		return fmt.Errorf("%s: %w (over pullkey's %d-byte limit on a response body): check that IDENTITY_ENDPOINT (or the route to IMDS at 169.254.169.254) leads to the node's identity service", desc, ErrAnswerTooLarge, maxIdentityBody)
	case status == http.StatusTooManyRequests:
		return fmt.Errorf("%s: identity endpoint %w after %d tries; too many token requests from this node: check that pullkey's cache directory is writable so it asks once per token lifetime, and retry later", desc, ErrThrottled, tries)
	case sp && (status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden):
		return fmt.Errorf("%s: %w (HTTP %d): check providers.acr.tenantID, servicePrincipal.clientID and the secret or certificate file, and that the secret has not expired", desc, ErrServicePrincipal, status)
	case status == http.StatusBadRequest && (id.ClientID != "" || id.ResourceID != ""):
		return fmt.Errorf("%s: %w (HTTP 400): assign it to the node (az vmss identity assign / az vm identity assign) or fix providers.acr.identity", desc, ErrIdentityNotOnNode)
	case status == http.StatusBadRequest:
		return fmt.Errorf("%s: %w (HTTP 400): enable it (az vmss identity assign / az vm identity assign), or set providers.acr.identity to a user-assigned identity of the node", desc, ErrNoSystemIdentity)
	case status != 0 && status != http.StatusOK:
		return fmt.Errorf("%s: %w (HTTP %d): check the node's managed identity", desc, ErrIdentityRejected, status)
	case isRefused(netErr):
		return fmt.Errorf("%s: %w (%s): enable a managed identity on the node (AKS: its kubelet identity), or configure providers.acr.servicePrincipal", desc, ErrNoIdentity, shortNetError(netErr))
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(netErr, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: check that the node reaches its identity endpoint (IMDS at 169.254.169.254), or raise the timeout: %w", desc, ErrIdentityTimeout, context.DeadlineExceeded)
	case netErr != nil:
		return fmt.Errorf("%s: %w (%s): enable a managed identity on the node, or configure providers.acr.servicePrincipal", desc, ErrNoIdentity, shortNetError(netErr))
	}
	return fmt.Errorf("%s: %w: the identity endpoint's answer was not a token; run with -v and check the node's managed identity", desc, errIdentityOtherCause)
}

// isBodyTooLarge reports an answer over the body bound. azcore hands a
// failed body read of a POST (Entra) back wrapped in an error without
// Unwrap, so the text is matched too.
func isBodyTooLarge(err error) bool {
	return errors.Is(err, httpx.ErrBodyTooLarge) || err != nil && strings.Contains(err.Error(), httpx.ErrBodyTooLarge.Error())
}

// isRefused reports a dial that failed at once: nothing listens at the
// identity endpoint, or no route to it (IMDS off Azure).
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// shortNetError is a transport error without the URL.
func shortNetError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op + ": " + op.Err.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "DNS: " + dns.Err
	}
	return "transport error"
}
