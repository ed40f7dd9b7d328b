package naming

import (
	"slices"
	"strings"
	"testing"
)

func TestBucketNameProblems(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"duckhoo-site", nil},
		{"abc", nil},
		{"a1b2c3", nil},
		{strings.Repeat("a", 63), nil},
		{"my-bucket-2026", nil},
		{"test.duckhoo.site", []string{MsgBucketDots}},
		{"Duckhoo-Site", []string{MsgBucketCharset, MsgBucketEnds}},
		{"192.168.5.4", []string{MsgBucketDots, MsgBucketIP}},
		{"xn--bucket", []string{MsgBucketPrefix}},
		{"sthree-bucket", []string{MsgBucketPrefix}},
		{"amzn-s3-demo-bucket", []string{MsgBucketPrefix}},
		{"bucket-s3alias", []string{MsgBucketSuffix}},
		{"bucket--ol-s3", []string{MsgBucketSuffix}},
		{"bucket--x-s3", []string{MsgBucketSuffix}},
		{"bucket--table-s3", []string{MsgBucketSuffix}},
		{"ab", []string{MsgBucketLength}},
		{"", []string{MsgBucketLength, MsgBucketEnds}},
		{strings.Repeat("a", 64), []string{MsgBucketLength}},
		{"-bucket", []string{MsgBucketEnds}},
		{"bucket-", []string{MsgBucketEnds}},
		{"my_bucket", []string{MsgBucketCharset}},
		{"버킷-bucket", []string{MsgBucketCharset, MsgBucketEnds}},
		{"a..b", []string{MsgBucketDots}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BucketNameProblems(tt.name)
			if !slices.Equal(got, tt.want) {
				t.Errorf("BucketNameProblems(%q) =\n  %q\nwant\n  %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestDefaultBucketName(t *testing.T) {
	tests := []struct{ domain, want string }{
		{"duckhoo.site", "duckhoo-site"},
		{"test.duckhoo.site", "test-duckhoo-site"},
		{"WWW.Example.COM", "www-example-com"},
		{"xn--9n2bp8q.com", "xn-9n2bp8q-com"},
		{"a.b", "a-b"},
		{"a", "a-site"},
		{"", "site"},
		{"sthree-x.example.com", "x-example-com"},
		{strings.Repeat("a", 60) + ".example.com", strings.Repeat("a", 60) + "-ex"},
		{strings.Repeat("a", 62) + ".example.com", strings.Repeat("a", 62)},
		{"shop-s3alias", "shop"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			got := DefaultBucketName(tt.domain)
			if got != tt.want {
				t.Errorf("DefaultBucketName(%q) = %q, want %q", tt.domain, got, tt.want)
			}
			if p := BucketNameProblems(got); len(p) > 0 {
				t.Errorf("DefaultBucketName(%q) = %q is not a valid bucket: %q", tt.domain, got, p)
			}
		})
	}
}

// FuzzDefaultBucketName checks that every domain maps to a name the bucket rules accept.
func FuzzDefaultBucketName(f *testing.F) {
	for _, s := range []string{"duckhoo.site", "xn--a.b", "-.-", "a--s3alias"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, domain string) {
		if p := BucketNameProblems(DefaultBucketName(domain)); len(p) > 0 {
			t.Fatalf("DefaultBucketName(%q) = %q: %q", domain, DefaultBucketName(domain), p)
		}
	})
}
