// Package cdn keeps the static site's CloudFront distribution: an S3 origin behind Origin
// Access Control, the ACM certificate, HTTPS only, and SPA error responses. The desired
// configuration is a pure value (DesiredConfig); NeedsUpdate diffs it against what CloudFront
// returns, and the client writes only when they differ.
package cdn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// CachingOptimizedPolicyID is AWS's managed CachingOptimized cache policy: long TTLs, gzip and
// brotli cache keys, no cookies or query strings — right for hashed static assets.
const CachingOptimizedPolicyID = "658327ea-f89d-4fab-a63d-7e88639e58f6"

// Desired is what the SecureSite asks of its distribution.
type Desired struct {
	// CallerReference is derived from the SecureSite UID, so a retried create cannot make a
	// second distribution.
	CallerReference string
	Comment         string
	Aliases         []string
	// OriginDomain is the bucket's regional domain name; OriginID names the origin.
	OriginDomain string
	OriginID     string
	OACID        string
	// ACMCertificateARN "" means CloudFront's default *.cloudfront.net certificate, which
	// cannot serve aliases, so Aliases are then left out.
	ACMCertificateARN string
	DefaultRootObject string
	SPAFallback       bool
	PriceClass        string
	Enabled           bool
	Tags              map[string]string
}

// DefaultRootObject is served for / when the spec names no index document (the CRD's default
// for staticSite.indexDocument; a test checks they agree).
const DefaultRootObject = "index.html"

// maxCommentLength is CloudFront's limit on a distribution's Comment.
const maxCommentLength = 128

// Comment is the distribution's comment for a SecureSite: "SecureSite <namespace>/<name>", which
// a namespace (63) and a name (253) can push past CloudFront's 128 characters; a longer one keeps
// its start and ends in a hash of the whole, so it stays unique per site.
func Comment(namespace, name string) string {
	c := "SecureSite " + namespace + "/" + name
	if len(c) <= maxCommentLength {
		return c
	}
	sum := sha256.Sum256([]byte(c))
	suffix := "~" + hex.EncodeToString(sum[:])[:12]
	return c[:maxCommentLength-len(suffix)] + suffix
}

// DesiredConfig builds the full distribution configuration for d.
func DesiredConfig(d Desired) *types.DistributionConfig {
	root := d.DefaultRootObject
	if root == "" {
		root = DefaultRootObject
	}
	priceClass := types.PriceClass(d.PriceClass)
	if priceClass == "" {
		// What AWS itself stores when a request names none, so the diff against what is read
		// back stays empty. (The site's own default, PriceClass_100, comes with the spec.)
		priceClass = types.PriceClassPriceClassAll
	}
	cfg := &types.DistributionConfig{
		CallerReference:      aws.String(d.CallerReference),
		Comment:              aws.String(d.Comment),
		Enabled:              aws.Bool(d.Enabled),
		DefaultRootObject:    aws.String(root),
		PriceClass:           priceClass,
		HttpVersion:          types.HttpVersionHttp2and3,
		IsIPV6Enabled:        aws.Bool(true),
		Origins:              s3Origin(d),
		DefaultCacheBehavior: defaultBehaviour(d.OriginID),
		CacheBehaviors:       &types.CacheBehaviors{Quantity: aws.Int32(0)},
		Aliases:              &types.Aliases{Quantity: aws.Int32(0)},
		Restrictions: &types.Restrictions{GeoRestriction: &types.GeoRestriction{
			RestrictionType: types.GeoRestrictionTypeNone, Quantity: aws.Int32(0),
		}},
		CustomErrorResponses: errorResponses(d.SPAFallback, root),
	}
	cfg.Aliases, cfg.ViewerCertificate = viewerCertificate(d)
	return cfg
}

// s3Origin is the bucket behind the distribution, read through Origin Access Control.
func s3Origin(d Desired) *types.Origins {
	return &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{{
		Id:                    aws.String(d.OriginID),
		DomainName:            aws.String(d.OriginDomain),
		OriginPath:            aws.String(""),
		OriginAccessControlId: aws.String(d.OACID),
		// OAC replaces the legacy origin access identity, which must then be empty.
		S3OriginConfig: &types.S3OriginConfig{OriginAccessIdentity: aws.String("")},
	}}}
}

// defaultBehaviour serves GET and HEAD over HTTPS only, cached with AWS's managed policy.
func defaultBehaviour(originID string) *types.DefaultCacheBehavior {
	getHead := []types.Method{types.MethodGet, types.MethodHead}
	return &types.DefaultCacheBehavior{
		TargetOriginId:       aws.String(originID),
		ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps,
		CachePolicyId:        aws.String(CachingOptimizedPolicyID),
		Compress:             aws.Bool(true),
		AllowedMethods: &types.AllowedMethods{
			Quantity: aws.Int32(2), Items: getHead,
			CachedMethods: &types.CachedMethods{Quantity: aws.Int32(2), Items: getHead},
		},
	}
}

