// Package ecr is a local stand-in of the AWS services pullkey's ECR
// provider talks to: IMDSv2 (on its own loopback server, reached through
// AWS_EC2_METADATA_SERVICE_ENDPOINT) and the ECR, ECR Public and STS APIs
// (an http.Handler played behind the test MITM proxy under the real API host
// names, or reached through AWS_ENDPOINT_URL_*).
//
// It behaves like AWS where pullkey can tell: IMDS insists on a session
// token, every API request must carry a valid SigV4 signature made with
// credentials the stand-in handed out (so a test proves where pullkey's
// identity came from), errors use the services' own wire shapes. It records
// which host each call reached and how it was signed, counts token mints,
// and has knobs for the failures pullkey must explain: throttling, hanging,
// access denied, clock skew, no instance role.
package ecr

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/pullkey/pullkey/test/standin"
)

// Wire names of the calls the stand-in serves.
const (
	TargetECR       = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
	TargetECRPublic = "SpencerFrontendService.GetAuthorizationToken"
	// RoleName is the instance role IMDS reports.
	RoleName = "standin-node-role"
	// NodeRoleARN is the node's principal, as AWS names it in errors.
	NodeRoleARN = "arn:aws:sts::123456789012:assumed-role/" + RoleName + "/i-0standin0000000"
	// TokenLifetime is how long minted registry tokens live (ECR: 12 h).
	TokenLifetime = 12 * time.Hour
)

// API names a served API in Call records.
type API string

const (
	ECR       API = "ecr"
	ECRPublic API = "ecr-public"
	STS       API = "sts"
)

// Call is one API request the stand-in received.
type Call struct {
	API  API
	Host string // the host the request was sent to (r.Host, port dropped)
	// Region, Service and AccessKeyID come from the request's SigV4
	// credential scope.
	Region, Service, AccessKeyID string
	// Invocation is the SDK's amz-sdk-invocation-id: the same for every
	// attempt of one operation call. Attempt is its attempt number.
	Invocation string
	Attempt    int
	Status     int
}

// StandIn is the running stand-in. Its knobs may be changed at any time.
type StandIn struct {
	// Password is the registry password inside every token minted.
	Password string
	// IMDSURL is the loopback IMDS endpoint.
	IMDSURL string

	// Knobs.
	ThrottleNext   atomic.Int64 // throttle this many more GetAuthorizationToken calls
	AlwaysThrottle atomic.Bool
	HangAPI        atomic.Bool // ECR, ECR Public and STS never answer
	HangIMDS       atomic.Bool
	NoRole         atomic.Bool // IMDS has no instance role (404)
	DenyToken      atomic.Bool // GetAuthorizationToken: AccessDeniedException
	DenyAssumeRole atomic.Bool // AssumeRole: AccessDenied
	SkewClock      atomic.Bool // every API call: "Signature expired"
	// HugeAPI and HugeIMDS put standin.HugePadding bytes of JSON whitespace before
	// an otherwise valid GetAuthorizationToken answer or IMDS credentials
	// document: a client reading bodies without a bound would succeed.
	HugeAPI, HugeIMDS atomic.Bool

	// Counters.
	TokenCalls atomic.Int64 // GetAuthorizationToken requests (ECR and ECR Public)
	Mints      atomic.Int64 // tokens handed out
	IMDSCalls  atomic.Int64 // IMDS requests
	APICalls   atomic.Int64 // ECR, ECR Public and STS requests

	imds      *httptest.Server
	imdsToken string
	stop      chan struct{}
	stopOnce  sync.Once

	mu    sync.Mutex
	creds map[string]aws.Credentials // by access key id
	node  aws.Credentials
	calls []Call
}

// New starts a stand-in (its IMDS server listens on loopback).
func New() *StandIn {
	s := &StandIn{
		Password:  "standin-ecr-password-" + randHex(16),
		imdsToken: "imds-session-" + randHex(16),
		stop:      make(chan struct{}),
		creds:     map[string]aws.Credentials{},
	}
	s.node = s.issue("ASIASTANDINNODE", time.Now().Add(6*time.Hour))
	s.imds = httptest.NewServer(http.HandlerFunc(s.serveIMDS))
	s.IMDSURL = s.imds.URL
	return s
}

