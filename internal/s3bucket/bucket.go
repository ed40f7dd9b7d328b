// Package s3bucket keeps the static site's S3 bucket: created in its region, closed to the
// public, tagged with its owner, readable only by its CloudFront distribution, and copied to a new
// bucket when the site's bucket is renamed.
package s3bucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
)

// ErrOwnedElsewhere means the bucket exists but is not ours: another SecureSite's, someone
// else's in this account, or another account's. It is never written to.
var ErrOwnedElsewhere = errors.New("bucket exists and is not owned by this SecureSite")

// ErrOtherRegion means the bucket exists in another region than the one asked for: the name is
// taken there (by anyone; bucket names are global), or the site's region changed after the bucket
// was made. S3 cannot move a bucket, so retrying does not help.
var ErrOtherRegion = errors.New("bucket exists in another region")

// OtherRegionError says which region the bucket is in, when S3 tells (x-amz-bucket-region).
type OtherRegionError struct {
	Bucket, Region, Actual string
}

func (e *OtherRegionError) Error() string {
	if e.Actual == "" {
		return fmt.Sprintf("bucket %s exists in another region than %s", e.Bucket, e.Region)
	}
	return fmt.Sprintf("bucket %s exists in %s, not in %s", e.Bucket, e.Actual, e.Region)
}

func (e *OtherRegionError) Unwrap() error { return ErrOtherRegion }

// Bucket is a bucket as the distribution's origin sees it.
type Bucket struct {
	Name   string
	Region string
	// RegionalDomainName is <name>.s3.<region>.amazonaws.com, the origin domain CloudFront
	// needs for an S3 origin with Origin Access Control (the global name redirects for new
	// buckets outside us-east-1).
	RegionalDomainName string
}

// NewBucket describes a bucket by name and region.
func NewBucket(name, region string) Bucket {
	return Bucket{Name: name, Region: region, RegionalDomainName: fmt.Sprintf("%s.s3.%s.amazonaws.com", name, region)}
}

// Client talks to S3 with one SDK client per region, because S3 answers a request sent to the
// wrong region with a redirect instead of the answer.
type Client struct {
	regions *awsclient.Regional[*s3.Client]
}

// New returns a client; regional SDK clients are made on first use.
func New(cfg awsclient.Config) *Client {
	return &Client{regions: awsclient.NewRegional(cfg, func(c aws.Config) *s3.Client {
		return s3.NewFromConfig(c, func(o *s3.Options) {
			// An emulator on one host:port cannot serve <bucket>.host virtual-hosted names.
			o.UsePathStyle = cfg.EndpointURL != ""
		})
	})}
}

func (c *Client) s3For(region string) *s3.Client { return c.regions.For(region) }

// Ensure makes the bucket exist in region, closed to the public and tagged with tags (which must
// include naming.TagOwner). An existing bucket is adopted only when its naming.TagOwner equals ours; otherwise
// ErrOwnedElsewhere and nothing is written. A bucket already in shape costs three reads.
func (c *Client) Ensure(ctx context.Context, name, region string, tags map[string]string) (Bucket, bool, error) {
	want := tags[naming.TagOwner]
	if want == "" {
		return Bucket{}, false, fmt.Errorf("tags must include %s", naming.TagOwner)
	}
	b := NewBucket(name, region)
	api := c.s3For(region)

	have, exists, err := c.lookup(ctx, api, name, region)
	if err != nil {
		return b, false, err
	}
	created := false
	if !exists {
		if created, err = c.create(ctx, api, b, tags); err != nil {
			return b, false, err
		}
		if !created {
			// Lost a race with another creator in our account: decide by its tags.
			if have, _, err = c.lookup(ctx, api, name, region); err != nil {
				return b, false, err
			}
		}
	}
	if !created && have[naming.TagOwner] != want {
		return b, false, fmt.Errorf("bucket %s (owner tag %q): %w", name, have[naming.TagOwner], ErrOwnedElsewhere)
	}
	if created {
		// The bucket was made by this call, so it is ours whatever its tags say. CreateBucket
		// carried the tags, but endpoints that predate CreateBucketConfiguration.Tags (older S3
		// API paths, S3-compatible stores) create the bucket without them, and the next pass
		// would then find an untagged bucket and refuse it as someone else's: tag it now.
		have = map[string]string{}
	}
	if err := c.ensureTags(ctx, api, name, have, tags); err != nil {
		return b, created, err
	}
	if err := c.ensurePublicAccessBlock(ctx, api, name); err != nil {
		return b, created, err
	}
	return b, created, nil
}

