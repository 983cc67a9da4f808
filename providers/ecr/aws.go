package ecr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// Retry policy for every AWS call (IMDS, STS, ECR): a few attempts with
// jittered exponential backoff, never sleeping past the invocation's
// deadline.
const (
	maxAttempts = 5
	backoffBase = 200 * time.Millisecond
	backoffMax  = 2 * time.Second
	// minAttemptTime is the least time worth starting another attempt with.
	minAttemptTime = 100 * time.Millisecond
)

// budgets sizes the per-call deadlines from the invocation's timeout: one
// HTTP round trip, and the whole credentials step (IMDS, or a web identity
// exchange, and AssumeRole). The API call gets whatever time is left.
func budgets(timeout time.Duration) (call, step time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return min(max(timeout/4, time.Second), 5*time.Second), min(max(timeout/2, time.Second), 10*time.Second)
}

// sdkAPI is tokenAPI on aws-sdk-go-v2. Its configuration is loaded at each
// Fetch, never when the provider is built, so a cache hit costs nothing.
type sdkAPI struct {
	cfg     Config
	timeout time.Duration
	log     *slog.Logger
}

func (a *sdkAPI) authorizationToken(ctx context.Context, r Registry) (string, time.Time, error) {
	callTimeout, stepTimeout := budgets(a.timeout)
	trail := &lastAttempt{}
	awsCfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(r.Region),
		// The SDK's buildable client honours HTTPS_PROXY/NO_PROXY and
		// SSL_CERT_FILE; the IMDS client shortens its dial and header
		// timeouts further on this same client type.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(callTimeout)),
		// Every client built from this configuration, the IMDS client of
		// the default credential chain included, reads bounded bodies.
		config.WithAPIOptions([]func(*middleware.Stack) error{boundBodies}),
		config.WithRetryer(func() aws.Retryer { return newRetryer(ctx, trail, a.log) }),
		config.WithLogger(sdkLogger(a.log)),
		config.WithClientLogMode(logMode(ctx, a.log)),
	)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("load the AWS configuration (environment, ~/.aws/config): %w; fix or remove the setting it names", err)
	}
	if err := a.credentials(ctx, &awsCfg, r, stepTimeout, trail); err != nil {
		return "", time.Time{}, err
	}
	var token string
	var expiresAt time.Time
	var host string // the API host the SDK resolved, for messages
	awsCfg.APIOptions = append(awsCfg.APIOptions, recordHost(&host))
	if r.Public {
		token, expiresAt, err = publicToken(ctx, awsCfg, r)
	} else {
		token, expiresAt, err = privateToken(ctx, awsCfg, r)
	}
	if err != nil {
		a.log.Debug("GetAuthorizationToken failed", "api", apiName(r), "host", host, "error", err)
		return "", time.Time{}, apiError(ctx, r, host, a.cfg.RoleARN, err)
	}
	return token, expiresAt, nil
}

// credentials resolves the node's identity, then assumes the configured
// role, each inside stepTimeout, so that a dead IMDS is reported as what it
// is rather than as a failed ECR call.
func (a *sdkAPI) credentials(ctx context.Context, awsCfg *aws.Config, r Registry, stepTimeout time.Duration, trail *lastAttempt) error {
	if awsCfg.Credentials == nil {
		return noCredentialsError(ctx, r, errors.New("no credential provider configured"), nil, stepTimeout)
	}
	stepCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := awsCfg.Credentials.Retrieve(stepCtx); err != nil {
		a.log.Debug("the default credential chain failed", "error", err)
		return noCredentialsError(stepCtx, r, err, trail.get(), stepTimeout)
	}
	if a.cfg.RoleARN == "" {
		return nil
	}
	stsClient := sts.NewFromConfig(*awsCfg, func(o *sts.Options) {
		setVariant(o.BaseEndpoint, &o.EndpointOptions.UseFIPSEndpoint, &o.EndpointOptions.UseDualStackEndpoint, r)
	})
	awsCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, a.cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = a.cfg.RoleSessionName
		if a.cfg.ExternalID != "" {
			o.ExternalID = aws.String(a.cfg.ExternalID)
		}
	}))
	roleCtx, cancelRole := context.WithTimeout(ctx, stepTimeout)
	defer cancelRole()
	if _, err := awsCfg.Credentials.Retrieve(roleCtx); err != nil {
		a.log.Debug("AssumeRole failed", "role", a.cfg.RoleARN, "error", err)
		return assumeRoleError(roleCtx, r, a.cfg.RoleARN, err, stepTimeout)
	}
	return nil
}

func privateToken(ctx context.Context, awsCfg aws.Config, r Registry) (string, time.Time, error) {
	client := ecr.NewFromConfig(awsCfg, func(o *ecr.Options) {
		setVariant(o.BaseEndpoint, &o.EndpointOptions.UseFIPSEndpoint, &o.EndpointOptions.UseDualStackEndpoint, r)
	})
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", time.Time{}, err
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return "", time.Time{}, errNoToken
	}
	d := out.AuthorizationData[0]
	return *d.AuthorizationToken, aws.ToTime(d.ExpiresAt), nil
}