// Env is the environment that points pullkey's SDK at the stand-in's IMDS.
func (s *StandIn) Env() []string {
	return []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + s.IMDSURL}
}

// Close releases hanging requests and stops the IMDS server.
func (s *StandIn) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.imds.Close()
}

// Calls returns the API calls received so far.
func (s *StandIn) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Invocations is the number of distinct GetAuthorizationToken operation
// calls received: attempts of one call (retries) count once.
func (s *StandIn) Invocations() int {
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		if c.API != STS {
			seen[c.Invocation] = true
		}
	}
	return len(seen)
}

// RoundTrips is the number of HTTP requests the stand-in answered (IMDS and
// APIs).
func (s *StandIn) RoundTrips() int64 { return s.IMDSCalls.Load() + s.APICalls.Load() }

// Token is the authorization token the stand-in mints: base64("AWS:" +
// Password), as ECR does.
func (s *StandIn) Token() string {
	return base64.StdEncoding.EncodeToString([]byte("AWS:" + s.Password))
}

func (s *StandIn) issue(prefix string, exp time.Time) aws.Credentials {
	c := aws.Credentials{
		AccessKeyID:     prefix + strings.ToUpper(randHex(3)),
		SecretAccessKey: randHex(20),
		SessionToken:    prefix + "-session-" + randHex(16),
		CanExpire:       true,
		Expires:         exp,
	}
	s.mu.Lock()
	s.creds[c.AccessKeyID] = c
	s.mu.Unlock()
	return c
}

func (s *StandIn) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.stop:
	case <-time.After(2 * time.Minute):
	}
}

// serveIMDS is IMDSv2: a PUT for a session token, then GETs that carry it.
func (s *StandIn) serveIMDS(w http.ResponseWriter, r *http.Request) {
	s.IMDSCalls.Add(1)
	if s.HangIMDS.Load() {
		s.hang(r.Context())
		return
	}
	const credsPath = "/latest/meta-data/iam/security-credentials/"
	switch {
	case r.URL.Path == "/latest/api/token":
		if r.Method != http.MethodPut || r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		io.WriteString(w, s.imdsToken)
		return
	case r.Method != http.MethodGet:
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	case r.Header.Get("X-Aws-Ec2-Metadata-Token") != s.imdsToken:
		http.Error(w, "", http.StatusUnauthorized) // IMDSv2 only
		return
	case s.NoRole.Load() && strings.HasPrefix(r.URL.Path, credsPath):
		http.NotFound(w, r)
	case r.URL.Path == credsPath:
		io.WriteString(w, RoleName)
	case r.URL.Path == credsPath+RoleName:
		if s.HugeIMDS.Load() {
			standin.Pad(w)
		}
		json.NewEncoder(w).Encode(map[string]string{
			"Code": "Success", "LastUpdated": time.Now().UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
			"AccessKeyId": s.node.AccessKeyID, "SecretAccessKey": s.node.SecretAccessKey, "Token": s.node.SessionToken,
			"Expiration": s.node.Expires.UTC().Format(time.RFC3339),
		})
	default:
		http.NotFound(w, r)
	}
}

// apiHost matches the API hosts the stand-in plays behind a proxy: ECR,
// ECR Public and STS, standard, FIPS and dual-stack, in every partition.
var apiHost = regexp.MustCompile(`^(?:api\.ecr(?:-fips)?|ecr(?:-fips)?|api\.ecr-public|ecr-public|sts(?:-fips)?)\.[a-z0-9-]+\.(?:amazonaws\.com(?:\.cn)?|amazonaws\.eu|api\.aws|api\.amazonwebservices\.(?:com\.cn|eu)|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov|api\.aws\.ic\.gov|api\.aws\.scloud|api\.cloud-aws\.adc-e\.uk|api\.aws\.hci\.ic\.gov)$`)

