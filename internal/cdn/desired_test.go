package cdn

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

func base() Desired {
	return Desired{
		CallerReference: "uid-1234", Comment: "securesite web/duckhoo",
		Aliases: []string{"www.duckhoo.site", "duckhoo.site"}, OriginDomain: "duckhoo-site.s3.ap-northeast-2.amazonaws.com",
		OriginID: "s3-duckhoo-site", OACID: "E2OAC", ACMCertificateARN: "arn:aws:acm:us-east-1:1:certificate/abc",
		DefaultRootObject: "index.html", SPAFallback: true, PriceClass: "PriceClass_100", Enabled: true,
	}
}

func TestDesiredConfig(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Desired)
		check func(*testing.T, *types.DistributionConfig)
	}{
		{"https only with the ACM certificate by SNI", nil, checkHTTPSOnlyWithACMCertificateBySNI},
		{"S3 origin through OAC, no origin access identity", nil, checkS3OriginThroughOAC},
		{"SPA fallback: 403 and 404 become the root object with 200", func(d *Desired) { d.DefaultRootObject = "app.html" }, checkSPAFallbackServesRootObject},
		{"no SPA fallback: no error responses", func(d *Desired) { d.SPAFallback = false }, checkNoErrorResponses},
		{"no certificate yet: default certificate and no aliases", func(d *Desired) { d.ACMCertificateARN = "" }, checkDefaultCertificateNoAliases},
		{"defaults: index.html and PriceClass_All", func(d *Desired) { d.DefaultRootObject, d.PriceClass = "", "" }, checkDefaultRootObjectAndPriceClass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			if tt.edit != nil {
				tt.edit(&d)
			}
			tt.check(t, DesiredConfig(d))
		})
	}
}

func checkHTTPSOnlyWithACMCertificateBySNI(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	b := c.DefaultCacheBehavior
	if b.ViewerProtocolPolicy != types.ViewerProtocolPolicyRedirectToHttps || aws.ToString(b.CachePolicyId) != CachingOptimizedPolicyID || !aws.ToBool(b.Compress) {
		t.Errorf("behaviour = %+v", b)
	}
	v := c.ViewerCertificate
	if aws.ToString(v.ACMCertificateArn) == "" || v.SSLSupportMethod != types.SSLSupportMethodSniOnly || v.MinimumProtocolVersion != types.MinimumProtocolVersionTLSv122021 || aws.ToBool(v.CloudFrontDefaultCertificate) {
		t.Errorf("viewer certificate = %+v", v)
	}
	if c.HttpVersion != types.HttpVersionHttp2and3 || !aws.ToBool(c.IsIPV6Enabled) {
		t.Errorf("http %s ipv6 %v", c.HttpVersion, aws.ToBool(c.IsIPV6Enabled))
	}
	if !slices.Equal(c.Aliases.Items, []string{"duckhoo.site", "www.duckhoo.site"}) || aws.ToInt32(c.Aliases.Quantity) != 2 {
		t.Errorf("aliases = %v", c.Aliases.Items)
	}
}

func checkS3OriginThroughOAC(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	o := c.Origins.Items[0]
	if aws.ToString(o.OriginAccessControlId) != "E2OAC" || o.S3OriginConfig == nil || aws.ToString(o.S3OriginConfig.OriginAccessIdentity) != "" ||
		aws.ToString(o.DomainName) != "duckhoo-site.s3.ap-northeast-2.amazonaws.com" || aws.ToString(c.DefaultCacheBehavior.TargetOriginId) != aws.ToString(o.Id) {
		t.Errorf("origin = %+v", o)
	}
}

func checkSPAFallbackServesRootObject(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	e := c.CustomErrorResponses
	if aws.ToInt32(e.Quantity) != 2 || len(e.Items) != 2 {
		t.Fatalf("error responses = %+v", e)
	}
	for i, code := range []int32{403, 404} {
		r := e.Items[i]
		if aws.ToInt32(r.ErrorCode) != code || aws.ToString(r.ResponsePagePath) != "/app.html" || aws.ToString(r.ResponseCode) != "200" {
			t.Errorf("error response %d = %+v", i, r)
		}
	}
}

func checkNoErrorResponses(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	if aws.ToInt32(c.CustomErrorResponses.Quantity) != 0 {
		t.Errorf("error responses = %+v", c.CustomErrorResponses)
	}
}

func checkDefaultCertificateNoAliases(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	if !aws.ToBool(c.ViewerCertificate.CloudFrontDefaultCertificate) || aws.ToInt32(c.Aliases.Quantity) != 0 || len(c.Aliases.Items) != 0 {
		t.Errorf("viewer certificate %+v aliases %+v", c.ViewerCertificate, c.Aliases)
	}
}

