// Package naming holds the naming rules that need no AWS call: S3 bucket names, the default
// bucket and Secret names, and the ownership strings the controller writes into AWS.
//
// The bucket rules mirror the CRD's CEL validation (api/v1alpha1), so the controller can refuse a
// name the API server could not judge (an object stored before the rules existed), and so the rules
// have table tests that need no cluster. The test suite checks that both give the same messages.
package naming

import (
	"regexp"
	"strings"
)

// The messages are shared word for word with the CRD's x-kubernetes-validations.
const (
	MsgBucketLength   = "bucket name must be between 3 and 63 characters long"
	MsgBucketDots     = "bucket name must not contain dots: S3 serves buckets over HTTPS as <bucket>.s3.amazonaws.com, and the *.s3.amazonaws.com wildcard certificate does not cover names with dots, so HTTPS to the bucket breaks; use hyphens instead (e.g. test-duckhoo-site)"
	MsgBucketCharset  = "bucket name may contain only lowercase letters, digits and hyphens"
	MsgBucketEnds     = "bucket name must start and end with a lowercase letter or digit"
	MsgBucketIP       = "bucket name must not be formatted as an IP address"
	MsgBucketPrefix   = "bucket name must not start with the reserved prefixes xn--, sthree- or amzn-s3-demo-"
	MsgBucketSuffix   = "bucket name must not end with the reserved suffixes -s3alias, --ol-s3, --x-s3 or --table-s3"
	bucketMinLength   = 3
	bucketMaxLength   = 63
	defaultBucketBase = "site"
)

var (
	bucketCharset  = regexp.MustCompile(`^[a-z0-9.-]*$`)
	bucketEnds     = regexp.MustCompile(`^[a-z0-9].*[a-z0-9]$`)
	bucketIPShaped = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)

	reservedPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedSuffixes = []string{"-s3alias", "--ol-s3", "--x-s3", "--table-s3"}
)

// BucketNameProblems returns every rule the name breaks, in the order the CRD checks them; an
// empty result means the name is valid for a bucket served over HTTPS.
func BucketNameProblems(name string) []string {
	var problems []string
	if len(name) < bucketMinLength || len(name) > bucketMaxLength {
		problems = append(problems, MsgBucketLength)
	}
	if strings.Contains(name, ".") {
		problems = append(problems, MsgBucketDots)
	}
	if !bucketCharset.MatchString(name) {
		problems = append(problems, MsgBucketCharset)
	}
	if !bucketEnds.MatchString(name) {
		problems = append(problems, MsgBucketEnds)
	}
	if bucketIPShaped.MatchString(name) {
		problems = append(problems, MsgBucketIP)
	}
	if hasAnyPrefix(name, reservedPrefixes) {
		problems = append(problems, MsgBucketPrefix)
	}
	if hasAnySuffix(name, reservedSuffixes) {
		problems = append(problems, MsgBucketSuffix)
	}
	return problems
}

// DefaultBucketName derives a valid bucket name from a domain: lowercase, every character that is
// not a letter or digit becomes a hyphen (dots above all, see MsgBucketDots), runs of hyphens
// collapse, reserved prefixes and suffixes are avoided and the result is trimmed to 63 characters.
// duckhoo.site → duckhoo-site.
func DefaultBucketName(domain string) string {
	var b strings.Builder
	lastHyphen := true // drops leading hyphens
	for _, r := range strings.ToLower(domain) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastHyphen = false
		case !lastHyphen:
			b.WriteByte('-')
			lastHyphen = true
		}
	}
	name := b.String()
	// Collapsing hyphens already turns a punycode "xn--" into "xn-"; other reserved prefixes go.
	for hasAnyPrefix(name, reservedPrefixes) {
		name = strings.TrimPrefix(name, strings.SplitN(name, "-", 2)[0])
		name = strings.TrimLeft(name, "-")
	}
	if len(name) > bucketMaxLength {
		name = name[:bucketMaxLength]
	}
	name = strings.Trim(name, "-")
	for hasAnySuffix(name, reservedSuffixes) {
		name = strings.TrimRight(name[:strings.LastIndex(name, "-")], "-")
	}
	for len(name) < bucketMinLength {
		if name == "" {
			name = defaultBucketBase
		} else {
			name += "-" + defaultBucketBase
		}
	}
	return name
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, p := range suffixes {
		if strings.HasSuffix(s, p) {
			return true
		}
	}
	return false
}
