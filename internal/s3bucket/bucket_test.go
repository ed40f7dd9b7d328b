package s3bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/testworld"
)

var (
	emulator *testworld.Emulator
	cfg      awsclient.Config
	// raw is a plain SDK client for arranging and inspecting buckets behind the package's back.
	raw *s3.Client
)

func TestMain(m *testing.M) {
	os.Exit(testworld.RunWithEmulator(m, func(e *testworld.Emulator, c awsclient.Config) {
		emulator, cfg = e, c
		raw = s3.NewFromConfig(cfg.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	}))
}

// counter snapshots S3 call counts so a test can assert how many calls an action made.
type counter map[string]float64

func countS3(ops ...string) counter {
	c := counter{}
	for _, op := range ops {
		c[op] = awsclient.CallCount("S3", op)
	}
	return c
}

func (c counter) delta(op string) int {
	return int(awsclient.CallCount("S3", op) - c[op])
}

var writeOps = []string{"CreateBucket", "PutPublicAccessBlock", "PutBucketTagging", "PutBucketPolicy"}

func ownerTags() map[string]string {
	return map[string]string{naming.TagOwner: "web/duckhoo", "app": "securesite"}
}

func TestEnsureCreatesClosedTaggedBucketAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	// kumo ignores LocationConstraint (DESIGN.md); the request still carries it for AWS.
	b, created, err := c.Ensure(ctx, "site-create", "ap-northeast-2", ownerTags())
	if err != nil || !created {
		t.Fatalf("Ensure = created %v, err %v; want created", created, err)
	}
	if b.RegionalDomainName != "site-create.s3.ap-northeast-2.amazonaws.com" {
		t.Errorf("RegionalDomainName = %q", b.RegionalDomainName)
	}
	pab, err := raw.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("site-create")})
	if err != nil || !allBlocked(pab.PublicAccessBlockConfiguration) {
		t.Errorf("public access block = %+v, %v; want all four true", pab, err)
	}
	owner, exists, err := c.Owner(ctx, "site-create", "ap-northeast-2")
	if err != nil || !exists || owner != "web/duckhoo" {
		t.Errorf("Owner = %q %v %v", owner, exists, err)
	}

	before := countS3(append(writeOps, "HeadBucket", "GetBucketTagging", "GetPublicAccessBlock")...)
	if _, created, err := c.Ensure(ctx, "site-create", "ap-northeast-2", ownerTags()); err != nil || created {
		t.Fatalf("second Ensure = created %v, err %v", created, err)
	}
	for _, op := range writeOps {
		if n := before.delta(op); n != 0 {
			t.Errorf("second Ensure made %d %s calls, want 0", n, op)
		}
	}
	reads := before.delta("HeadBucket") + before.delta("GetBucketTagging") + before.delta("GetPublicAccessBlock")
	if reads != 3 {
		t.Errorf("second Ensure made %d reads, want 3", reads)
	}
	t.Logf("steady-state Ensure: %d reads, 0 writes", reads)
}

func TestEnsureAdoptsOwnBucketKeepingOtherTags(t *testing.T) {
	ctx := context.Background()
	mustCreate(t, "site-adopt", map[string]string{naming.TagOwner: "web/duckhoo", "team": "blog"})
	b, created, err := New(cfg).Ensure(ctx, "site-adopt", "us-east-1", ownerTags())
	if err != nil || created {
		t.Fatalf("Ensure = created %v, err %v; want adopted", created, err)
	}
	tags := bucketTags(t, b.Name)
	if tags["team"] != "blog" || tags["app"] != "securesite" || tags[naming.TagOwner] != "web/duckhoo" {
		t.Errorf("tags after adoption = %v; want ours added, team kept", tags)
	}
	pab, err := raw.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b.Name)})
	if err != nil || !allBlocked(pab.PublicAccessBlockConfiguration) {
		t.Errorf("adopted bucket not closed: %+v %v", pab, err)
	}
}

