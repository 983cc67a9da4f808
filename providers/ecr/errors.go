package ecr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// Every error pullkey prints for ECR names the cause and says what to do.
// None wraps a response body or a credential: AWS errors contribute their
// error code, and at most the principal ARN an AccessDenied message names.

// kind is what went wrong with one AWS call.
type kind int

const (
	kindOther kind = iota
	kindTimeout
	kindUnreachable
	kindThrottled
	kindDenied
	kindClock
	kindExpiredCredentials
	kindBadCredentials
	kindNoRole
	kindDecode
	kindTooLarge
)

var (
	throttleCodes = map[string]bool{
		"ThrottlingException": true, "Throttling": true, "ThrottledException": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "RequestThrottled": true, "RequestThrottledException": true, "SlowDown": true,
	}
	deniedCodes = map[string]bool{
		"AccessDeniedException": true, "AccessDenied": true, "UnauthorizedOperation": true, "UnauthorizedException": true,
	}
	clockCodes      = map[string]bool{"RequestExpired": true, "RequestTimeTooSkewed": true, "RequestInTheFuture": true}
	signatureCodes  = map[string]bool{"InvalidSignatureException": true, "SignatureDoesNotMatch": true, "AuthFailure": true}
	badCredentials  = map[string]bool{"UnrecognizedClientException": true, "InvalidClientTokenId": true, "InvalidAccessKeyId": true, "IncompleteSignature": true, "MissingAuthenticationToken": true}
	principalInText = providers.LazyRegexp(`arn:aws[a-z-]*:(?:sts|iam)::\d{12}:[A-Za-z0-9+=,.@_/-]{1,256}`)
)

// classify sorts an SDK error. detail is safe to print: an error code, a
// host, a principal ARN.
func classify(ctx context.Context, err error) (k kind, code, principal string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		msg := ae.ErrorMessage()
		principal = principalInText().FindString(msg)
		lower := strings.ToLower(msg)
		switch {
		case throttleCodes[code] || httpStatus(err) == 429:
			return kindThrottled, code, principal
		case deniedCodes[code]:
			return kindDenied, code, principal
		case clockCodes[code] || signatureCodes[code] && (strings.Contains(lower, "expired") || strings.Contains(lower, "skew") || strings.Contains(lower, "future")):
			return kindClock, code, principal
		case code == "ExpiredTokenException" || code == "ExpiredToken":
			return kindExpiredCredentials, code, principal
		case badCredentials[code] || signatureCodes[code]:
			return kindBadCredentials, code, principal
		}
		return kindOther, code, principal
	}
	var de *smithy.DeserializationError
	switch {
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return kindTooLarge, "", ""
	case errors.As(err, &de):
		return kindDecode, "", ""
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || isNetTimeout(err):
		return kindTimeout, "", ""
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || isDNSError(err):
		return kindUnreachable, "", ""
	case httpStatus(err) == 404:
		return kindNoRole, "", ""
	}
	return kindOther, "", ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

// noCredentialsError explains a failed default credential chain.
// last, if not nil, is the latest failed attempt's own error: when the step
// ran out of time it tells a refused connection from a silent one.
func noCredentialsError(ctx context.Context, r Registry, err, last error, step time.Duration) error {
	k, code, _ := classify(ctx, err)
	if k == kindTimeout && last != nil {
		if lk, _, _ := classify(context.Background(), last); lk == kindUnreachable {
			k, err = lk, last
		}
	}
	var cause string
	switch {
	case k == kindTimeout:
		cause = fmt.Sprintf("the instance metadata service (IMDS) did not answer within %s", step)
	case k == kindUnreachable:
		cause = "the instance metadata service (IMDS) is unreachable (" + netCause(err) + ")"
	case k == kindTooLarge:
		cause = fmt.Sprintf("the credential source's answer was over pullkey's %d-byte limit (is AWS_EC2_METADATA_SERVICE_ENDPOINT or a proxy pointing at something other than IMDS?)", maxSDKBody)
	case strings.Contains(err.Error(), "access disabled"):
		cause = "IMDS is disabled (AWS_EC2_METADATA_DISABLED)"
	case k == kindNoRole || strings.Contains(err.Error(), "no EC2 IMDS role found"):
		cause = "the instance has no IAM role (instance profile)"
	case code != "":
		cause = "the credential source answered " + code
	default:
		cause = "the default chain (environment, profile, web identity, container, IMDS) found none"
	}
	return fmt.Errorf("no AWS credentials on this node: %s; attach an IAM role with %s to the instance, "+
		"and if kubelet runs in a container set the IMDS hop limit to 2 (aws ec2 modify-instance-metadata-options --instance-id ID --http-put-response-hop-limit 2); "+
		"never send 169.254.169.254 through a proxy (add it to NO_PROXY)", cause, policyName(r))
}

