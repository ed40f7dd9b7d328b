package s3bucket

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// CopyPage copies one listing page (up to pageSize keys after startAfter) of from into to,
// server-side. Objects already in to with the same key and content are skipped, so a migration
// interrupted by a restart resumes from the last recorded key without copying twice. next is
// the last key of the page (the next startAfter); done is true after the last page.
func (c *Client) CopyPage(ctx context.Context, from, to Bucket, startAfter string, pageSize int32) (int, string, bool, error) {
	src := c.s3For(from.Region)
	page, err := src.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(from.Name), StartAfter: optional(startAfter), MaxKeys: aws.Int32(pageSize),
	})
	if err != nil {
		return 0, startAfter, false, fmt.Errorf("listing bucket %s: %w", from.Name, err)
	}
	done := !aws.ToBool(page.IsTruncated)
	if len(page.Contents) == 0 {
		return 0, startAfter, true, nil
	}
	last := aws.ToString(page.Contents[len(page.Contents)-1].Key)
	present, err := c.listRange(ctx, to, startAfter, last, pageSize)
	if err != nil {
		return 0, startAfter, false, err
	}
	dst := c.s3For(to.Region)
	copied := 0
	for _, o := range page.Contents {
		key := aws.ToString(o.Key)
		if have, ok := present[key]; ok && sameContent(o, have) {
			continue
		}
		_, err := dst.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String(to.Name),
			Key:        aws.String(key),
			CopySource: aws.String((&url.URL{Path: from.Name + "/" + key}).EscapedPath()),
		})
		if err != nil {
			// Report progress up to here so the caller records a resumable point.
			return copied, startAfter, false, fmt.Errorf("copying %s to bucket %s: %w", key, to.Name, err)
		}
		copied++
	}
	return copied, last, done, nil
}

// listRange lists the objects of b with keys in (after, last].
func (c *Client) listRange(ctx context.Context, b Bucket, after, last string, pageSize int32) (map[string]types.Object, error) {
	api := c.s3For(b.Region)
	out := map[string]types.Object{}
	for {
		page, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(b.Name), StartAfter: optional(after), MaxKeys: aws.Int32(pageSize),
		})
		if err != nil {
			return nil, fmt.Errorf("listing bucket %s: %w", b.Name, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if key > last {
				return out, nil
			}
			out[key] = o
			after = key
		}
		if !aws.ToBool(page.IsTruncated) || len(page.Contents) == 0 {
			return out, nil
		}
	}
}

// sameContent decides whether a copy is already in place. A single-part object keeps its ETag
// (the MD5) through CopyObject; a multipart one ("<md5>-<parts>") does not, so for those a copy
// of the same size written after the source was last modified counts as done.
func sameContent(src, dst types.Object) bool {
	if aws.ToInt64(src.Size) != aws.ToInt64(dst.Size) {
		return false
	}
	if aws.ToString(src.ETag) == aws.ToString(dst.ETag) {
		return true
	}
	return strings.Contains(aws.ToString(src.ETag), "-") &&
		src.LastModified != nil && dst.LastModified != nil && !dst.LastModified.Before(*src.LastModified)
}

// CountObjects counts the objects in the bucket (migration progress shows copied of total).
func (c *Client) CountObjects(ctx context.Context, b Bucket) (int64, error) {
	p := s3.NewListObjectsV2Paginator(c.s3For(b.Region), &s3.ListObjectsV2Input{Bucket: aws.String(b.Name)})
	var n int64
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("counting objects in bucket %s: %w", b.Name, err)
		}
		n += int64(len(page.Contents))
	}
	return n, nil
}

// EmptyAndDelete deletes every object (1,000 per DeleteObjects call, the API's limit) and then
// the bucket. Used only under deletionPolicy: Delete. A bucket already gone is not an error.
func (c *Client) EmptyAndDelete(ctx context.Context, b Bucket) error {
	api := c.s3For(b.Region)
	for {
		// Always list from the start: the previous page is gone, and a continuation token
		// would point into a listing that no longer exists.
		page, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.Name), MaxKeys: aws.Int32(1000)})
		if awsclient.ErrorCode(err) == "NoSuchBucket" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing bucket %s: %w", b.Name, err)
		}
		if len(page.Contents) == 0 {
			break
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		out, err := api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(b.Name), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("deleting objects in bucket %s: %w", b.Name, err)
		}
		// DeleteObjects reports per-key failures in a 200 response.
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("deleting %s in bucket %s: %s: %s (%d keys failed)",
				aws.ToString(e.Key), b.Name, aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors))
		}
	}
	_, err := api.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b.Name)})
	if err != nil && awsclient.ErrorCode(err) != "NoSuchBucket" {
		return fmt.Errorf("deleting bucket %s: %w", b.Name, err)
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