// Plays reports whether host is an AWS API host the stand-in serves.
func Plays(host string) bool { return apiHost.MatchString(host) }

// ServeHTTP serves the ECR, ECR Public and STS APIs.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.APICalls.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "", http.StatusBadRequest)
		return
	}
	call := Call{Host: hostOnly(r.Host), Invocation: r.Header.Get("Amz-Sdk-Invocation-Id")}
	fmt.Sscanf(r.Header.Get("Amz-Sdk-Request"), "attempt=%d", &call.Attempt)
	target := r.Header.Get("X-Amz-Target")
	form, _ := url.ParseQuery(string(body))
	switch {
	case target == TargetECR:
		call.API = ECR
	case target == TargetECRPublic:
		call.API = ECRPublic
	case form.Get("Action") == "AssumeRole":
		call.API = STS
	default:
		call.Status = http.StatusBadRequest
		s.record(call)
		jsonError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	if call.API != STS {
		s.TokenCalls.Add(1)
	}
	cred, scope, sigErr := s.verify(r, body)
	call.AccessKeyID, call.Region, call.Service = cred.AccessKeyID, scope.region, scope.service
	// Record the call before the client can see the answer, so a test that
	// looks right after pullkey exits finds it.
	rw := &recordingWriter{ResponseWriter: w, record: func(status int) { call.Status = status; s.record(call) }}
	s.answer(rw, r, call.API, cred, scope.region, form, sigErr)
	rw.header(0)
}

// recordingWriter calls record once, with the status, before anything is
// written (or with 0 if the handler wrote nothing).
type recordingWriter struct {
	http.ResponseWriter
	record func(status int)
	done   bool
}

func (w *recordingWriter) header(status int) {
	if !w.done {
		w.done = true
		w.record(status)
	}
}