func publicToken(ctx context.Context, awsCfg aws.Config, r Registry) (string, time.Time, error) {
	client := ecrpublic.NewFromConfig(awsCfg, func(o *ecrpublic.Options) {
		setVariant(o.BaseEndpoint, &o.EndpointOptions.UseFIPSEndpoint, &o.EndpointOptions.UseDualStackEndpoint, r)
	})
	out, err := client.GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
	if err != nil {
		return "", time.Time{}, err
	}
	if out.AuthorizationData == nil || out.AuthorizationData.AuthorizationToken == nil {
		return "", time.Time{}, errNoToken
	}
	return *out.AuthorizationData.AuthorizationToken, aws.ToTime(out.AuthorizationData.ExpiresAt), nil
}

// recordHost notes the host each request of a client is sent to.
func recordHost(dst *string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("pullkeyRecordHost",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					*dst = req.URL.Host
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}

// maxSDKBody bounds every response body the SDK reads; ECR's, STS's and
// IMDS's answers are a few KiB.
const maxSDKBody = httpx.MaxBody

// boundBodies is an SDK API option capping every response body at
// maxSDKBody, as httpx.BoundBodies does for pullkey's own clients. It sits
// in the deserialize step next to the transport, below the operation's
// deserializer that reads the body. (A middleware rather than a wrapped
// http.Client: the IMDS client shortens its dial and header timeouts only
// on the SDK's own *awshttp.BuildableClient.)
func boundBodies(s *middleware.Stack) error {
	return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("pullkeyBoundBodies",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
				resp.Body = httpx.BoundBody(resp.Body, maxSDKBody)
			}
			return out, md, err
		}), middleware.After)
}

var errNoToken = errors.New("the response carries no authorization token")

// setVariant turns on the FIPS and dual-stack endpoint variants a registry
// host asks for, on top of whatever the node's AWS configuration already
// enables, and lets the SDK's resolver pick the host. An explicit endpoint
// (AWS_ENDPOINT_URL_ECR, ...) wins: the SDK refuses variants with one.
func setVariant(base *string, fips *aws.FIPSEndpointState, dual *aws.DualStackEndpointState, r Registry) {
	if base != nil {
		return
	}
	if r.FIPS {
		*fips = aws.FIPSEndpointStateEnabled
	}
	if r.DualStack {
		*dual = aws.DualStackEndpointStateEnabled
	}
}

// boundedRetryer is the SDK's standard retryer that gives up, returning the
// last error itself, when the next attempt could not start before ctx's
// deadline: the error then still says "throttled", not "canceled". It also
// notes each failed attempt's error, so that a call cut short by its
// deadline can still say why its attempts failed (connection refused, say).
type boundedRetryer struct {
	aws.RetryerV2
	ctx   context.Context
	trail *lastAttempt
	log   *slog.Logger
}

func newRetryer(ctx context.Context, trail *lastAttempt, log *slog.Logger) aws.Retryer {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = backoffMax
		o.Backoff = jitterBackoff{}
	})
	return boundedRetryer{RetryerV2: std, ctx: ctx, trail: trail, log: log}
}

// IsErrorRetryable implements aws.Retryer.
func (b boundedRetryer) IsErrorRetryable(err error) bool {
	b.trail.set(err)
	// An oversized answer comes back the same on another try.
	retryable := !errors.Is(err, httpx.ErrBodyTooLarge) && b.RetryerV2.IsErrorRetryable(err)
	b.log.Debug("AWS call attempt failed", "retryable", retryable, "error", err)
	return retryable
}

// lastAttempt holds the error of the latest failed attempt of any call.
type lastAttempt struct {
	mu  sync.Mutex
	err error
}

func (l *lastAttempt) set(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *lastAttempt) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// RetryDelay implements aws.Retryer.
func (b boundedRetryer) RetryDelay(attempt int, cause error) (time.Duration, error) {
	d, err := b.RetryerV2.RetryDelay(attempt, cause)
	if err != nil {
		return 0, err
	}
	if dl, ok := b.ctx.Deadline(); ok && time.Until(dl) < d+minAttemptTime {
		return 0, &retriesCut{attempts: attempt, err: cause}
	}
	return d, nil
}

// retriesCut is the last error of a retried call that ran out of time.
type retriesCut struct {
	attempts int
	err      error
}

func (e *retriesCut) Error() string { return fmt.Sprintf("after %d attempts: %v", e.attempts, e.err) }
func (e *retriesCut) Unwrap() error { return e.err }

// jitterBackoff is exponential backoff with "equal jitter": between half
// and all of base·2^(attempt-1), capped at backoffMax.
type jitterBackoff struct{}

// BackoffDelay implements retry.BackoffDelayer.
func (jitterBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := backoffMax
	if attempt >= 1 && attempt < 8 {
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	return d/2 + rand.N(d/2+1), nil
}

// sdkLogger sends the SDK's own log lines (warnings it prints by default)
// to pullkey's logger at debug level, so stderr stays one line on failure.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...), "source", "aws-sdk", "class", string(c))
	})
}

// logMode makes the SDK report each retry when pullkey logs at debug level
// (-v). Request and response bodies are never logged: they carry tokens.
func logMode(ctx context.Context, log *slog.Logger) aws.ClientLogMode {
	if log.Enabled(ctx, slog.LevelDebug) {
		return aws.LogRetries
	}
	return 0
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
