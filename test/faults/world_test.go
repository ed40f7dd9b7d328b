// Package faults runs the controller under AWS faults (throttling, 5xx, lost connections injected
// by internal/testworld/faultproxy, ACME nonce rejects by pebble) and under repeated kill -9, and
// checks the outcome a user relies on: every site converges, and nothing is created twice or left
// behind.
package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	acmsdk "github.com/aws/aws-sdk-go-v2/service/acm"
	cf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/manager/managertest"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/testworld"
)

const controllerNamespace = managertest.ControllerNamespace

// rig is the test world, a Kubernetes client and uncounted AWS clients on the emulator, past
// the fault proxy (the checks must see the emulator's truth, not the injected faults).
type rig struct {
	t      *testing.T
	w      *testworld.World
	k8s    client.Client
	s3     *s3.Client
	cf     *cf.Client
	acm    *acmsdk.Client
	r53    *r53.Client
	zoneID string
}

func startRig(t *testing.T, zone string, opts ...testworld.WorldOption) *rig {
	t.Helper()
	w := testworld.Start(t, opts...)
	scheme := manager.Scheme()
	rc := *w.RESTConfig
	rc.QPS, rc.Burst = 200, 400
	k8s, err := client.New(&rc, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.AWS.URL),
	}
	r := &rig{
		t: t, w: w, k8s: k8s,
		// The emulator serves every bucket on one host:port, so virtual-hosted names cannot work.
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		cf:  cf.NewFromConfig(cfg),
		acm: acmsdk.NewFromConfig(cfg),
		r53: r53.NewFromConfig(cfg),
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}); err != nil {
		t.Fatal(err)
	}
	r.zoneID = w.CreateHostedZone(context.Background(), zone)
	return r
}

// startManager runs the controller in this process with main.go's wiring (internal/manager:
// production Route53 batching and snapshot times, real clock), sending AWS calls to awsURL. It
// stops with the test.
func (r *rig) startManager(awsURL string) {
	t := r.t
	t.Helper()
	ctrl.SetLogger(zap.New(zap.WriteTo(testworld.ControllerLogWriter()), zap.UseDevMode(true)))
	o := managertest.Options(t, r.w)
	o.AWS = awsclient.Options{
		Region: "us-east-1", EndpointURL: awsURL, StaticCredentials: &testworld.EmulatorCredentials,
		MaxAttempts: 10, MaxBackoff: 2 * time.Second,
	}
	o.ACMEEmail = "ops@faults.test"
	o.IssuanceWorkers = 16
	o.ResyncPeriod = 10 * time.Minute
	o.Clock = clock.RealClock{}
	// Production Route53 snapshot and batching, and the ACME package's propagation timing.
	o.Route53 = records.Options{}
	o.PropagationTimeout, o.PropagationInterval = 0, 0
	managertest.Start(t, r.w.RESTConfig, o)
}

// site is site i of the zone: a backend record and an ACME certificate; static sites also get a
// bucket and a distribution.
func site(ns, zone string, i int, static bool) *v1alpha1.SecureSite {
	domain := fmt.Sprintf("s%03d.%s", i, zone)
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("site-%03d", i)},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:      domain,
			Backend:     &v1alpha1.BackendSpec{Hostname: "api." + domain, Address: fmt.Sprintf("203.0.113.%d", i%250+1)},
			Certificate: v1alpha1.CertificateSpec{Issuer: v1alpha1.IssuerACME},
		},
	}
	if static {
		s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
	}
	return s
}

func (r *rig) createNamespace(name string) {
	r.t.Helper()
	if err := r.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) mustCreate(obj client.Object) {
	r.t.Helper()
	if err := r.k8s.Create(context.Background(), obj); err != nil {
		r.t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

func ready(s *v1alpha1.SecureSite) bool {
	c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation
}

// waitConverged waits until the namespace holds exactly the sites in want, each Ready for its
// current generation (deleted sites must be gone), and returns them by name.
func (r *rig) waitConverged(ns string, want []string, timeout time.Duration) map[string]v1alpha1.SecureSite {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		got, pending := r.sitesAndPending(ns)
		for _, name := range want {
			if _, ok := got[name]; !ok {
				r.t.Fatalf("site %s disappeared", name)
			}
		}
		if len(pending) == 0 && len(got) == len(want) {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d sites not converged after %s:\n%s", len(pending)+len(got)-len(want), len(got), timeout,
				strings.Join(notConvergedDetail(got, pending), "\n"))
		}
		if time.Since(lastLog) > 30*time.Second {
			r.t.Logf("%d sites, %d not Ready yet", len(got), len(pending))
			lastLog = time.Now()
		}
		time.Sleep(time.Second)
	}
}

// sitesAndPending lists the namespace's sites by name, and the names of those not Ready yet.
func (r *rig) sitesAndPending(ns string) (map[string]v1alpha1.SecureSite, []string) {
	r.t.Helper()
	var list v1alpha1.SecureSiteList
	if err := r.k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		r.t.Fatal(err)
	}
	got := map[string]v1alpha1.SecureSite{}
	var pending []string
	for _, s := range list.Items {
		got[s.Name] = s
		if !ready(&s) {
			pending = append(pending, s.Name)
		}
	}
	return got, pending
}