func TestEnsureRefusesBucketOwnedElsewhereWithoutWriting(t *testing.T) {
	ctx := context.Background()
	mustCreate(t, "site-theirs", map[string]string{naming.TagOwner: "other/site"})
	mustCreate(t, "site-untagged", nil)
	for _, name := range []string{"site-theirs", "site-untagged"} {
		before := countS3(writeOps...)
		_, _, err := New(cfg).Ensure(ctx, name, "us-east-1", ownerTags())
		if !errors.Is(err, ErrOwnedElsewhere) {
			t.Errorf("%s: err = %v, want ErrOwnedElsewhere", name, err)
		}
		for _, op := range writeOps {
			if n := before.delta(op); n != 0 {
				t.Errorf("%s: %d %s calls on a foreign bucket", name, n, op)
			}
		}
	}
	if tags := bucketTags(t, "site-theirs"); tags[naming.TagOwner] != "other/site" || len(tags) != 1 {
		t.Errorf("foreign bucket tags changed: %v", tags)
	}
}

func TestEnsurePolicyWritesOnlyWhenDifferent(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	b, _, err := c.Ensure(ctx, "site-policy", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	// A statement someone else added must survive our edits.
	foreign := `{"Version":"2012-10-17","Statement":{"Sid":"Logs","Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":["s3:PutObject"],"Resource":"arn:aws:s3:::site-policy/logs/*"}}`
	if _, err := raw.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b.Name), Policy: aws.String(foreign)}); err != nil {
		t.Fatal(err)
	}
	const arn1 = "arn:aws:cloudfront::000000000000:distribution/E1111111111111"
	const arn2 = "arn:aws:cloudfront::000000000000:distribution/E2222222222222"
	steps := []struct {
		arn       string
		wantPuts  int
		wantInDoc string
	}{
		{arn1, 1, arn1},
		{arn1, 0, arn1}, // unchanged: no write
		{arn2, 1, arn2}, // distribution replaced: our statement follows it
		{arn2, 0, arn2},
	}
	for i, s := range steps {
		before := countS3("PutBucketPolicy")
		if err := c.EnsurePolicy(ctx, b, s.arn); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := before.delta("PutBucketPolicy"); n != s.wantPuts {
			t.Errorf("step %d: %d PutBucketPolicy calls, want %d", i, n, s.wantPuts)
		}
		out, err := raw.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b.Name)})
		if err != nil {
			t.Fatal(err)
		}
		doc := aws.ToString(out.Policy)
		if !strings.Contains(doc, s.wantInDoc) || !strings.Contains(doc, `"Logs"`) || strings.Count(doc, policySid) != 1 {
			t.Errorf("step %d: policy = %s", i, doc)
		}
	}
}

func TestCopyPageResumesWithoutRecopying(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	from, _, err := c.Ensure(ctx, "site-old", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	to, _, err := c.Ensure(ctx, "site-new", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	const total = 1500
	putObjects(t, from.Name, total)
	if n, err := c.CountObjects(ctx, from); err != nil || n != total {
		t.Fatalf("CountObjects = %d, %v; want %d", n, err, total)
	}

	before := countS3("CopyObject")
	copied, next, done, err := c.CopyPage(ctx, from, to, "", 1000)
	if err != nil || copied != 1000 || done {
		t.Fatalf("page 1: copied %d done %v err %v", copied, done, err)
	}
	// A restart that lost the recorded position starts over: nothing is copied twice.
	again, next2, _, err := c.CopyPage(ctx, from, to, "", 1000)
	if err != nil || again != 0 || next2 != next {
		t.Fatalf("replayed page 1: copied %d next %q (want 0, %q), err %v", again, next2, next, err)
	}
	copied2, _, done, err := c.CopyPage(ctx, from, to, next, 1000)
	if err != nil || copied2 != total-1000 || !done {
		t.Fatalf("page 2: copied %d done %v err %v", copied2, done, err)
	}
	if n := before.delta("CopyObject"); n != total {
		t.Errorf("CopyObject calls = %d, want %d (one per object)", n, total)
	}
	if n, _ := c.CountObjects(ctx, to); n != total {
		t.Errorf("destination has %d objects, want %d", n, total)
	}

	// An object changed in the old bucket after it was copied is copied again, alone.
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(from.Name), Key: aws.String(objectKey(7)), Body: strings.NewReader("changed content")}); err != nil {
		t.Fatal(err)
	}
	before = countS3("CopyObject")
	n, _, _, err := c.CopyPage(ctx, from, to, "", 1000)
	if err != nil || n != 1 || before.delta("CopyObject") != 1 {
		t.Errorf("after one change: copied %d (CopyObject %d), err %v; want 1", n, before.delta("CopyObject"), err)
	}
	t.Logf("copy of %d objects, page 1000: %d CopyObject calls, replay of a page: 0", total, total)
}

