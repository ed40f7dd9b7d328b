// Package iampolicy generates the controller's IAM policy (docs/iam-policy.json) from what an
// installation grants: its hosted zones, the names its classes may use, its bucket and Secrets
// Manager prefixes and its owner id. It is generated, not kept by hand, so that a test can hold it
// to the AWS operations the code really calls (policy_test.go): no action missing, none extra.
package iampolicy

import (
	"encoding/json"
	"slices"
	"strings"
)

// Tag keys the controller puts on what it creates (internal/naming). Kept here as literals so the
// policy package depends on nothing; a test checks they match.
const (
	tagOwner   = "securesite.io/owner"
	tagOwnerID = "securesite.io/owner-id"
	tagDomain  = "securesite.io/domain"
)

// Params scope the policy. Empty fields leave that dimension open (with a wildcard).
type Params struct {
	// OwnerID is the controller's --owner-id: every object it may change must carry it in the
	// securesite.io/owner-id tag, and every object it creates must be created with it.
	OwnerID string
	// ZoneIDs are the hosted zones the controller may read and write.
	ZoneIDs []string
	// Domains are the names (and names below them) the controller may write records for: the
	// union of the domains its classes grant.
	Domains []string
	// BucketPrefix and SecretsPrefix limit buckets and exported secrets by name.
	BucketPrefix, SecretsPrefix string
}