// create sends CreateBucket with the owner tags in the same request, so there is no moment in
// which the bucket exists without its ownership mark (a crash there would lock us out of our own
// bucket). It reports false when the bucket already existed.
func (c *Client) create(ctx context.Context, api *s3.Client, b Bucket, tags map[string]string) (bool, error) {
	conf := &types.CreateBucketConfiguration{Tags: s3Tags(tags)}
	// us-east-1 is the default location and AWS rejects it as an explicit LocationConstraint.
	if b.Region != "us-east-1" {
		conf.LocationConstraint = types.BucketLocationConstraint(b.Region)
	}
	_, err := api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.Name), CreateBucketConfiguration: conf})
	switch awsclient.ErrorCode(err) {
	case "":
		if err != nil {
			return false, fmt.Errorf("creating bucket %s: %w", b.Name, err)
		}
		return true, nil
	case "BucketAlreadyOwnedByYou":
		return false, nil
	case "BucketAlreadyExists":
		return false, fmt.Errorf("bucket %s belongs to another AWS account: %w", b.Name, ErrOwnedElsewhere)
	default:
		return false, fmt.Errorf("creating bucket %s: %w", b.Name, err)
	}
}

// Owner reports the bucket's naming.TagOwner value and whether the bucket exists. A bucket of another
// account (403 on HeadBucket) exists with owner "".
func (c *Client) Owner(ctx context.Context, name, region string) (string, bool, error) {
	tags, exists, err := c.lookup(ctx, c.s3For(region), name, region)
	return tags[naming.TagOwner], exists, err
}

// lookup returns the bucket's tags and whether it exists (a nil map for a bucket we may not
// read).
func (c *Client) lookup(ctx context.Context, api *s3.Client, name, region string) (map[string]string, bool, error) {
	_, err := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	if err != nil {
		switch httpStatus(err) {
		case http.StatusNotFound:
			return nil, false, nil
		case http.StatusForbidden:
			return nil, true, nil
		case http.StatusMovedPermanently:
			// S3 answers from the wrong region with a redirect and names the right one.
			return nil, true, &OtherRegionError{Bucket: name, Region: region, Actual: bucketRegionHeader(err)}
		}
		return nil, false, fmt.Errorf("looking up bucket %s: %w", name, err)
	}
	tags, err := c.tags(ctx, api, name)
	if err != nil {
		return nil, true, err
	}
	return tags, true, nil
}

func (c *Client) tags(ctx context.Context, api *s3.Client, name string) (map[string]string, error) {
	out, err := api.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(name)})
	if awsclient.ErrorCode(err) == "NoSuchTagSet" {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading tags of bucket %s: %w", name, err)
	}
	m := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m, nil
}

// ensureTags adds or corrects our tags and keeps everyone else's: PutBucketTagging replaces the
// whole set, so it is sent with the union.
func (c *Client) ensureTags(ctx context.Context, api *s3.Client, name string, have, want map[string]string) error {
	merged := make(map[string]string, len(have)+len(want))
	for k, v := range have {
		merged[k] = v
	}
	changed := false
	for k, v := range want {
		if have[k] != v {
			changed = true
		}
		merged[k] = v
	}
	if !changed {
		return nil
	}
	_, err := api.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{
		Bucket: aws.String(name), Tagging: &types.Tagging{TagSet: s3Tags(merged)},
	})
	if err != nil {
		return fmt.Errorf("tagging bucket %s: %w", name, err)
	}
	return nil
}

// ensurePublicAccessBlock turns on all four public access blocks: the site is served only
// through CloudFront with OAC, so nothing in the bucket should ever be public.
func (c *Client) ensurePublicAccessBlock(ctx context.Context, api *s3.Client, name string) error {
	out, err := api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(name)})
	if err != nil && awsclient.ErrorCode(err) != "NoSuchPublicAccessBlockConfiguration" {
		return fmt.Errorf("reading public access block of bucket %s: %w", name, err)
	}
	if err == nil && allBlocked(out.PublicAccessBlockConfiguration) {
		return nil
	}
	_, err = api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(name),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("blocking public access to bucket %s: %w", name, err)
	}
	return nil
}

func allBlocked(p *types.PublicAccessBlockConfiguration) bool {
	return p != nil && aws.ToBool(p.BlockPublicAcls) && aws.ToBool(p.IgnorePublicAcls) &&
		aws.ToBool(p.BlockPublicPolicy) && aws.ToBool(p.RestrictPublicBuckets)
}

func s3Tags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for k, v := range m {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out
}

func bucketRegionHeader(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("x-amz-bucket-region")
	}
	return ""
}

// httpStatus returns the HTTP status of a failed call, or 0. HeadBucket has no body, so its
// errors carry no AWS code, only the status.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
