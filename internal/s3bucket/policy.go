package s3bucket

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// policySid marks the statement we own in the bucket policy; other statements are kept.
const policySid = "SecureSiteCloudFrontRead"

// policyStatement is the Origin Access Control grant: only CloudFront, and only on behalf of
// this one distribution (aws:SourceArn), may read objects. Without the condition any
// distribution in any account could point at the bucket.
func policyStatement(b Bucket, distributionARN string) map[string]any {
	return map[string]any{
		"Sid":       policySid,
		"Effect":    "Allow",
		"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
		"Action":    "s3:GetObject",
		"Resource":  fmt.Sprintf("arn:aws:s3:::%s/*", b.Name),
		"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": distributionARN}},
	}
}

// EnsurePolicy makes the bucket policy grant the distribution read access through OAC. Our
// statement (by Sid) is replaced; statements added by others stay. The policy is written only
// when it differs semantically from what S3 returns (S3 may reformat the JSON).
func (c *Client) EnsurePolicy(ctx context.Context, b Bucket, distributionARN string) error {
	api := c.s3For(b.Region)
	current := map[string]any{}
	out, err := api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b.Name)})
	switch {
	case awsclient.ErrorCode(err) == "NoSuchBucketPolicy":
	case err != nil:
		return fmt.Errorf("reading policy of bucket %s: %w", b.Name, err)
	default:
		if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &current); err != nil {
			return fmt.Errorf("parsing policy of bucket %s: %w", b.Name, err)
		}
	}
	desired := withStatement(current, policyStatement(b, distributionARN))
	if PoliciesEqual(current, desired) {
		return nil
	}
	doc, err := json.Marshal(desired)
	if err != nil {
		return err
	}
	if _, err := api.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b.Name), Policy: aws.String(string(doc))}); err != nil {
		return fmt.Errorf("writing policy of bucket %s: %w", b.Name, err)
	}
	return nil
}

// withStatement returns a copy of policy with our statement in place of any earlier one.
func withStatement(policy map[string]any, stmt map[string]any) map[string]any {
	out := map[string]any{"Version": "2012-10-17"}
	for k, v := range policy {
		out[k] = v
	}
	var stmts []any
	switch s := policy["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	}
	kept := []any{}
	for _, s := range stmts {
		if m, ok := s.(map[string]any); ok && m["Sid"] == policySid {
			continue
		}
		kept = append(kept, s)
	}
	out["Statement"] = append(kept, stmt)
	return out
}

// PoliciesEqual compares two IAM policy documents as IAM reads them: a one-element list equals
// its element, and key order does not matter.
func PoliciesEqual(a, b map[string]any) bool {
	return reflect.DeepEqual(normalise(a), normalise(b))
}

func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalise(e)
		}
		return out
	case []any:
		if len(t) == 1 {
			return normalise(t[0])
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalise(e)
		}
		return out
	default:
		return v
	}
}
