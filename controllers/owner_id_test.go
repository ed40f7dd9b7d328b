package controllers_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/testworld"
)

// TestTwoClustersOneAccount: two clusters (two API servers, two controllers with different
// --owner-id) share one AWS account. Each has a SecureSite of the same namespace, name, domain and
// bucket, so without the owner id their ownership marks would be identical. The second never
// adopts, changes or deletes what the first made.
func TestTwoClustersOneAccount(t *testing.T) {
	ctx := context.Background()
	one := startTenancyEnv(t, manager.TenancyOptions{OwnerID: "cluster-1", NameHold: -1}, nil)
	raw := newRawAWS(one)
	zoneID := one.w.CreateHostedZone(ctx, "owners.test")
	two := startSecondClusterOnTheSameAccount(t, one, "cluster-2")
	for _, e := range []*env{one, two} {
		if err := e.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}); err != nil {
			t.Fatal(err)
		}
	}

	one.create(sameSiteInEachCluster("203.0.113.1"))
	one.waitCondition("web", "shop", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)

	two.create(sameSiteInEachCluster("203.0.113.2"))
	s := two.waitCondition("web", "shop", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if msg := condition(s, v1alpha1.ConditionDNSReady).Message; !strings.Contains(msg, "owned by SecureSite cluster-1/web/shop") {
		t.Errorf("cluster 2 DNSReady: %q", msg)
	}
	two.waitCondition("web", "shop", v1alpha1.ConditionBucketReady, metav1.ConditionFalse, v1alpha1.ReasonBucketOwnedElsewhere, 30*time.Second)
	checkClusterOnesObjectsUntouched(one, raw, zoneID, "while cluster 2's site exists")

	// Cluster 2 deletes its site (deletionPolicy Delete): nothing of cluster 1's goes with it.
	if err := two.k8s.Delete(ctx, two.get("web", "shop")); err != nil {
		t.Fatal(err)
	}
	waitGone(two, "web", "shop")
	checkClusterOnesObjectsUntouched(one, raw, zoneID, "after cluster 2 deleted its site")
	one.poke("web", "shop")
	one.waitCondition("web", "shop", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
}

// startSecondClusterOnTheSameAccount starts a second cluster (its own API server, with the
// controller's namespace and the default class) whose controller, with ownerID, uses the first
// one's AWS emulator. It stops with the test.
func startSecondClusterOnTheSameAccount(t *testing.T, one *env, ownerID string) *env {
	t.Helper()
	ctx := context.Background()
	apiEnv, cfg, err := testworld.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apiEnv.Stop() })
	if err := testworld.CreateDefaultClass(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	w2 := *one.w
	w2.RESTConfig = cfg
	two := &env{t: t, w: &w2, scheme: one.scheme, clock: one.clock, r53: one.r53, aws: one.aws,
		tenancy: manager.TenancyOptions{OwnerID: ownerID, NameHold: -1}}
	if two.k8s, err = client.New(cfg, client.Options{Scheme: two.scheme}); err != nil {
		t.Fatal(err)
	}
	if err := two.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}); err != nil {
		t.Fatal(err)
	}
	two.startManager()
	t.Cleanup(two.stopManager)
	return two
}

// sameSiteInEachCluster is the site both clusters create: the same namespace, name, domain,
// backend hostname and bucket, with the backend at address.
func sameSiteInEachCluster(address string) *v1alpha1.SecureSite {
	return staticSite("web", "shop", "shop.owners.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "api.owners.test", Address: address}
		s.Spec.StaticSite.Bucket = "owners-shop"
		s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	})
}

// checkClusterOnesObjectsUntouched: cluster 1's A record, its ownership record and its bucket's
// owner tag are as cluster 1 left them.
func checkClusterOnesObjectsUntouched(one *env, raw rawAWS, zoneID, when string) {
	t := one.t
	t.Helper()
	recs := one.records(zoneID)
	if v := values(recs["A api.owners.test"]); !slices.Equal(v, []string{"203.0.113.1"}) {
		t.Errorf("%s: cluster 1's A record is %v", when, v)
	}
	if v := values(recs["TXT _securesite-a.api.owners.test"]); len(v) != 1 || !strings.Contains(v[0], "owner=cluster-1/web/shop") {
		t.Errorf("%s: ownership record %v", when, v)
	}
	tags, err := raw.s3.GetBucketTagging(context.Background(), &s3.GetBucketTaggingInput{Bucket: aws.String("owners-shop")})
	if err != nil {
		t.Fatalf("%s: bucket of cluster 1: %v", when, err)
	}
	for _, tg := range tags.TagSet {
		if aws.ToString(tg.Key) == "securesite.io/owner" && aws.ToString(tg.Value) != "cluster-1/web/shop" {
			t.Errorf("%s: bucket owner tag %q", when, aws.ToString(tg.Value))
		}
	}
}
