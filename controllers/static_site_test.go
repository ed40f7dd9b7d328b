package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	cf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/testworld"
)

// rawAWS are uncounted SDK clients on the AWS emulator, used the way a human with the console or the CLI
// would: to check what the controller made and to change it behind its back.
type rawAWS struct {
	acm      *acm.Client
	s3       *s3.Client
	cf       *cf.Client
	emulator *testworld.Emulator
}

func newRawAWS(e *env) rawAWS {
	cfg := e.w.AWS.RawAWSConfig()
	return rawAWS{
		acm: acm.NewFromConfig(cfg),
		// The emulator serves every bucket on one host:port, so virtual-hosted names cannot work.
		s3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		cf:       cf.NewFromConfig(cfg),
		emulator: e.w.AWS,
	}
}

func (a rawAWS) bucketExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := a.s3.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(name)})
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return false
	}
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusMovedPermanently {
		return true // there, in another region than this client's (S3's 301)
	}
	if err != nil {
		t.Fatalf("HeadBucket %s: %v", name, err)
	}
	return true
}

func (a rawAWS) put(t *testing.T, bucket, key, body string) {
	t.Helper()
	_, err := a.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
}

func (a rawAWS) keys(t *testing.T, bucket string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(a.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

func (a rawAWS) distConfig(t *testing.T, id string) (*cftypes.DistributionConfig, string) {
	t.Helper()
	out, err := a.cf.GetDistributionConfig(context.Background(), &cf.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil {
		t.Fatalf("GetDistributionConfig %s: %v", id, err)
	}
	return out.DistributionConfig, aws.ToString(out.ETag)
}

func (a rawAWS) distributionGone(t *testing.T, id string) bool {
	t.Helper()
	_, err := a.cf.GetDistribution(context.Background(), &cf.GetDistributionInput{Id: aws.String(id)})
	if awsclient.ErrorCode(err) == "NoSuchDistribution" {
		return true
	}
	if err != nil {
		t.Fatalf("GetDistribution %s: %v", id, err)
	}
	return false
}

// hasEdge reports whether the emulator serves distributions (kumo's edge does; moto has no
// CloudFront data plane, so the checks through the edge run on kumo only).
func (a rawAWS) hasEdge(t *testing.T) bool {
	t.Helper()
	if !a.emulator.HasEdge() {
		t.Logf("%s has no CloudFront edge: what the distribution serves is checked on kumo only", a.emulator.Name)
	}
	return a.emulator.HasEdge()
}

// edge fetches a path through kumo's CloudFront edge, which serves the distribution's S3 origin.
func (a rawAWS) edge(t *testing.T, distID, key string) (int, string) {
	t.Helper()
	resp, err := http.Get(a.emulator.EdgeURL(distID, key))
	if err != nil {
		t.Fatalf("edge GET %s: %v", key, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func staticSite(ns, name, domain string, mutate func(*v1alpha1.SecureSite)) *v1alpha1.SecureSite {
	return site(ns, name, domain, func(s *v1alpha1.SecureSite) {
		s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{SPAFallback: true}
		if mutate != nil {
			mutate(s)
		}
	})
}

func waitGone(e *env, ns, name string) {
	e.t.Helper()
	e.eventually(60*time.Second, "site deleted", func() string {
		err := e.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &v1alpha1.SecureSite{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		return fmt.Sprintf("still there (%v)", err)
	})
}

func allTrue(s *v1alpha1.SecureSite) string {
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionDNSReady, v1alpha1.ConditionCertificateReady,
		v1alpha1.ConditionBucketReady, v1alpha1.ConditionDistributionReady} {
		if c := condition(s, typ); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("%s: %+v", typ, c)
		}
	}
	for _, typ := range []string{v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
		if c := condition(s, typ); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Sprintf("%s: %+v", typ, c)
		}
	}
	return ""
}

func TestStaticSite(t *testing.T) {
	// Small migration passes (50 objects a page, 300ms a pass instead of 1,000 and 20s) so that a
	// 1,500-object copy spans many passes and the controller can be restarted in the middle.
	restore := controllers.SetCopyLimits(50, 300*time.Millisecond)
	t.Cleanup(restore) // runs after the manager stopped (cleanups run last-in first-out)
	e := startEnv(t)
	ctx := context.Background()
	a := newRawAWS(e)
	// Zones first: the controller caches the zone list (5 minutes), as it should in production.
	zone1 := e.w.CreateHostedZone(ctx, "site1.test")
	e.w.CreateHostedZone(ctx, "site2.test")
	zone3 := e.w.CreateHostedZone(ctx, "site3.test")

	t.Run("ACME site: bucket, OAC, distribution, alias records, edge, drift repair, delete under Retain", func(t *testing.T) {
		st := &staticSiteSteps{t: t, e: e, a: a, ctx: ctx, zoneID: zone1, ns: e.namespace("static")}
		s := st.createAndWaitReady()
		b, d, c := s.Status.Bucket, s.Status.Distribution, s.Status.Certificate
		st.checkOneACMImport()
		st.checkBucket(b, d)
		st.checkOAC(d)
		st.checkDistributionConfig(b, d, c)
		st.checkAliasRecords(d)
		st.checkEdgeServes(b, d)
		st.checkHandEditRepaired(d)
		st.checkDeleteUnderRetain(b, d)
	})
	t.Run("rename the bucket: 1,500 objects migrate across a controller restart", func(t *testing.T) {
		testBucketRename(t, e, a)
	})
	t.Run("deletionPolicy Delete: bucket goes with the site; wildcard names are not aliases", func(t *testing.T) {
		testDeletionPolicyDelete(t, e, a, zone3)
	})
}

// staticSiteSteps are the steps of the ACME static site's life, each a check a user relies on.
type staticSiteSteps struct {
	t      *testing.T
	e      *env
	a      rawAWS
	ctx    context.Context
	zoneID string
	ns     string
}

func (st *staticSiteSteps) createAndWaitReady() *v1alpha1.SecureSite {
	t, e, ns := st.t, st.e, st.ns
	e.create(staticSite(ns, "web", "site1.test", func(s *v1alpha1.SecureSite) {
		s.Spec.StaticSite.Region = "ap-northeast-2"
		s.Spec.Certificate.AdditionalDNSNames = []string{"www.site1.test"}
	}))

	// Mixed content: until the distribution serves the imported certificate, Ready says the
	// site endpoint is not secure yet.
	e.eventually(30*time.Second, "Ready names the insecure site endpoint", func() string {
		s := e.get(ns, "web")
		c := condition(s, v1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "not secure yet: site https://site1.test (CloudFront)") {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})

	start := time.Now()
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 90*time.Second)
	t.Logf("ACME static site Ready in %s", time.Since(start).Round(10*time.Millisecond))
	if msg := allTrue(s); msg != "" {
		t.Fatal(msg)
	}
	if s.Status.URLs == nil || s.Status.URLs.Site != "https://site1.test" {
		t.Fatalf("status.urls: %+v", s.Status.URLs)
	}
	b, d, c := s.Status.Bucket, s.Status.Distribution, s.Status.Certificate
	if b == nil || d == nil || c == nil || c.ACMCertificateARN == "" || d.ID == "" || d.ARN == "" {
		t.Fatalf("status incomplete: bucket %+v distribution %+v certificate %+v", b, d, c)
	}
	return s
}

func (st *staticSiteSteps) checkOneACMImport() {
	t, a, ctx := st.t, st.a, st.ctx
	// One import, even though wake-ups come in a row faster than the cache sees the status
	// the previous pass wrote (this is the first site in this kumo).
	certsList, err := a.acm.ListCertificates(ctx, &acm.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(certsList.CertificateSummaryList); n != 1 {
		t.Errorf("%d ACM certificates, want 1 (a pass working from a stale cache imported again)", n)
	}
}

func (st *staticSiteSteps) checkBucket(b *v1alpha1.BucketStatus, d *v1alpha1.DistributionStatus) {
	t, a, ctx, ns := st.t, st.a, st.ctx, st.ns
	// Bucket: region as asked (recorded in status and in the origin domain; kumo ignores
	// LocationConstraint, so the region cannot be checked from S3 itself), owner tag, public
	// access blocked, and a policy that lets only this distribution read.
	if b.Name != "site1-test" || b.Region != "ap-northeast-2" || b.RegionalDomainName != "site1-test.s3.ap-northeast-2.amazonaws.com" {
		t.Errorf("bucket status: %+v", b)
	}
	if !a.bucketExists(t, b.Name) {
		t.Fatalf("bucket %s missing", b.Name)
	}
	tags, err := a.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(b.Name)})
	if err != nil {
		t.Fatal(err)
	}
	owner := ""
	for _, tg := range tags.TagSet {
		if aws.ToString(tg.Key) == naming.TagOwner {
			owner = aws.ToString(tg.Value)
		}
	}
	if want := testOwnerID + "/" + ns + "/web"; owner != want {
		t.Errorf("owner tag %q, want %q", owner, want)
	}
	pab, err := a.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if p := pab.PublicAccessBlockConfiguration; !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) ||
		!aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
		t.Errorf("public access block: %+v", p)
	}
	assertOACPolicy(t, a, b.Name, d.ARN)
}

func (st *staticSiteSteps) checkOAC(d *v1alpha1.DistributionStatus) {
	t, a, ctx := st.t, st.a, st.ctx
	// Origin access control.
	oac, err := a.cf.GetOriginAccessControl(ctx, &cf.GetOriginAccessControlInput{Id: aws.String(d.OriginAccessControlID)})
	if err != nil {
		t.Fatalf("OAC %q: %v", d.OriginAccessControlID, err)
	}
	if oc := oac.OriginAccessControl.OriginAccessControlConfig; oc.OriginAccessControlOriginType != cftypes.OriginAccessControlOriginTypesS3 ||
		oc.SigningBehavior != cftypes.OriginAccessControlSigningBehaviorsAlways {
		t.Errorf("OAC config: %+v", oc)
	}
}

func (st *staticSiteSteps) checkDistributionConfig(b *v1alpha1.BucketStatus, d *v1alpha1.DistributionStatus, c *v1alpha1.CertificateStatus) {
	t, a := st.t, st.a
	// Distribution as stored in CloudFront.
	cfg, _ := a.distConfig(t, d.ID)
	if got := cfg.Aliases.Items; !slices.Equal(got, []string{"site1.test", "www.site1.test"}) {
		t.Errorf("aliases %v", got)
	}
	vc := cfg.ViewerCertificate
	if vc == nil || aws.ToString(vc.ACMCertificateArn) != c.ACMCertificateARN || vc.MinimumProtocolVersion != cftypes.MinimumProtocolVersionTLSv122021 ||
		vc.SSLSupportMethod != cftypes.SSLSupportMethodSniOnly {
		t.Errorf("viewer certificate %+v, want ACM %s TLSv1.2_2021 sni-only", vc, c.ACMCertificateARN)
	}
	if p := cfg.DefaultCacheBehavior.ViewerProtocolPolicy; p != cftypes.ViewerProtocolPolicyRedirectToHttps {
		t.Errorf("viewer protocol policy %s", p)
	}
	if o := cfg.Origins.Items; len(o) != 1 || aws.ToString(o[0].DomainName) != b.RegionalDomainName || aws.ToString(o[0].OriginAccessControlId) != d.OriginAccessControlID {
		t.Errorf("origins %+v", o)
	}
	if aws.ToString(cfg.DefaultRootObject) != "index.html" {
		t.Errorf("default root object %q", aws.ToString(cfg.DefaultRootObject))
	}
	// The SPA fallback as CloudFront stores it (kumo drops error responses; the test world's
	// normalising proxy keeps them, as AWS does).
	var spa []string
	if cfg.CustomErrorResponses != nil {
		for _, r := range cfg.CustomErrorResponses.Items {
			spa = append(spa, fmt.Sprintf("%d→%s %s", aws.ToInt32(r.ErrorCode), aws.ToString(r.ResponsePagePath), aws.ToString(r.ResponseCode)))
		}
	}
	slices.Sort(spa)
	if !slices.Equal(spa, []string{"403→/index.html 200", "404→/index.html 200"}) {
		t.Errorf("SPA error responses stored: %v", spa)
	}
}

func (st *staticSiteSteps) checkAliasRecords(d *v1alpha1.DistributionStatus) {
	t, e, zoneID := st.t, st.e, st.zoneID
	// Alias records to the distribution, for the domain and www.
	recs := e.records(zoneID)
	for _, name := range []string{"site1.test", "www.site1.test"} {
		for _, typ := range []string{"A", "AAAA"} {
			rs, ok := recs[typ+" "+name]
			if !ok || rs.AliasTarget == nil || aws.ToString(rs.AliasTarget.HostedZoneId) != "Z2FDTNDATAQYW2" ||
				!strings.EqualFold(strings.TrimSuffix(aws.ToString(rs.AliasTarget.DNSName), "."), d.DomainName) {
				at := rs.AliasTarget
				if at == nil {
					at = &r53types.AliasTarget{}
				}
				t.Errorf("%s %s: alias to %q in zone %q, want %s in Z2FDTNDATAQYW2", typ, name, aws.ToString(at.DNSName), aws.ToString(at.HostedZoneId), d.DomainName)
			}
		}
	}
}

func (st *staticSiteSteps) checkEdgeServes(b *v1alpha1.BucketStatus, d *v1alpha1.DistributionStatus) {
	t, a := st.t, st.a
	// An object put in the bucket is served through the CloudFront edge.
	a.put(t, b.Name, "index.html", "<h1>duckhoo</h1>")
	if a.hasEdge(t) {
		if code, body := a.edge(t, d.ID, "index.html"); code != http.StatusOK || body != "<h1>duckhoo</h1>" {
			t.Fatalf("edge: %d %q", code, body)
		}
	}
}

func (st *staticSiteSteps) checkHandEditRepaired(d *v1alpha1.DistributionStatus) {
	t, e, a, ctx, ns := st.t, st.e, st.a, st.ctx, st.ns
	// A hand edit in CloudFront is repaired on the next pass.
	cfg, etag := a.distConfig(t, d.ID)
	cfg.DefaultCacheBehavior.ViewerProtocolPolicy = cftypes.ViewerProtocolPolicyAllowAll
	if _, err := a.cf.UpdateDistribution(ctx, &cf.UpdateDistributionInput{Id: aws.String(d.ID), IfMatch: aws.String(etag), DistributionConfig: cfg}); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	if cfg, _ := a.distConfig(t, d.ID); cfg.DefaultCacheBehavior.ViewerProtocolPolicy != cftypes.ViewerProtocolPolicyAllowAll {
		t.Fatal("hand edit did not stick")
	}
	e.poke(ns, "web")
	e.eventually(30*time.Second, "viewer protocol policy repaired", func() string {
		if cfg, _ := a.distConfig(t, d.ID); cfg.DefaultCacheBehavior.ViewerProtocolPolicy != cftypes.ViewerProtocolPolicyRedirectToHttps {
			return string(cfg.DefaultCacheBehavior.ViewerProtocolPolicy)
		}
		return ""
	})
	e.eventually(10*time.Second, "event naming the repaired field", func() string {
		if ev := strings.Join(e.events(ns, "web"), "\n"); !strings.Contains(ev, "ViewerProtocolPolicy") {
			return ev
		}
		return ""
	})
	if s2 := e.get(ns, "web"); s2.Status.Distribution.ID != d.ID {
		t.Errorf("distribution replaced: %s → %s", d.ID, s2.Status.Distribution.ID)
	}
}

func (st *staticSiteSteps) checkDeleteUnderRetain(b *v1alpha1.BucketStatus, d *v1alpha1.DistributionStatus) {
	t, e, a, ctx, ns, zoneID := st.t, st.e, st.a, st.ctx, st.ns, st.zoneID
	// Delete under Retain: distribution disabled then deleted, alias records gone, bucket and
	// its objects kept.
	start := time.Now()
	if err := e.k8s.Delete(ctx, e.get(ns, "web")); err != nil {
		t.Fatal(err)
	}
	waitGone(e, ns, "web")
	t.Logf("deleted in %s", time.Since(start).Round(10*time.Millisecond))
	if !a.distributionGone(t, d.ID) {
		t.Error("distribution still exists")
	}
	if _, err := a.cf.GetOriginAccessControl(ctx, &cf.GetOriginAccessControlInput{Id: aws.String(d.OriginAccessControlID)}); err == nil {
		t.Error("origin access control left behind after delete")
	}
	e.eventually(10*time.Second, "DistributionDisabled and DistributionDeleted events", func() string {
		if ev := strings.Join(e.events(ns, "web"), "\n"); !strings.Contains(ev, "DistributionDisabled") || !strings.Contains(ev, "DistributionDeleted") {
			return ev
		}
		return ""
	})
	recs := e.records(zoneID)
	for _, k := range []string{"A site1.test", "AAAA site1.test", "A www.site1.test", "AAAA www.site1.test"} {
		if _, ok := recs[k]; ok {
			t.Errorf("%s still there after delete", k)
		}
	}
	if !a.bucketExists(t, b.Name) {
		t.Fatal("bucket deleted under Retain")
	}
	if got := a.keys(t, b.Name); !slices.Equal(got, []string{"index.html"}) {
		t.Errorf("objects after delete under Retain: %v", got)
	}
}

func testBucketRename(t *testing.T, e *env, a rawAWS) {
	ns := e.namespace("migrate")
	e.create(staticSite(ns, "web", "site2.test", func(s *v1alpha1.SecureSite) {
		s.Spec.StaticSite.Bucket = "site2-old"
	}))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	distID, distARN := s.Status.Distribution.ID, s.Status.Distribution.ARN

	const n = 1500
	putMany(t, a, "site2-old", n)

	before := awsclient.CallCount("S3", "CopyObject")
	start := time.Now()
	e.update(ns, "web", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "site2-new" })

	// Restart the controller while objects are being copied.
	var atRestart int64
	e.eventually(60*time.Second, "migration copying", func() string {
		m := e.get(ns, "web").Status.Bucket.Migration
		if m == nil || m.Phase != "Copying" || m.CopiedObjects == 0 {
			return fmt.Sprintf("%+v", m)
		}
		atRestart = m.CopiedObjects
		return ""
	})
	restartAt := time.Since(start)
	e.restartManager()
	t.Logf("controller restarted %s after the rename, %d/%d objects copied", restartAt.Round(10*time.Millisecond), atRestart, n)

	var m *v1alpha1.MigrationStatus
	e.eventually(120*time.Second, "migration done", func() string {
		s = e.get(ns, "web")
		m = s.Status.Bucket.Migration
		if m == nil || m.Phase != "Done" {
			return fmt.Sprintf("%+v", m)
		}
		return ""
	})
	took := time.Since(start)
	s = e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	copies := awsclient.CallCount("S3", "CopyObject") - before
	t.Logf("migration of %d objects: %s, %.0f CopyObject calls, status %d/%d copied", n, took.Round(10*time.Millisecond), copies, m.CopiedObjects, m.TotalObjects)

	checkMigrated(t, e, a, ns, s, m, copies, distID, distARN)
}

