package providers

import (
	"errors"
	"regexp"
	"sync"

	sigsjson "sigs.k8s.io/json"
)

// DecodeStrict decodes JSON into v the way every configuration section and
// request must be decoded: field names match case-sensitively (encoding/json
// alone would take "rolearn" for "roleARN"), and an unknown or duplicated
// field is an error that names it.
func DecodeStrict(data []byte, v any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// LazyRegexp compiles a pattern on first use. Package-level regexps are
// compiled at start-up, which every invocation (cache hits included) pays
// for; counted repetitions such as {1,512} make that cost milliseconds.
func LazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