// viewerCertificate is the ACM certificate with the site's aliases, or, until there is one,
// CloudFront's own certificate and no aliases.
func viewerCertificate(d Desired) (*types.Aliases, *types.ViewerCertificate) {
	if d.ACMCertificateARN == "" {
		// CloudFront fixes the default certificate's policy at TLSv1 whatever is sent.
		return &types.Aliases{Quantity: aws.Int32(0)}, &types.ViewerCertificate{
			CloudFrontDefaultCertificate: aws.Bool(true),
			MinimumProtocolVersion:       types.MinimumProtocolVersionTLSv1,
		}
	}
	aliases := slices.Sorted(slices.Values(d.Aliases))
	return &types.Aliases{Quantity: aws.Int32(int32(len(aliases))), Items: aliases}, &types.ViewerCertificate{
		// Said explicitly: AWS reports false for a distribution with its own certificate.
		CloudFrontDefaultCertificate: aws.Bool(false),
		ACMCertificateArn:            aws.String(d.ACMCertificateARN),
		// sni-only: a dedicated-IP certificate costs $600 a month.
		SSLSupportMethod:       types.SSLSupportMethodSniOnly,
		MinimumProtocolVersion: types.MinimumProtocolVersionTLSv122021,
	}
}

// errorResponses: with SPA fallback, client-side routes (/settings) do not exist in the bucket:
// S3 answers 403 to OAC for a missing key (404 only with s3:ListBucket). Both become the app
// shell with 200.
func errorResponses(spaFallback bool, root string) *types.CustomErrorResponses {
	if !spaFallback {
		return &types.CustomErrorResponses{Quantity: aws.Int32(0)}
	}
	var items []types.CustomErrorResponse
	for _, code := range []int32{403, 404} {
		items = append(items, types.CustomErrorResponse{
			ErrorCode: aws.Int32(code), ResponsePagePath: aws.String("/" + root),
			ResponseCode: aws.String("200"), ErrorCachingMinTTL: aws.Int64(10),
		})
	}
	return &types.CustomErrorResponses{Quantity: aws.Int32(2), Items: items}
}

// NeedsUpdate reports whether the observed configuration differs from the desired one in any
// field SecureSite manages, and names those fields. Fields we do not manage (logging, WAF,
// staging, ...) and CallerReference (immutable) are not compared; UpdateConfig carries them over.
func NeedsUpdate(observed, desired *types.DistributionConfig) (bool, []string) {
	if observed == nil {
		return true, []string{"DistributionConfig"}
	}
	var diffs []string
	cmp := func(field string, o, d any) {
		if o != d {
			diffs = append(diffs, field)
		}
	}
	cmp("Comment", aws.ToString(observed.Comment), aws.ToString(desired.Comment))
	cmp("Enabled", aws.ToBool(observed.Enabled), aws.ToBool(desired.Enabled))
	cmp("DefaultRootObject", aws.ToString(observed.DefaultRootObject), aws.ToString(desired.DefaultRootObject))
	cmp("PriceClass", observed.PriceClass, desired.PriceClass)
	cmp("HttpVersion", observed.HttpVersion, desired.HttpVersion)
	cmp("IsIPV6Enabled", aws.ToBool(observed.IsIPV6Enabled), aws.ToBool(desired.IsIPV6Enabled))
	cmp("Aliases", aliasesKey(observed.Aliases), aliasesKey(desired.Aliases))
	cmp("Origins", originsKey(observed.Origins), originsKey(desired.Origins))
	diffs = append(diffs, behaviourDiffs(observed.DefaultCacheBehavior, desired.DefaultCacheBehavior)...)
	cmp("CacheBehaviors", cacheBehaviourCount(observed.CacheBehaviors), cacheBehaviourCount(desired.CacheBehaviors))
	cmp("ViewerCertificate", certKey(observed.ViewerCertificate), certKey(desired.ViewerCertificate))
	cmp("CustomErrorResponses", errorResponsesKey(observed.CustomErrorResponses), errorResponsesKey(desired.CustomErrorResponses))
	cmp("Restrictions", restrictionsKey(observed.Restrictions), restrictionsKey(desired.Restrictions))
	return len(diffs) > 0, diffs
}

// UpdateConfig is the configuration to send in UpdateDistribution: the desired one, with the
// immutable CallerReference and every field we do not manage taken from what is there, so a
// WAF, logging or continuous-deployment setting added outside SecureSite survives.
func UpdateConfig(observed, desired *types.DistributionConfig) *types.DistributionConfig {
	out := *desired
	out.CallerReference = observed.CallerReference
	out.Logging = observed.Logging
	out.WebACLId = observed.WebACLId
	out.OriginGroups = observed.OriginGroups
	out.Staging = observed.Staging
	out.ContinuousDeploymentPolicyId = observed.ContinuousDeploymentPolicyId
	out.AnycastIpListId = observed.AnycastIpListId
	out.ConnectionMode = observed.ConnectionMode
	out.TenantConfig = observed.TenantConfig
	out.ViewerMtlsConfig = observed.ViewerMtlsConfig
	out.CacheTagConfig = observed.CacheTagConfig
	out.ConnectionFunctionAssociation = observed.ConnectionFunctionAssociation
	return &out
}

