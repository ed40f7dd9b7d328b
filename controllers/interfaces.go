package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
	"github.com/securesite-io/securesite/internal/smexport"
)

// The AWS and ACME services the reconciler needs, defined here where they are used; the SDK-backed
// implementations live in internal/<service> and are tested against the emulator.

type dnsService interface {
	FindZone(ctx context.Context, domain, zoneID string) (records.Zone, error)
	Ensure(ctx context.Context, zone records.Zone, owner string, desired []records.Record) (records.EnsureResult, error)
	// EnsureQueued is Ensure without waiting for the zone's next Route53 call: done runs once
	// the call is answered, and the owner's next EnsureQueued reports the answer.
	EnsureQueued(ctx context.Context, zone records.Zone, owner string, desired []records.Record, done func()) (records.EnsureResult, error)
	Plan(ctx context.Context, zone records.Zone, owner string, desired []records.Record) (records.Plan, error)
	Release(ctx context.Context, zone records.Zone, owner string) (records.EnsureResult, error)
	ChangeInSync(ctx context.Context, changeID string) (bool, error)
	// ClaimOf reports another owner's claim on a name (any type, or released and held).
	ClaimOf(ctx context.Context, zone records.Zone, owner, name string) (records.NameClaim, error)
}

type certificateIssuer interface {
	Submit(req acme.Request) bool
	Result(site types.NamespacedName) (*acme.Result, bool)
	InFlight(site types.NamespacedName) bool
	// RemovingChallenges reports that the challenge records of the site's last order are still
	// being removed (after its result was delivered).
	RemovingChallenges(site types.NamespacedName) bool
	// Waiting reports an order queued behind a CA budget or Retry-After, and when its turn is expected.
	Waiting(site types.NamespacedName) (acme.Wait, bool)
	// Restore puts back a result the reconciler took but could not store, so no new order is needed.
	Restore(res *acme.Result)
}

type acmService interface {
	Import(ctx context.Context, arn string, certPEM, keyPEM, chainPEM []byte, tags map[string]string) (string, error)
	Delete(ctx context.Context, arn string) error
	Exists(ctx context.Context, arn string) (bool, error)
	// Owner is the value of the certificate's tag key; found is false when it does not exist.
	Owner(ctx context.Context, arn, key string) (owner string, found bool, err error)
}

type bucketService interface {
	Ensure(ctx context.Context, name, region string, tags map[string]string) (s3bucket.Bucket, bool, error)
	EnsurePolicy(ctx context.Context, b s3bucket.Bucket, distributionARN string) error
	CopyPage(ctx context.Context, from, to s3bucket.Bucket, startAfter string, pageSize int32) (int, string, bool, error)
	CountObjects(ctx context.Context, b s3bucket.Bucket) (int64, error)
	EmptyAndDelete(ctx context.Context, b s3bucket.Bucket) error
	// Owner is the bucket's owner tag; found is false when the bucket does not exist.
	Owner(ctx context.Context, name, region string) (owner string, found bool, err error)
}

type distributionService interface {
	EnsureOAC(ctx context.Context, name string) (string, error)
	Ensure(ctx context.Context, id string, d cdn.Desired) (cdn.Distribution, []string, error)
	Get(ctx context.Context, id string) (cdn.Distribution, error)
	Disable(ctx context.Context, id string) (cdn.Distribution, error)
	Delete(ctx context.Context, id, etag string) error
	DeleteOAC(ctx context.Context, id string) error
	// Owner is the value of the distribution's tag key; found is false when it does not exist.
	Owner(ctx context.Context, id, key string) (owner string, found bool, err error)
}

type certificateExporter interface {
	Export(ctx context.Context, region, name, kmsKeyID string, doc smexport.Document, tags map[string]string) (arn, versionID string, changed bool, err error)
	Delete(ctx context.Context, region, name, owner string) error
}
