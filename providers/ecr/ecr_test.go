package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
	"github.com/pullkey/pullkey/test/harness"
)

// fakeAPI is tokenAPI as a func field.
type fakeAPI struct {
	token func(ctx context.Context, r Registry) (string, time.Time, error)
}

func (f fakeAPI) authorizationToken(ctx context.Context, r Registry) (string, time.Time, error) {
	return f.token(ctx, r)
}

func mustImage(t *testing.T, ref string) providers.Image {
	t.Helper()
	img, err := providers.ParseImage(ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newTestProvider(t *testing.T, section string) *Provider {
	t.Helper()
	var raw json.RawMessage
	if section != "" {
		raw = json.RawMessage(section)
	}
	p, err := Factory.New(raw, providers.Env{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Provider)
}

func TestFetch(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	token := base64.StdEncoding.EncodeToString([]byte("AWS:s3cr3t-password"))
	tests := []struct {
		name    string
		token   string
		exp     time.Time
		err     error
		want    providers.Credential
		wantErr string
	}{
		{name: "ok", token: token, exp: now.Add(12 * time.Hour),
			want: providers.Credential{Username: "AWS", Password: "s3cr3t-password", ExpiresAt: now.Add(12 * time.Hour)}},
		{name: "password with colons", token: base64.StdEncoding.EncodeToString([]byte("AWS:a:b")), exp: now.Add(time.Hour),
			want: providers.Credential{Username: "AWS", Password: "a:b", ExpiresAt: now.Add(time.Hour)}},
		{name: "no expiry", token: token, want: providers.Credential{Username: "AWS", Password: "s3cr3t-password"}},
		{name: "already expired", token: token, exp: now.Add(-time.Minute), wantErr: "clock"},
		{name: "not base64", token: "%%%not-base64", exp: now.Add(time.Hour), wantErr: "not base64"},
		{name: "no colon", token: base64.StdEncoding.EncodeToString([]byte("AWSs3cr3t-password")), exp: now.Add(time.Hour), wantErr: "user:password"},
		{name: "empty password", token: base64.StdEncoding.EncodeToString([]byte("AWS:")), exp: now.Add(time.Hour), wantErr: "user:password"},
		{name: "api error passes through", err: errors.New("boom"), wantErr: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, "")
			p.now = func() time.Time { return now }
			var asked Registry
			p.api = fakeAPI{token: func(_ context.Context, r Registry) (string, time.Time, error) {
				asked = r
				return tt.token, tt.exp, tt.err
			}}
			got, err := p.Fetch(context.Background(), mustImage(t, "123456789012.dkr-ecr-fips.us-east-2.on.aws/team/app"))
			if asked.Region != "us-east-2" || !asked.FIPS || !asked.DualStack || asked.Account != "123456789012" {
				t.Errorf("asked for %+v", asked)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), token) {
					t.Errorf("error leaks the token: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Fetch = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestMatchScope(t *testing.T) {
	p := newTestProvider(t, "")
	scope := func(p *Provider, ref string) providers.Scope {
		t.Helper()
		s, ok := p.Match(mustImage(t, ref))
		if !ok {
			t.Fatalf("Match(%q) = false", ref)
		}
		return s
	}
	a := scope(p, "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app")
	if a.AuthKey != "123456789012.dkr.ecr.us-west-2.amazonaws.com" || a.KeyType != providers.KeyRegistry || a.UnknownExpiryTTL <= 0 {
		t.Errorf("scope = %+v", a)
	}
	// One token per account, region and variant: repositories share it.
	if b := scope(p, "123456789012.dkr.ecr.us-west-2.amazonaws.com/other/thing:tag"); !slices.Equal(a.CacheKey, b.CacheKey) {
		t.Errorf("two repositories of one registry have different cache keys: %q, %q", a.CacheKey, b.CacheKey)
	}
	distinct := [][]string{a.CacheKey}
	for _, ref := range []string{
		"210987654321.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
		"123456789012.dkr.ecr-fips.us-west-2.amazonaws.com/team/app",
		"123456789012.dkr-ecr.us-west-2.on.aws/team/app",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app",
		"public.ecr.aws/team/app",
	} {
		distinct = append(distinct, scope(p, ref).CacheKey)
	}
	withRole := newTestProvider(t, `{"roleARN":"arn:aws:iam::210987654321:role/puller"}`)
	distinct = append(distinct, scope(withRole, "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app").CacheKey)
	t.Setenv("AWS_PROFILE", "other")
	distinct = append(distinct, scope(p, "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app").CacheKey)
	for i := range distinct {
		for j := range i {
			if slices.Equal(distinct[i], distinct[j]) {
				t.Errorf("cache keys %d and %d are equal: %q", i, j, distinct[i])
			}
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		section string
		wantErr string
	}{
		{section: ""},
		{section: `{}`},
		{section: `{"roleARN":"arn:aws:iam::210987654321:role/path/puller"}`},
		{section: `{"roleARN":"arn:aws-cn:iam::210987654321:role/puller","externalID":"abc-123","roleSessionName":"node-a"}`},
		{section: `{"roleArnX":"x"}`, wantErr: "unknown field"},
		{section: `{"roleARN":"arn:aws:iam::21098765432:role/puller"}`, wantErr: "not an IAM role ARN"},
		{section: `{"roleARN":"arn:aws:iam::210987654321:user/bob"}`, wantErr: "not an IAM role ARN"},
		{section: `{"externalID":"abc"}`, wantErr: "need roleARN"},
		{section: `{"roleARN":"arn:aws:iam::210987654321:role/puller","roleSessionName":"has space"}`, wantErr: "roleSessionName"},
		{section: `{"roleARN":"arn:aws:iam::210987654321:role/puller","externalID":"x"}`, wantErr: "externalID"},
		{section: `[]`, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			var raw json.RawMessage
			if tt.section != "" {
				raw = json.RawMessage(tt.section)
			}
			_, err := Factory.New(raw, providers.Env{})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New(%s) = %v, want error %q", tt.section, err, tt.wantErr)
			}
		})
	}
	if !Factory.OnByDefault || Factory.Name != "ecr" {
		t.Errorf("factory = %+v", Factory)
	}
}

// TestREADMEExample decodes the configuration the README shows.
func TestREADMEExample(t *testing.T) {
	example := harness.READMEExample(t, "ecr")
	var cfg struct {
		Providers map[string]json.RawMessage `json:"providers"`
	}
	j, err := yaml.YAMLToJSON([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Factory.New(cfg.Providers["ecr"], providers.Env{}); err != nil || cfg.Providers["ecr"] == nil {
		t.Fatalf("the README's ecr section does not decode: %v", err)
	}
}

func TestBudgets(t *testing.T) {
	for _, tt := range []struct{ timeout, call, step time.Duration }{
		{3 * time.Second, time.Second, 1500 * time.Millisecond},
		{30 * time.Second, 5 * time.Second, 10 * time.Second},
		{55 * time.Second, 5 * time.Second, 10 * time.Second},
		{time.Second, time.Second, time.Second},
		{0, 5 * time.Second, 10 * time.Second},
	} {
		call, step := budgets(tt.timeout)
		if call != tt.call || step != tt.step {
			t.Errorf("budgets(%s) = %s, %s; want %s, %s", tt.timeout, call, step, tt.call, tt.step)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(backoffBase<<(min(attempt, 8)-1), backoffMax)
		for range 50 {
			d, _ := jitterBackoff{}.BackoffDelay(attempt, nil)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
}

// TestRetryerStopsBeforeDeadline: a retry that could not start before the
// deadline is not slept for, and the error is the attempt's own.
func TestRetryerStopsBeforeDeadline(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	trail := &lastAttempt{}
	r := newRetryer(ctx, trail, discardLogger()).(boundedRetryer)
	if !r.IsErrorRetryable(throttled) || trail.get() != throttled {
		t.Fatal("throttling is not retryable, or not noted")
	}
	_, err := r.RetryDelay(4, throttled) // 0.8-1.6 s: past the deadline
	var cut *retriesCut
	if !errors.As(err, &cut) || !errors.Is(err, throttled) {
		t.Fatalf("RetryDelay = %v, want the throttling error, cut short", err)
	}
	if r.IsErrorRetryable(&smithy.DeserializationError{Err: httpx.ErrBodyTooLarge}) {
		t.Error("an oversized answer is retried")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if d, err := newRetryer(ctx2, trail, discardLogger()).RetryDelay(1, throttled); err != nil || d > backoffBase {
		t.Errorf("RetryDelay with time left = %s, %v", d, err)
	}
}

func TestErrorMessages(t *testing.T) {
	private, _ := ParseHost("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com")
	public, _ := ParseHost("public.ecr.aws")
	china, _ := ParseHost("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
	api := func(code, msg string) error {
		return fmt.Errorf("operation error ECR: GetAuthorizationToken, %w", &smithy.GenericAPIError{Code: code, Message: msg})
	}
	denied := api("AccessDeniedException", "User: arn:aws-us-gov:sts::123456789012:assumed-role/node/i-1 is not authorized to perform: ecr:GetAuthorizationToken")
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"denied", apiError(bg, private, "", "", denied), []string{"access denied (AccessDeniedException)", "arn:aws-us-gov:sts::123456789012:assumed-role/node/i-1",
			"arn:aws-us-gov:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "aws iam attach-role-policy"}},
		{"denied, China", apiError(bg, china, "", "", api("AccessDeniedException", "")), []string{"the node's role", "arn:aws-cn:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"}},
		{"denied, role", apiError(bg, private, "", "arn:aws:iam::1:role/x", api("AccessDeniedException", "no principal here")), []string{"role arn:aws:iam::1:role/x may not"}},
		{"denied, public", apiError(bg, public, "", "", api("AccessDeniedException", "")), []string{"ecr-public:GetAuthorizationToken", "sts:GetServiceBearerToken", "AmazonElasticContainerRegistryPublicReadOnly"}},
		{"throttled", apiError(bg, private, "", "", api("ThrottlingException", "Rate exceeded")), []string{"throttled", "ThrottlingException", "retry later"}},
		{"throttled, cut", apiError(bg, private, "", "", &retriesCut{attempts: 3, err: api("TooManyRequestsException", "")}), []string{"throttled", "TooManyRequestsException"}},
		{"clock", apiError(bg, private, "", "", api("InvalidSignatureException", "Signature expired: 20261125T100000Z is now earlier than 20261125T115500Z")), []string{"clock", "time sync"}},
		{"skewed", apiError(bg, private, "", "", api("RequestTimeTooSkewed", "")), []string{"clock"}},
		{"bad signature", apiError(bg, private, "", "", api("InvalidSignatureException", "The request signature we calculated does not match")), []string{"does not accept the node's credentials"}},
		{"expired credentials", apiError(bg, private, "", "", api("ExpiredTokenException", "")), []string{"credentials have expired"}},
		{"unrecognized", apiError(bg, private, "", "", api("UnrecognizedClientException", "")), []string{"does not accept the node's credentials", "UnrecognizedClientException"}},
		{"other code", apiError(bg, private, "", "", api("ServerException", "")), []string{"AWS answered ServerException"}},
		{"timeout", apiError(dead, private, "api.ecr.us-gov-west-1.amazonaws.com", "", context.Canceled), []string{"api.ecr.us-gov-west-1.amazonaws.com did not answer in time"}},
		{"refused", apiError(bg, private, "api.ecr.us-gov-west-1.amazonaws.com", "", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), []string{"cannot reach api.ecr.us-gov-west-1.amazonaws.com (connection refused)"}},
		{"dns", apiError(bg, private, "api.ecr.us-gov-west-1.amazonaws.com", "", &net.DNSError{Err: "no such host", Name: "x"}), []string{"DNS: no such host"}},
		{"decode", apiError(bg, private, "", "", &smithy.DeserializationError{Err: errors.New("AWS:hunter2 garbage")}), []string{"could not be decoded"}},
		{"unknown", apiError(bg, private, "", "", errors.New("AWS:hunter2 mystery")), []string{"run with -v"}},
		{"too large", apiError(bg, private, "api.ecr.us-gov-west-1.amazonaws.com", "", &smithy.DeserializationError{Err: fmt.Errorf("AWS:hunter2 %w", httpx.ErrBodyTooLarge)}),
			[]string{"answer from api.ecr.us-gov-west-1.amazonaws.com was over pullkey's 1048576-byte limit", "AWS_ENDPOINT_URL_"}},
		{"imds too large", noCredentialsError(bg, private, fmt.Errorf("failed to refresh cached credentials, %w", httpx.ErrBodyTooLarge), nil, time.Second),
			[]string{"no AWS credentials", "over pullkey's 1048576-byte limit", "AWS_EC2_METADATA_SERVICE_ENDPOINT"}},
		{"imds timeout", noCredentialsError(dead, private, context.DeadlineExceeded, nil, time.Second), []string{"IMDS) did not answer within 1s", "hop limit", "NO_PROXY"}},
		{"imds refused", noCredentialsError(dead, private, context.DeadlineExceeded, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, time.Second), []string{"IMDS) is unreachable (connection refused)"}},
		{"no role", noCredentialsError(bg, private, errors.New("failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds"), nil, time.Second), []string{"no IAM role"}},
		{"assume denied", assumeRoleError(bg, private, "arn:aws:iam::2:role/y", api("AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/node/i-1 is not authorized"), time.Second),
			[]string{"could not assume role arn:aws:iam::2:role/y (AccessDenied)", "arn:aws:sts::123456789012:assumed-role/node/i-1 may not", "trust policy"}},
		{"assume timeout", assumeRoleError(dead, private, "arn:aws:iam::2:role/y", context.Canceled, 2*time.Second), []string{"STS in us-gov-west-1 did not answer AssumeRole for arn:aws:iam::2:role/y within 2s"}},
		{"assume clock", assumeRoleError(bg, private, "arn:aws:iam::2:role/y", api("SignatureDoesNotMatch", "Signature expired"), time.Second), []string{"could not assume role", "clock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q\ndoes not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "\n") {
				t.Errorf("message leaks SDK error text or spans lines: %q", msg)
			}
		})
	}
}