// assumeRoleError explains a failed AssumeRole of the configured roleARN.
func assumeRoleError(ctx context.Context, r Registry, roleARN string, err error, step time.Duration) error {
	k, code, principal := classify(ctx, err)
	switch k {
	case kindDenied:
		who := "the node's role"
		if principal != "" {
			who = principal
		}
		return fmt.Errorf("could not assume role %s (%s): %s may not; allow sts:AssumeRole on it in the node role's policy, "+
			"and name the node role as a principal in its trust policy (and set externalID if the trust policy requires one)", roleARN, code, who)
	case kindTimeout:
		return fmt.Errorf("STS in %s did not answer AssumeRole for %s within %s; check the node reaches it (security groups, a VPC endpoint for STS, HTTPS_PROXY/NO_PROXY)",
			r.Region, roleARN, step)
	}
	return fmt.Errorf("could not assume role %s: %s", roleARN, commonCause(k, code, err, "STS in "+r.Region))
}

// apiError explains a failed GetAuthorizationToken.
func apiError(ctx context.Context, r Registry, host, roleARN string, err error) error {
	k, code, principal := classify(ctx, err)
	switch k {
	case kindDenied:
		who := "the node's role"
		if roleARN != "" {
			who = "role " + roleARN
		}
		if principal != "" {
			who = principal
		}
		if r.Public {
			return fmt.Errorf("access denied (%s): %s may not call ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken; "+
				"attach the managed policy AmazonElasticContainerRegistryPublicReadOnly to it "+
				"(aws iam attach-role-policy --role-name ROLE --policy-arn arn:aws:iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly)", code, who)
		}
		return fmt.Errorf("access denied (%s): %s may not call ecr:GetAuthorizationToken; attach the managed policy %s to it "+
			"(aws iam attach-role-policy --role-name ROLE --policy-arn arn:%s:iam::aws:policy/%s), "+
			"and for a registry in another account allow it in that repository's policy", code, who, policyName(r), r.partitionName(), policyName(r))
	case kindThrottled:
		return fmt.Errorf("%s throttled GetAuthorizationToken (%s) on every attempt pullkey had time for; the limit is per account and region and shared by all nodes: "+
			"retry later (pullkey caches each token for its 12-hour life), or ask AWS Support to raise the GetAuthorizationToken quota", apiName(r), code)
	case kindTimeout:
		if host == "" {
			host = "the " + apiName(r) + " API"
		}
		return fmt.Errorf("%s did not answer in time; check the node reaches it (security groups, DNS, a VPC endpoint for ECR, HTTPS_PROXY/NO_PROXY), or raise --timeout", host)
	}
	if host == "" {
		host = apiName(r)
	}
	return fmt.Errorf("%s GetAuthorizationToken: %s", apiName(r), commonCause(k, code, err, host))
}

// commonCause words the kinds every AWS call shares.
func commonCause(k kind, code string, err error, host string) string {
	switch k {
	case kindClock:
		return fmt.Sprintf("AWS rejected the request as signed at the wrong time (%s): the node's clock is off; fix time sync (chrony or systemd-timesyncd)", code)
	case kindExpiredCredentials:
		return fmt.Sprintf("the node's AWS credentials have expired (%s): the clock may be off, or static credentials in the environment or ~/.aws are stale", code)
	case kindBadCredentials:
		return fmt.Sprintf("AWS does not accept the node's credentials (%s): they are invalid, revoked, or from another partition; check AWS_* variables and ~/.aws on the node", code)
	case kindUnreachable:
		return fmt.Sprintf("cannot reach %s (%s); check DNS, routes, security groups and HTTPS_PROXY/NO_PROXY", host, netCause(err))
	case kindTooLarge:
		return fmt.Sprintf("the answer from %s was over pullkey's %d-byte limit on a response body; is an AWS_ENDPOINT_URL_* variable or a proxy pointing at something other than AWS?", host, maxSDKBody)
	case kindDecode:
		return "the response could not be decoded; is an AWS_ENDPOINT_URL_* variable pointing at something other than AWS?"
	case kindThrottled:
		return fmt.Sprintf("throttled (%s) on every attempt; retry later", code)
	case kindTimeout:
		return "no answer in time; check the network path to AWS, or raise --timeout"
	}
	if code != "" {
		return fmt.Sprintf("AWS answered %s (HTTP %d)", code, httpStatus(err))
	}
	if st := httpStatus(err); st != 0 {
		return fmt.Sprintf("HTTP %d", st)
	}
	if errors.Is(err, errNoToken) {
		return err.Error()
	}
	return "unexpected failure (run with -v for the SDK's error)"
}

// netCause is a short, secret-free description of a network failure.
func netCause(err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de):
		return "DNS: " + de.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	}
	return "network unreachable"
}

// policyName is the managed policy that lets a role pull from r.
func policyName(r Registry) string {
	if r.Public {
		return "AmazonElasticContainerRegistryPublicReadOnly"
	}
	return "AmazonEC2ContainerRegistryReadOnly"
}