func behaviourDiffs(o, d *types.DefaultCacheBehavior) []string {
	if o == nil || d == nil {
		if o != d {
			return []string{"DefaultCacheBehavior"}
		}
		return nil
	}
	var diffs []string
	add := func(field string, a, b any) {
		if a != b {
			diffs = append(diffs, "DefaultCacheBehavior."+field)
		}
	}
	add("TargetOriginId", aws.ToString(o.TargetOriginId), aws.ToString(d.TargetOriginId))
	add("ViewerProtocolPolicy", o.ViewerProtocolPolicy, d.ViewerProtocolPolicy)
	add("CachePolicyId", aws.ToString(o.CachePolicyId), aws.ToString(d.CachePolicyId))
	add("OriginRequestPolicyId", aws.ToString(o.OriginRequestPolicyId), aws.ToString(d.OriginRequestPolicyId))
	add("ResponseHeadersPolicyId", aws.ToString(o.ResponseHeadersPolicyId), aws.ToString(d.ResponseHeadersPolicyId))
	add("Compress", aws.ToBool(o.Compress), aws.ToBool(d.Compress))
	add("AllowedMethods", methodsKey(o.AllowedMethods), methodsKey(d.AllowedMethods))
	add("FunctionAssociations", functionCount(o), functionCount(d))
	return diffs
}

// cacheBehaviourCount and functionCount treat a nil list wrapper as an empty list.
func cacheBehaviourCount(c *types.CacheBehaviors) int {
	if c == nil {
		return 0
	}
	return len(c.Items)
}

func functionCount(b *types.DefaultCacheBehavior) int {
	n := 0
	if b.FunctionAssociations != nil {
		n += len(b.FunctionAssociations.Items)
	}
	if b.LambdaFunctionAssociations != nil {
		n += len(b.LambdaFunctionAssociations.Items)
	}
	return n
}

func aliasesKey(a *types.Aliases) string {
	if a == nil {
		return ""
	}
	return strings.Join(slices.Sorted(slices.Values(a.Items)), ",")
}

func originsKey(o *types.Origins) string {
	if o == nil {
		return ""
	}
	var keys []string
	for _, x := range o.Items {
		kind, oai := "none", ""
		switch {
		case x.S3OriginConfig != nil:
			kind, oai = "s3", aws.ToString(x.S3OriginConfig.OriginAccessIdentity)
		case x.CustomOriginConfig != nil:
			kind = "custom"
		}
		keys = append(keys, strings.Join([]string{aws.ToString(x.Id), aws.ToString(x.DomainName),
			aws.ToString(x.OriginPath), aws.ToString(x.OriginAccessControlId), kind, oai}, "|"))
	}
	slices.Sort(keys)
	return strings.Join(keys, ";")
}

func methodsKey(m *types.AllowedMethods) string {
	if m == nil {
		return ""
	}
	key := sortedMethods(m.Items)
	if m.CachedMethods != nil {
		key += "/" + sortedMethods(m.CachedMethods.Items)
	}
	return key
}

func sortedMethods(ms []types.Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// certKey ignores the policy and SNI fields of the default certificate, which CloudFront sets
// itself.
func certKey(v *types.ViewerCertificate) string {
	if v == nil || aws.ToBool(v.CloudFrontDefaultCertificate) {
		return "default"
	}
	return strings.Join([]string{aws.ToString(v.ACMCertificateArn), aws.ToString(v.IAMCertificateId),
		string(v.SSLSupportMethod), string(v.MinimumProtocolVersion)}, "|")
}

func errorResponsesKey(e *types.CustomErrorResponses) string {
	if e == nil {
		return ""
	}
	var keys []string
	for _, r := range e.Items {
		keys = append(keys, fmt.Sprintf("%d|%s|%s|%d", aws.ToInt32(r.ErrorCode), aws.ToString(r.ResponsePagePath),
			aws.ToString(r.ResponseCode), aws.ToInt64(r.ErrorCachingMinTTL)))
	}
	slices.Sort(keys)
	return strings.Join(keys, ";")
}

func restrictionsKey(r *types.Restrictions) string {
	if r == nil || r.GeoRestriction == nil {
		return string(types.GeoRestrictionTypeNone) + ":"
	}
	return string(r.GeoRestriction.RestrictionType) + ":" + strings.Join(slices.Sorted(slices.Values(r.GeoRestriction.Items)), ",")
}