func checkDefaultRootObjectAndPriceClass(t *testing.T, c *types.DistributionConfig) {
	t.Helper()
	if aws.ToString(c.DefaultRootObject) != "index.html" || c.PriceClass != types.PriceClassPriceClassAll {
		t.Errorf("root %q price class %q", aws.ToString(c.DefaultRootObject), c.PriceClass)
	}
}

func TestNeedsUpdate(t *testing.T) {
	for _, tt := range slices.Concat(differencesThatAreNotDrift(), handEditsAndSpecChanges()) {
		t.Run(tt.name, func(t *testing.T) {
			observed := DesiredConfig(base())
			tt.observed(observed)
			needed, diffs := NeedsUpdate(observed, DesiredConfig(base()))
			if needed != (len(tt.want) > 0) || !slices.Equal(diffs, tt.want) {
				t.Errorf("NeedsUpdate = %v %v, want %v", needed, diffs, tt.want)
			}
		})
	}

	t.Run("default certificate: CloudFront's own policy fields ignored", func(t *testing.T) {
		d := base()
		d.ACMCertificateARN = ""
		observed := DesiredConfig(d)
		observed.ViewerCertificate.SSLSupportMethod = types.SSLSupportMethodVip
		if needed, diffs := NeedsUpdate(observed, DesiredConfig(d)); needed {
			t.Errorf("NeedsUpdate = %v", diffs)
		}
	})
	t.Run("nothing observed", func(t *testing.T) {
		if needed, _ := NeedsUpdate(nil, DesiredConfig(base())); !needed {
			t.Error("NeedsUpdate(nil) = false")
		}
	})
}

// needsUpdateCase: observed edits a copy of the desired config; want lists the fields that drifted.
type needsUpdateCase struct {
	name     string
	observed func(*types.DistributionConfig)
	want     []string
}

// differencesThatAreNotDrift: what CloudFront reports differently from what was sent without anyone
// changing the distribution, and the fields SecureSite does not manage.
func differencesThatAreNotDrift() []needsUpdateCase {
	return []needsUpdateCase{
		{"identical", func(*types.DistributionConfig) {}, nil},
		{"caller reference is immutable and ignored", func(c *types.DistributionConfig) { c.CallerReference = aws.String("other") }, nil},
		{"nil and empty lists are equal", func(c *types.DistributionConfig) {
			c.CacheBehaviors, c.DefaultCacheBehavior.FunctionAssociations = nil, &types.FunctionAssociations{Quantity: aws.Int32(0)}
		}, nil},
		{"no geo restriction reported is the same as none", func(c *types.DistributionConfig) {
			c.Restrictions, c.WebACLId = nil, nil
		}, nil},
		{"AWS defaults and unmanaged fields are ignored", func(c *types.DistributionConfig) {
			c.Origins.Items[0].ConnectionAttempts = aws.Int32(3)
			c.Logging = &types.LoggingConfig{Enabled: aws.Bool(true), Bucket: aws.String("logs.s3.amazonaws.com")}
			c.WebACLId = aws.String("arn:aws:wafv2:us-east-1:1:global/webacl/x")
			c.DefaultCacheBehavior.MinTTL = aws.Int64(0) //nolint:staticcheck // AWS still returns the deprecated MinTTL; it must not look like drift
		}, nil},
		{"aliases in another order", func(c *types.DistributionConfig) { slices.Reverse(c.Aliases.Items) }, nil},
	}
}