// checkMigrated checks the outcome of the rename: every object copied once, the same
// distribution serving the new bucket, the old bucket kept under Retain.
// distID and distARN are the distribution's before the rename.
func checkMigrated(t *testing.T, e *env, a rawAWS, ns string, s *v1alpha1.SecureSite, m *v1alpha1.MigrationStatus, copies float64, distID, distARN string) {
	const n = 1500
	if m.From != "site2-old" || m.To != "site2-new" || m.TotalObjects != n || m.CopiedObjects != n {
		t.Errorf("migration status %+v, want %d/%d from site2-old to site2-new", m, n, n)
	}
	if copies < n || copies > n+5 {
		t.Errorf("%.0f CopyObject calls for %d objects: a resumed migration must not copy again what is there", copies, n)
	}
	if got := a.keys(t, "site2-new"); len(got) != n {
		t.Errorf("new bucket holds %d objects, want %d", len(got), n)
	}
	if got := a.keys(t, "site2-old"); len(got) != n {
		t.Errorf("old bucket (Retain) holds %d objects, want %d", len(got), n)
	}
	if s.Status.Bucket.Name != "site2-new" || s.Status.Distribution.ID != distID {
		t.Errorf("after migration: bucket %s, distribution %s (was %s)", s.Status.Bucket.Name, s.Status.Distribution.ID, distID)
	}
	cfg, _ := a.distConfig(t, distID)
	if o := aws.ToString(cfg.Origins.Items[0].DomainName); o != "site2-new.s3.us-east-1.amazonaws.com" {
		t.Errorf("origin %s, want the new bucket", o)
	}
	assertOACPolicy(t, a, "site2-new", distARN)
	// Served from the new bucket through the same distribution.
	a.put(t, "site2-new", "only-in-new.txt", "new")
	if a.hasEdge(t) {
		if code, body := a.edge(t, distID, "only-in-new.txt"); code != http.StatusOK || body != "new" {
			t.Errorf("edge after the origin switch: %d %q", code, body)
		}
	}
	// Done stays on record across later passes.
	e.poke(ns, "web")
	time.Sleep(2 * time.Second)
	if m := e.get(ns, "web").Status.Bucket.Migration; m == nil || m.Phase != "Done" {
		t.Errorf("migration record after another pass: %+v", m)
	}
}