// notConvergedDetail says why each pending site is not converged: its conditions that are not
// True (Reconciling and Stalled aside), and whether it is still being deleted.
func notConvergedDetail(got map[string]v1alpha1.SecureSite, pending []string) []string {
	var detail []string
	for _, name := range pending {
		s := got[name]
		for _, c := range s.Status.Conditions {
			if c.Status != metav1.ConditionTrue && c.Type != v1alpha1.ConditionReconciling && c.Type != v1alpha1.ConditionStalled {
				detail = append(detail, fmt.Sprintf("%s %s=%s %s: %s", name, c.Type, c.Status, c.Reason, c.Message))
			}
		}
		if s.DeletionTimestamp != nil {
			detail = append(detail, name+" still deleting")
		}
	}
	return detail
}

func (r *rig) deleteSite(ns, name string) {
	r.t.Helper()
	err := r.k8s.Delete(context.Background(), &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	if err != nil && !apierrors.IsNotFound(err) {
		r.t.Fatal(err)
	}
}

// inventory is what the emulator holds, read without the fault proxy.
type inventory struct {
	distributions map[string][]string // comment → ids
	oacs          map[string][]string // name → ids
	// certs are ARNs, tied to the sites by their count and the ARNs in the sites' status.
	certs   []string
	buckets []string
	records []string // "TYPE name value", SOA and NS left out
}

func (r *rig) inventory() inventory {
	r.t.Helper()
	ctx := context.Background()
	return inventory{
		distributions: r.distributionsByComment(ctx),
		oacs:          r.originAccessControlsByName(ctx),
		certs:         r.acmCertificateARNs(ctx),
		buckets:       r.bucketNames(ctx),
		records:       r.recordsOfTheZone(ctx),
	}
}

func (r *rig) distributionsByComment(ctx context.Context) map[string][]string {
	out := map[string][]string{}
	dp := cf.NewListDistributionsPaginator(r.cf, &cf.ListDistributionsInput{})
	for dp.HasMorePages() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			r.t.Fatalf("ListDistributions: %v", err)
		}
		for _, d := range page.DistributionList.Items {
			out[aws.ToString(d.Comment)] = append(out[aws.ToString(d.Comment)], aws.ToString(d.Id))
		}
	}
	return out
}

func (r *rig) originAccessControlsByName(ctx context.Context) map[string][]string {
	out := map[string][]string{}
	oacs, err := r.cf.ListOriginAccessControls(ctx, &cf.ListOriginAccessControlsInput{MaxItems: aws.Int32(1000)})
	if err != nil {
		r.t.Fatalf("ListOriginAccessControls: %v", err)
	}
	for _, o := range oacs.OriginAccessControlList.Items {
		out[aws.ToString(o.Name)] = append(out[aws.ToString(o.Name)], aws.ToString(o.Id))
	}
	return out
}

func (r *rig) acmCertificateARNs(ctx context.Context) []string {
	var arns []string
	cp := acmsdk.NewListCertificatesPaginator(r.acm, &acmsdk.ListCertificatesInput{})
	for cp.HasMorePages() {
		page, err := cp.NextPage(ctx)
		if err != nil {
			r.t.Fatalf("ListCertificates: %v", err)
		}
		for _, c := range page.CertificateSummaryList {
			arns = append(arns, aws.ToString(c.CertificateArn))
		}
	}
	return arns
}

// bucketNames are the buckets, sorted.
func (r *rig) bucketNames(ctx context.Context) []string {
	buckets, err := r.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		r.t.Fatalf("ListBuckets: %v", err)
	}
	var names []string
	for _, b := range buckets.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	sort.Strings(names)
	return names
}

// recordsOfTheZone are the zone's record sets as "TYPE name value", SOA and NS left out.
func (r *rig) recordsOfTheZone(ctx context.Context) []string {
	var out []string
	rp := r53.NewListResourceRecordSetsPaginator(r.r53, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(r.zoneID)})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			r.t.Fatalf("ListResourceRecordSets: %v", err)
		}
		for _, rs := range page.ResourceRecordSets {
			if rs.Type == "SOA" || rs.Type == "NS" {
				continue
			}
			out = append(out, recordLine(rs))
		}
	}
	return out
}

// recordLine is a record set as "TYPE name value[,value…]" (an alias as alias:<target>), the name
// lowercase without its trailing dot.
func recordLine(rs r53types.ResourceRecordSet) string {
	name := strings.ToLower(strings.TrimSuffix(aws.ToString(rs.Name), "."))
	var vals []string
	for _, v := range rs.ResourceRecords {
		vals = append(vals, aws.ToString(v.Value))
	}
	if rs.AliasTarget != nil {
		vals = append(vals, "alias:"+aws.ToString(rs.AliasTarget.DNSName))
	}
	return fmt.Sprintf("%s %s %s", rs.Type, name, strings.Join(vals, ","))
}

func (r *rig) countObjects(bucket string) int {
	r.t.Helper()
	n := 0
	p := s3.NewListObjectsV2Paginator(r.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			r.t.Fatalf("listing %s: %v", bucket, err)
		}
		n += len(page.Contents)
	}
	return n
}

func (r *rig) putObjects(bucket, prefix string, n int) {
	r.t.Helper()
	testworld.Parallel(n, 16, func(i int) {
		key := fmt.Sprintf("%s/%04d.html", prefix, i)
		_, err := r.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("<p>" + key)})
		if err != nil {
			r.t.Errorf("PutObject %s/%s: %v", bucket, key, err)
		}
	})
	if r.t.Failed() {
		r.t.FailNow()
	}
}