// handEditsAndSpecChanges: hand edits and spec changes NeedsUpdate must see, each named by the fields it reports.
func handEditsAndSpecChanges() []needsUpdateCase {
	return []needsUpdateCase{
		// spaFallback turned on for an existing distribution: AWS reports no error responses,
		// which must be drift (it was once skipped, so the fallback was never applied).
		{"spaFallback turned on for an existing distribution", func(c *types.DistributionConfig) {
			c.CustomErrorResponses = &types.CustomErrorResponses{Quantity: aws.Int32(0)}
		}, []string{"CustomErrorResponses"}},
		{"error responses removed by hand", func(c *types.DistributionConfig) {
			c.CustomErrorResponses = nil
		}, []string{"CustomErrorResponses"}},
		{"an error response edited by hand", func(c *types.DistributionConfig) {
			c.CustomErrorResponses.Items[0].ResponseCode = aws.String("404")
		}, []string{"CustomErrorResponses"}},
		{"geo restriction added by hand", func(c *types.DistributionConfig) {
			c.Restrictions = &types.Restrictions{GeoRestriction: &types.GeoRestriction{
				RestrictionType: types.GeoRestrictionTypeBlacklist, Quantity: aws.Int32(1), Items: []string{"KP"},
			}}
		}, []string{"Restrictions"}},
		{"viewer protocol policy edited by hand", func(c *types.DistributionConfig) {
			c.DefaultCacheBehavior.ViewerProtocolPolicy = types.ViewerProtocolPolicyAllowAll
		}, []string{"DefaultCacheBehavior.ViewerProtocolPolicy"}},
		{"origin moved to a new bucket", func(c *types.DistributionConfig) {
			c.Origins.Items[0].DomainName = aws.String("old.s3.us-east-1.amazonaws.com")
		}, []string{"Origins"}},
		{"certificate replaced", func(c *types.DistributionConfig) {
			c.ViewerCertificate.ACMCertificateArn = aws.String("arn:aws:acm:us-east-1:1:certificate/old")
		}, []string{"ViewerCertificate"}},
		{"error responses reported and different", func(c *types.DistributionConfig) {
			c.CustomErrorResponses.Items[0].ResponsePagePath = aws.String("/error.html")
		}, []string{"CustomErrorResponses"}},
		{"geo restriction set inside the existing restrictions", func(c *types.DistributionConfig) {
			c.Restrictions.GeoRestriction = &types.GeoRestriction{RestrictionType: types.GeoRestrictionTypeBlacklist, Quantity: aws.Int32(1), Items: []string{"XX"}}
		}, []string{"Restrictions"}},
		{"disabled, alias removed and an extra behaviour", func(c *types.DistributionConfig) {
			c.Enabled = aws.Bool(false)
			c.Aliases.Items = c.Aliases.Items[:1]
			c.CacheBehaviors = &types.CacheBehaviors{Quantity: aws.Int32(1), Items: []types.CacheBehavior{{PathPattern: aws.String("/api/*")}}}
		}, []string{"Enabled", "Aliases", "CacheBehaviors"}},
	}
}

func TestUpdateConfigKeepsUnmanagedFields(t *testing.T) {
	observed := DesiredConfig(base())
	observed.CallerReference = aws.String("original")
	observed.WebACLId = aws.String("waf")
	observed.Logging = &types.LoggingConfig{Enabled: aws.Bool(true)}
	observed.DefaultCacheBehavior.ViewerProtocolPolicy = types.ViewerProtocolPolicyAllowAll
	got := UpdateConfig(observed, DesiredConfig(base()))
	if aws.ToString(got.CallerReference) != "original" || aws.ToString(got.WebACLId) != "waf" || !aws.ToBool(got.Logging.Enabled) {
		t.Errorf("unmanaged fields lost: %+v", got)
	}
	if got.DefaultCacheBehavior.ViewerProtocolPolicy != types.ViewerProtocolPolicyRedirectToHttps {
		t.Errorf("managed field not restored")
	}
}

func TestAlreadyExistsIDFromAWSMessage(t *testing.T) {
	tests := map[string]string{
		"The caller reference that you are using to create a distribution is associated with another distribution. Already exists: E1SXXXXXXXXXX": "E1SXXXXXXXXXX",
		"A distribution with caller reference uid-1 already exists":                                                                               "", // no id in the message: we list
	}
	for msg, want := range tests {
		got := ""
		if m := alreadyExistsID.FindStringSubmatch(msg); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%q → %q, want %q", msg, got, want)
		}
	}
}

func TestCommentFitsCloudFrontLimit(t *testing.T) {
	long := strings.Repeat("n", 253)
	tests := []struct {
		ns, name string
		want     string // "" means: only the limits are checked
	}{
		{"web", "duckhoo", "SecureSite web/duckhoo"},
		{strings.Repeat("a", 63), strings.Repeat("b", 53), "SecureSite " + strings.Repeat("a", 63) + "/" + strings.Repeat("b", 53)}, // exactly 128
		{strings.Repeat("a", 63), strings.Repeat("b", 54), ""},
		{strings.Repeat("a", 63), long, ""},
		{"x", long, ""},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		got := Comment(tc.ns, tc.name)
		if len(got) > 128 {
			t.Errorf("Comment(%d-char ns, %d-char name) is %d characters, CloudFront allows 128", len(tc.ns), len(tc.name), len(got))
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("Comment(%q, %q) = %q, want %q", tc.ns, tc.name, got, tc.want)
		}
		if !strings.HasPrefix(got, "SecureSite ") || seen[got] {
			t.Errorf("Comment %q: not a SecureSite comment, or not unique", got)
		}
		seen[got] = true
	}
}