func TestEmptyAndDelete(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	b, _, err := c.Ensure(ctx, "site-doomed", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	putObjects(t, b.Name, 1200)
	before := countS3("DeleteObjects", "DeleteBucket")
	if err := c.EmptyAndDelete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := before.delta("DeleteObjects"); n != 2 {
		t.Errorf("DeleteObjects calls = %d, want 2 for 1,200 objects", n)
	}
	if _, exists, err := c.Owner(ctx, b.Name, b.Region); err != nil || exists {
		t.Errorf("bucket still exists (%v, %v)", exists, err)
	}
	if err := c.EmptyAndDelete(ctx, b); err != nil {
		t.Errorf("second EmptyAndDelete = %v, want nil for a missing bucket", err)
	}
}

func mustCreate(t *testing.T, name string, tags map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := raw.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if len(tags) > 0 {
		if _, err := raw.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(name), Tagging: &types.Tagging{TagSet: s3Tags(tags)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func bucketTags(t *testing.T, name string) map[string]string {
	t.Helper()
	tags, err := New(cfg).tags(context.Background(), raw, name)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func objectKey(i int) string { return fmt.Sprintf("assets/%05d.js", i) }

// putObjects uploads n small objects with a few workers.
func putObjects(t *testing.T, bucket string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				_, err := raw.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(objectKey(i)), Body: strings.NewReader(fmt.Sprintf("console.log(%d)", i)),
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Keys that URL encoding treats specially: the copy source must say them exactly, or S3 reads
// "a+b.js" as "a b.js" and the copy fails with NoSuchKey on every pass.
func TestCopyPageCopiesKeysThatNeedEscaping(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	from, _, err := c.Ensure(ctx, "site-escape-old", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	to, _, err := c.Ensure(ctx, "site-escape-new", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a+b.js", "with space.html", "한글/파일.txt", "100%.txt", "percent%2Bencoded.txt", "plus+and space/ü+é.css", "a b.js"}
	if emulator.Name != testworld.Kumo {
		// kumo decodes the copy source before splitting off "?versionId=", so it cannot copy a key
		// with "?" in it; S3 and moto can.
		keys = append(keys, "q?x=1&y=2;z")
	}
	for _, k := range keys {
		if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(from.Name), Key: aws.String(k), Body: strings.NewReader("body of " + k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	copied, _, done, err := c.CopyPage(ctx, from, to, "", 1000)
	if err != nil || !done || copied != len(keys) {
		t.Fatalf("CopyPage = copied %d done %v err %v; want %d", copied, done, err, len(keys))
	}
	for _, k := range keys {
		out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(to.Name), Key: aws.String(k)})
		if err != nil {
			t.Errorf("copy of %q: %v", k, err)
			continue
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(body) != "body of "+k {
			t.Errorf("copy of %q holds %q", k, body)
		}
	}
}

func TestCopySource(t *testing.T) {
	for key, want := range map[string]string{
		"a+b.js":         "b/a%2Bb.js",
		"my file.html":   "b/my%20file.html",
		"100%.txt":       "b/100%25.txt",
		"dir/ü.css":      "b/dir/%C3%BC.css",
		"safe-_.~/x.js":  "b/safe-_.~/x.js",
		"q?x=1&y=2#frag": "b/q%3Fx%3D1%26y%3D2%23frag",
	} {
		if got := copySource("b", key); got != want {
			t.Errorf("copySource(%q) = %q, want %q", key, got, want)
		}
	}
}

// Objects above the multipart threshold (5 GB on AWS, lowered here) are copied in parts with
// their metadata, and a replayed page copies nothing again.
func TestCopyPageCopiesLargeObjectsInParts(t *testing.T) {
	defer func(th, ps int64) { multipartCopyThreshold, multipartCopyPartSize = th, ps }(multipartCopyThreshold, multipartCopyPartSize)
	multipartCopyThreshold, multipartCopyPartSize = 6<<20, 5<<20
	ctx := context.Background()
	c := New(cfg)
	from, _, err := c.Ensure(ctx, "site-big-old", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	to, _, err := c.Ensure(ctx, "site-big-new", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 11<<20+123)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(from.Name), Key: aws.String("video+1.mp4"), Body: bytes.NewReader(big),
		ContentType: aws.String("video/mp4"), CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"origin": "camera"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(from.Name), Key: aws.String("small.txt"), Body: strings.NewReader("small")}); err != nil {
		t.Fatal(err)
	}
	before := countS3("CopyObject", "UploadPartCopy", "CompleteMultipartUpload")
	copied, _, done, err := c.CopyPage(ctx, from, to, "", 1000)
	if err != nil || copied != 2 || !done {
		t.Fatalf("CopyPage = copied %d done %v err %v", copied, done, err)
	}
	if got := []int{before.delta("CopyObject"), before.delta("UploadPartCopy"), before.delta("CompleteMultipartUpload")}; !slices.Equal(got, []int{1, 3, 1}) {
		t.Errorf("CopyObject, UploadPartCopy, CompleteMultipartUpload = %v, want [1 3 1] (11 MiB in 5 MiB parts)", got)
	}
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(to.Name), Key: aws.String("video+1.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, big) {
		t.Errorf("copied object differs: %d bytes, want %d", len(got), len(big))
	}
	// kumo keeps no Cache-Control on objects at all; moto does, as S3.
	wantCacheControl := "max-age=60"
	if emulator.Name == testworld.Kumo {
		wantCacheControl = ""
	}
	if aws.ToString(out.ContentType) != "video/mp4" || aws.ToString(out.CacheControl) != wantCacheControl || out.Metadata["origin"] != "camera" {
		t.Errorf("metadata not copied: %s %s %v", aws.ToString(out.ContentType), aws.ToString(out.CacheControl), out.Metadata)
	}
	// A restart replays the page: the part-copied object counts as done.
	if again, _, _, err := c.CopyPage(ctx, from, to, "", 1000); err != nil || again != 0 {
		t.Errorf("replayed page copied %d (err %v), want 0", again, err)
	}
}

// A versioned bucket is emptied of every version and delete marker, then deleted; deleting by key
// alone only adds delete markers and leaves DeleteBucket refused with BucketNotEmpty.
func TestEmptyAndDeleteVersionedBucket(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	b, _, err := c.Ensure(ctx, "site-versioned", "us-east-1", ownerTags())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b.Name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for _, k := range []string{"index.html", "app.js"} {
			if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(k), Body: strings.NewReader(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String("app.js")}); err != nil {
		t.Fatal(err)
	}
	if err := c.EmptyAndDelete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, exists, err := c.Owner(ctx, b.Name, b.Region); err != nil || exists {
		t.Errorf("versioned bucket still exists (%v, %v)", exists, err)
	}
}

// HeadBucket's 301 (the bucket is in another region) is reported as such, with the region S3
// names, not retried as a generic error.
func TestEnsureReportsBucketInAnotherRegion(t *testing.T) {
	if emulator.Name == testworld.Kumo {
		t.Skip("kumo ignores LocationConstraint, so no bucket is in another region; runs on moto")
	}
	ctx := context.Background()
	c := New(cfg)
	if _, _, err := c.Ensure(ctx, "site-seoul", "ap-northeast-2", ownerTags()); err != nil {
		t.Fatal(err)
	}
	before := countS3(writeOps...)
	_, _, err := c.Ensure(ctx, "site-seoul", "eu-west-1", ownerTags())
	var re *OtherRegionError
	if !errors.Is(err, ErrOtherRegion) || !errors.As(err, &re) || re.Actual != "ap-northeast-2" {
		t.Fatalf("Ensure in eu-west-1 = %v, want ErrOtherRegion naming ap-northeast-2", err)
	}
	t.Logf("reported: %v", err)
	for _, op := range writeOps {
		if n := before.delta(op); n != 0 {
			t.Errorf("%d %s calls for a bucket in another region", n, op)
		}
	}
}