func testDeletionPolicyDelete(t *testing.T, e *env, a rawAWS, zoneID string) {
	ctx := context.Background()
	ns := e.namespace("static-del")
	e.create(staticSite(ns, "web", "site3.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.AdditionalDNSNames = []string{"*.site3.test"}
		s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	}))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	d, bucket := s.Status.Distribution, s.Status.Bucket.Name
	if cfg, _ := a.distConfig(t, d.ID); !slices.Equal(cfg.Aliases.Items, []string{"site3.test"}) {
		t.Errorf("aliases %v, want only site3.test", cfg.Aliases.Items)
	}
	if _, ok := e.records(zoneID)["A *.site3.test"]; ok {
		t.Error("alias record for a wildcard name")
	}
	a.put(t, bucket, "index.html", "x")
	if err := e.k8s.Delete(ctx, e.get(ns, "web")); err != nil {
		t.Fatal(err)
	}
	waitGone(e, ns, "web")
	if a.bucketExists(t, bucket) {
		t.Error("bucket kept under deletionPolicy Delete")
	}
	if !a.distributionGone(t, d.ID) {
		t.Error("distribution still exists")
	}
	if _, ok := e.records(zoneID)["A site3.test"]; ok {
		t.Error("alias record still there")
	}
}

// assertOACPolicy checks that the bucket policy lets CloudFront read objects on behalf of this
// distribution only.
func assertOACPolicy(t *testing.T, a rawAWS, bucket, distARN string) {
	t.Helper()
	out, err := a.s3.GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("bucket policy of %s: %v", bucket, err)
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ Service string }
			Action    string
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
		t.Fatalf("policy of %s: %v: %s", bucket, err, aws.ToString(out.Policy))
	}
	for _, st := range doc.Statement {
		if st.Effect == "Allow" && st.Principal.Service == "cloudfront.amazonaws.com" && st.Action == "s3:GetObject" &&
			st.Resource == "arn:aws:s3:::"+bucket+"/*" && st.Condition["StringEquals"]["AWS:SourceArn"] == distARN {
			return
		}
	}
	t.Errorf("policy of %s does not grant s3:GetObject to CloudFront for %s: %s", bucket, distARN, aws.ToString(out.Policy))
}

// putMany fills a bucket with n small objects, in parallel.
func putMany(t *testing.T, a rawAWS, bucket string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	keys := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range keys {
				_, err := a.s3.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("assets/%05d.js", i)),
					Body: bytes.NewReader([]byte(fmt.Sprintf("console.log(%d)", i))),
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("filling %s: %v", bucket, err)
	}
}
