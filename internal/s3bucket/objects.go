package s3bucket

import (
	"context"
	"fmt"
	"strings"
	"time"

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
		if err := c.copyObject(ctx, dst, from, to, key, aws.ToInt64(o.Size)); err != nil {
			// Report progress up to here so the caller records a resumable point.
			return copied, startAfter, false, fmt.Errorf("copying %s to bucket %s: %w", key, to.Name, err)
		}
		copied++
	}
	return copied, last, done, nil
}

// Multipart copy: CopyObject copies objects up to 5 GB; larger ones are copied in parts with
// UploadPartCopy (at most 10,000 parts of 5 MiB to 5 GiB each). Variables so that tests can copy in
// parts without 5 GB objects.
var (
	multipartCopyThreshold int64 = 5 << 30
	multipartCopyPartSize  int64 = 512 << 20
)

const maxParts = 10000

// copyObject copies one object server-side, in parts when it is too large for CopyObject.
func (c *Client) copyObject(ctx context.Context, dst *s3.Client, from, to Bucket, key string, size int64) error {
	if size <= multipartCopyThreshold {
		_, err := dst.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(to.Name), Key: aws.String(key), CopySource: aws.String(copySource(from.Name, key)),
		})
		return err
	}
	return c.copyInParts(ctx, dst, from, to, key, size)
}

// copyInParts copies with CreateMultipartUpload, UploadPartCopy per byte range and
// CompleteMultipartUpload. Unlike CopyObject, a multipart upload does not take the source's
// metadata, so it is read first and sent along; an upload that fails is aborted, so no parts are
// left to be billed.
func (c *Client) copyInParts(ctx context.Context, dst *s3.Client, from, to Bucket, key string, size int64) error {
	head, err := c.s3For(from.Region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(from.Name), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	up, err := dst.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(to.Name), Key: aws.String(key),
		ContentType: head.ContentType, CacheControl: head.CacheControl, ContentEncoding: head.ContentEncoding,
		ContentDisposition: head.ContentDisposition, ContentLanguage: head.ContentLanguage, Metadata: head.Metadata,
	})
	if err != nil {
		return err
	}
	partSize := max(multipartCopyPartSize, (size+maxParts-1)/maxParts)
	var parts []types.CompletedPart
	for n, start := int32(1), int64(0); start < size; n, start = n+1, start+partSize {
		end := min(start+partSize, size) - 1
		out, err := dst.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String(to.Name), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(copySource(from.Name, key)), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", start, end)),
		})
		if err != nil {
			c.abort(dst, to, key, up.UploadId)
			return fmt.Errorf("copying part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	_, err = dst.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(to.Name), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		c.abort(dst, to, key, up.UploadId)
		return err
	}
	return nil
}

func (c *Client) abort(dst *s3.Client, to Bucket, key string, uploadID *string) {
	// Detached: the caller's context may be what failed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = dst.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(to.Name), Key: aws.String(key), UploadId: uploadID})
}

// copySource is the x-amz-copy-source value: bucket/key, URL-encoded. S3 decodes it as a URL, where
// "+" may mean a space, so everything but unreserved characters and the slashes is
// percent-encoded ("a+b.js" → "a%2Bb.js", "my file" → "my%20file").
func copySource(bucket, key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(bucket + "/" + key) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
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
// (the MD5) through CopyObject; a multipart one ("<md5>-<parts>"), or one copied in parts, does
// not, so for those a copy of the same size written after the source was last modified counts as
// done.
func sameContent(src, dst types.Object) bool {
	if aws.ToInt64(src.Size) != aws.ToInt64(dst.Size) {
		return false
	}
	if aws.ToString(src.ETag) == aws.ToString(dst.ETag) {
		return true
	}
	// A multipart source, or a copy made in parts: ETags differ even for the same bytes.
	multipart := strings.Contains(aws.ToString(src.ETag), "-") || strings.Contains(aws.ToString(dst.ETag), "-")
	return multipart && src.LastModified != nil && dst.LastModified != nil && !dst.LastModified.Before(*src.LastModified)
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

// EmptyAndDelete deletes every object version and delete marker (1,000 per DeleteObjects call,
// the API's limit) and then the bucket. Listing versions, not objects, is what empties a
// versioned bucket: a delete without a version id only adds a delete marker, and S3 refuses to
// delete a bucket that still holds versions. Used only under deletionPolicy: Delete. A bucket
// already gone is not an error.
func (c *Client) EmptyAndDelete(ctx context.Context, b Bucket) error {
	api := c.s3For(b.Region)
	for {
		// Always list from the start: the previous page is gone, and a continuation marker
		// would point into a listing that no longer exists.
		page, err := api.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.Name), MaxKeys: aws.Int32(1000)})
		if awsclient.ErrorCode(err) == "NoSuchBucket" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing object versions in bucket %s: %w", b.Name, err)
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Versions)+len(page.DeleteMarkers))
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			break
		}
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			if err := deleteBatch(ctx, api, b.Name, ids[:n]); err != nil {
				return err
			}
			ids = ids[n:]
		}
	}
	_, err := api.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b.Name)})
	if err != nil && awsclient.ErrorCode(err) != "NoSuchBucket" {
		return fmt.Errorf("deleting bucket %s: %w", b.Name, err)
	}
	return nil
}

func deleteBatch(ctx context.Context, api *s3.Client, bucket string, ids []types.ObjectIdentifier) error {
	out, err := api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("deleting objects in bucket %s: %w", bucket, err)
	}
	// DeleteObjects reports per-key failures in a 200 response.
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return fmt.Errorf("deleting %s in bucket %s: %s: %s (%d keys failed)",
			aws.ToString(e.Key), bucket, aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors))
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