// Policy is an IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM statement.
type Statement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// Actions lists every action the policy grants, sorted and without duplicates.
func (p Policy) Actions() []string {
	var out []string
	for _, s := range p.Statement {
		out = append(out, s.Action...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// zoneARNs are the hosted zones the controller may read and write: the listed ones, else all.
func zoneARNs(ids []string) []string {
	if len(ids) == 0 {
		return []string{"arn:aws:route53:::hostedzone/*"}
	}
	var zones []string
	for _, id := range ids {
		zones = append(zones, "arn:aws:route53:::hostedzone/"+strings.TrimPrefix(id, "/hostedzone/"))
	}
	return zones
}

// recordConditions limit record changes to the types the controller writes and, with domains,
// to names at or below them.
func recordConditions(domains []string) map[string]map[string]any {
	c := map[string]map[string]any{
		"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": []string{"A", "AAAA", "CNAME", "TXT"}},
	}
	if len(domains) > 0 {
		// Normalized names are lowercase without the trailing dot; "*" in StringLike spans dots,
		// so "*.duckhoo.site" covers the ownership (_securesite-a.…) and DNS-01 (_acme-challenge.…)
		// records too.
		var names []string
		for _, d := range domains {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			names = append(names, d, "*."+d)
		}
		c["ForAllValues:StringLike"] = map[string]any{"route53:ChangeResourceRecordSetsNormalizedRecordNames": names}
	}
	return c
}

// JSON renders the policy as AWS shows it (indented, newline-terminated).
func (p Policy) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Generate builds the policy for p.
func Generate(p Params) Policy {
	zones := zoneARNs(p.ZoneIDs)
	recordConditions := recordConditions(p.Domains)

	// Tags: creates must carry our owner id and no keys but ours; changes need our owner id on
	// the object. Without an owner id the tag must merely be present.
	requestTag := map[string]map[string]any{"Null": {"aws:RequestTag/" + tagOwner: "false"}}
	resourceTag := map[string]map[string]any{"Null": {"aws:ResourceTag/" + tagOwner: "false"}}
	if p.OwnerID != "" {
		requestTag = map[string]map[string]any{"StringEquals": {"aws:RequestTag/" + tagOwnerID: p.OwnerID}}
		resourceTag = map[string]map[string]any{"StringEquals": {"aws:ResourceTag/" + tagOwnerID: p.OwnerID}}
	}
	requestTag["ForAllValues:StringEquals"] = map[string]any{"aws:TagKeys": []string{tagOwner, tagOwnerID, tagDomain}}

	buckets := "arn:aws:s3:::" + p.BucketPrefix + "*"
	sameAccount := map[string]map[string]any{"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
	secrets := "arn:aws:secretsmanager:*:*:secret:" + p.SecretsPrefix + "*"

	return Policy{Version: "2012-10-17", Statement: []Statement{
		{Sid: "Route53FindZones", Action: []string{"route53:ListHostedZones"}, Resource: []string{"*"}},
		{Sid: "Route53ReadZones", Action: []string{"route53:GetHostedZone", "route53:ListResourceRecordSets"}, Resource: zones},
		{Sid: "Route53WriteGrantedNames", Action: []string{"route53:ChangeResourceRecordSets"}, Resource: zones, Condition: recordConditions},
		{Sid: "Route53WaitForChanges", Action: []string{"route53:GetChange"}, Resource: []string{"arn:aws:route53:::change/*"}},

		{Sid: "ACMImportNewTaggedCertificate", Action: []string{"acm:ImportCertificate", "acm:AddTagsToCertificate"},
			Resource: []string{"arn:aws:acm:us-east-1:*:certificate/*"}, Condition: requestTag},
		{Sid: "ACMManageOwnedCertificates", Action: []string{"acm:ImportCertificate", "acm:DeleteCertificate"},
			Resource: []string{"arn:aws:acm:us-east-1:*:certificate/*"}, Condition: resourceTag},
		// Reads without a tag condition: a first import looks for its own certificate among the
		// account's by tags, and a certificate deleted out of band must read as not found (a
		// resource-tag condition would make it AccessDenied).
		{Sid: "ACMFindCertificates", Action: []string{"acm:ListCertificates"}, Resource: []string{"*"}},
		{Sid: "ACMReadCertificates", Action: []string{"acm:DescribeCertificate", "acm:ListTagsForCertificate"},
			Resource: []string{"arn:aws:acm:us-east-1:*:certificate/*"}},

		{Sid: "S3CreateTaggedBuckets", Action: []string{"s3:CreateBucket", "s3:TagResource"}, Resource: []string{buckets}},
		{Sid: "S3ManageBuckets", Action: []string{"s3:ListBucket", "s3:GetBucketTagging", "s3:PutBucketTagging",
			"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucket", "s3:ListBucketVersions"},
			Resource: []string{buckets}, Condition: sameAccount},
		{Sid: "S3CopyAndEmptyObjects", Action: []string{"s3:GetObject", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject",
			"s3:DeleteObjectVersion", "s3:AbortMultipartUpload"},
			Resource: []string{buckets + "/*"}, Condition: sameAccount},

		{Sid: "CloudFrontCreateDistributions", Action: []string{"cloudfront:CreateDistribution"}, Resource: []string{"arn:aws:cloudfront::*:distribution/*"}},
		{Sid: "CloudFrontTagOnCreate", Action: []string{"cloudfront:TagResource"}, Resource: []string{"arn:aws:cloudfront::*:distribution/*"}, Condition: requestTag},
		{Sid: "CloudFrontManageOwnedDistributions", Action: []string{"cloudfront:GetDistribution", "cloudfront:GetDistributionConfig",
			"cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution", "cloudfront:ListTagsForResource"},
			Resource: []string{"arn:aws:cloudfront::*:distribution/*"}, Condition: resourceTag},
		{Sid: "CloudFrontFindDistributions", Action: []string{"cloudfront:ListDistributions"}, Resource: []string{"*"}},
		{Sid: "CloudFrontOriginAccessControl", Action: []string{"cloudfront:CreateOriginAccessControl", "cloudfront:ListOriginAccessControls"}, Resource: []string{"*"}},
		{Sid: "CloudFrontManageOriginAccessControls", Action: []string{"cloudfront:GetOriginAccessControl", "cloudfront:DeleteOriginAccessControl"},
			Resource: []string{"arn:aws:cloudfront::*:origin-access-control/*"}},

		{Sid: "SecretsManagerCreateTaggedSecrets", Action: []string{"secretsmanager:CreateSecret", "secretsmanager:TagResource"},
			Resource: []string{secrets}, Condition: requestTag},
		{Sid: "SecretsManagerTellOwnedFromForeign", Action: []string{"secretsmanager:DescribeSecret"}, Resource: []string{secrets}},
		{Sid: "SecretsManagerManageOwnedSecrets", Action: []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
			"secretsmanager:DeleteSecret", "secretsmanager:RestoreSecret"}, Resource: []string{secrets}, Condition: resourceTag},
	}}.withEffect()
}

func (p Policy) withEffect() Policy {
	for i := range p.Statement {
		p.Statement[i].Effect = "Allow"
	}
	return p
}

// ActionsFor is the IAM authorization of one SDK operation: usually the action of the same name,
// but some operations are authorized as other actions or as several (AWS Service Authorization
// Reference).
func ActionsFor(service, operation string) []string {
	if a, ok := specialActions[service+":"+operation]; ok {
		return a
	}
	return []string{service + ":" + operation}
}

var specialActions = map[string][]string{
	// Tags in the create request are authorized as a tagging action too.
	"acm:ImportCertificate":                 {"acm:ImportCertificate", "acm:AddTagsToCertificate"},
	"s3:CreateBucket":                       {"s3:CreateBucket", "s3:TagResource"},
	"cloudfront:CreateDistributionWithTags": {"cloudfront:CreateDistribution", "cloudfront:TagResource"},
	"secretsmanager:CreateSecret":           {"secretsmanager:CreateSecret", "secretsmanager:TagResource"},
	// S3 operations authorized under other names.
	"s3:HeadBucket":           {"s3:ListBucket"},
	"s3:ListObjectsV2":        {"s3:ListBucket"},
	"s3:GetPublicAccessBlock": {"s3:GetBucketPublicAccessBlock"},
	"s3:PutPublicAccessBlock": {"s3:PutBucketPublicAccessBlock"},
	// DeleteObjects deletes object versions and delete markers too (a versioned bucket emptied).
	"s3:DeleteObjects":           {"s3:DeleteObject", "s3:DeleteObjectVersion"},
	"s3:ListBuckets":             {"s3:ListAllMyBuckets"},
	"s3:HeadObject":              {"s3:GetObject"},
	"s3:ListObjectVersions":      {"s3:ListBucketVersions"},
	"s3:CreateMultipartUpload":   {"s3:PutObject"},
	"s3:CompleteMultipartUpload": {"s3:PutObject"},
	// UploadPartCopy reads the source and writes a part of the destination.
	"s3:UploadPartCopy": {"s3:GetObject", "s3:PutObject"},
	// CopyObject reads the source and writes the destination, tags included (copied by default).
	"s3:CopyObject": {"s3:GetObject", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging"},
}