func (w *recordingWriter) WriteHeader(status int) {
	w.header(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.header(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (s *StandIn) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *StandIn) answer(w http.ResponseWriter, r *http.Request, api API, cred aws.Credentials, region string, form url.Values, sigErr error) int {
	errorOut := jsonError
	if api == STS {
		errorOut = xmlError
	}
	if s.HangAPI.Load() {
		s.hang(r.Context())
		return 0
	}
	if s.SkewClock.Load() {
		now := time.Now().UTC()
		code := "InvalidSignatureException"
		if api == STS {
			code = "SignatureDoesNotMatch"
		}
		return errorOut(w, http.StatusBadRequest, code, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			now.Add(-time.Hour).Format("20060102T150405Z"), now.Add(-5*time.Minute).Format("20060102T150405Z"), now.Format("20060102T150405Z")))
	}
	if sigErr != nil {
		code := "UnrecognizedClientException"
		if api == STS {
			code = "InvalidClientTokenId"
		}
		return errorOut(w, http.StatusForbidden, code, sigErr.Error())
	}
	switch api {
	case STS:
		if s.DenyAssumeRole.Load() {
			return xmlError(w, http.StatusForbidden, "AccessDenied", "User: "+NodeRoleARN+" is not authorized to perform: sts:AssumeRole on resource: "+form.Get("RoleArn"))
		}
		return s.assumeRole(w, form)
	}
	if s.AlwaysThrottle.Load() || s.ThrottleNext.Add(-1) >= 0 {
		return jsonError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
	}
	if s.DenyToken.Load() {
		action := "ecr:GetAuthorizationToken"
		if api == ECRPublic {
			action = "ecr-public:GetAuthorizationToken"
		}
		return jsonError(w, http.StatusBadRequest, "AccessDeniedException", "User: "+s.principal(cred)+" is not authorized to perform: "+action+
			" on resource: * because no identity-based policy allows the "+action+" action")
	}
	s.Mints.Add(1)
	exp := float64(time.Now().Add(TokenLifetime).Unix())
	data := map[string]any{"authorizationToken": s.Token(), "expiresAt": exp}
	var out any = map[string]any{"authorizationData": data} // ECR Public: one object
	if api == ECR {
		data["proxyEndpoint"] = "https://123456789012.dkr.ecr." + region + ".amazonaws.com"
		out = map[string]any{"authorizationData": []any{data}}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if s.HugeAPI.Load() {
		standin.Pad(w)
	}
	json.NewEncoder(w).Encode(out)
	return http.StatusOK
}

// principal names the identity behind a stand-in credential.
func (s *StandIn) principal(c aws.Credentials) string {
	if c.Source == "role" {
		return "arn:aws:sts::210987654321:assumed-role/pullkey-cross-account/pullkey"
	}
	return NodeRoleARN
}

func (s *StandIn) assumeRole(w http.ResponseWriter, form url.Values) int {
	c := s.issue("ASIASTANDINROLE", time.Now().Add(time.Hour))
	s.mu.Lock()
	c.Source = "role"
	s.creds[c.AccessKeyID] = c
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
		`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
		`<AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/pullkey-cross-account/%s</Arn><AssumedRoleId>AROASTANDIN:%[5]s</AssumedRoleId></AssumedRoleUser>`+
		`</AssumeRoleResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires.UTC().Format(time.RFC3339), xmlSafe(form.Get("RoleSessionName")), randHex(8))
	return http.StatusOK
}

type sigScope struct{ region, service string }

var authHeader = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$`)

// verify checks a request's SigV4 signature against the credentials the
// stand-in issued, re-signing the request's signed headers with the SDK's
// own signer.
func (s *StandIn) verify(r *http.Request, body []byte) (aws.Credentials, sigScope, error) {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return aws.Credentials{}, sigScope{}, fmt.Errorf("missing or malformed SigV4 Authorization header")
	}
	akid, region, service, signed, sig := m[1], m[3], m[4], m[5], m[6]
	scope := sigScope{region: region, service: service}
	s.mu.Lock()
	cred, ok := s.creds[akid]
	s.mu.Unlock()
	if !ok {
		return aws.Credentials{AccessKeyID: akid}, scope, fmt.Errorf("The security token included in the request is invalid.")
	}
	if r.Header.Get("X-Amz-Security-Token") != cred.SessionToken {
		return cred, scope, fmt.Errorf("The security token included in the request is invalid.")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return cred, scope, fmt.Errorf("missing X-Amz-Date")
	}
	clone, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	clone.Host = r.Host
	for _, h := range strings.Split(signed, ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		clone.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	clone.Header.Del("Authorization")
	clone.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), cred, clone, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		return cred, scope, err
	}
	if got := authHeader.FindStringSubmatch(clone.Header.Get("Authorization")); got == nil || got[6] != sig {
		return cred, scope, fmt.Errorf("The request signature we calculated does not match the signature you provided.")
	}
	return cred, scope, nil
}

func jsonError(w http.ResponseWriter, status int, code, msg string) int {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	return status
}

func xmlError(w http.ResponseWriter, status int, code, msg string) int {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		code, xmlSafe(msg), randHex(8))
	return status
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlSafe(s string) string { return xmlEscaper.Replace(s) }

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewDemo starts the stand-in for `make demo`: the demo's shared MITM proxy
// routes the real AWS API host names (Plays) to it, and Env points the SDK's
// IMDS client at its loopback IMDS. dir is unused: the ECR stand-in keeps no
// files.
func NewDemo(dir string) (*standin.Demo, error) {
	_ = dir
	s := New()
	return &standin.Demo{
		Provider: "ecr",
		Plays:    Plays,
		Handler:  s,
		Env:      s.Env(),
		Images: []string{
			"123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1.4.2",
			"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/app",
			"123456789012.dkr-ecr.eu-central-1.on.aws/team/app",
			"public.ecr.aws/team/tool:latest",
		},
		Calls: &s.Mints,
		Close: s.Close,
	}, nil
}
