package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/testworld"
)

// awsWrites counts every AWS call of the controller that changes something, by
// "service operation" (reads are Get*, List*, Head* and Describe*).
func awsWrites() map[string]float64 {
	out := map[string]float64{}
	for _, c := range awsclient.CallSamples() {
		op := c.Operation
		if strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Head") || strings.HasPrefix(op, "Describe") {
			continue
		}
		out[c.Service+" "+op] += c.Count
	}
	return out
}

// importCertificate imports a self-signed certificate for name into ACM, tagged as owner's the way
// another team's controller would, and returns its ARN and PEM.
func (a rawAWS) importCertificate(t *testing.T, name, owner string) (string, string) {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned([]string{name}, certs.KeySpec{Algorithm: "ECDSA", Size: 256}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.acm.ImportCertificate(context.Background(), &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM,
		Tags: []acmtypes.Tag{{Key: aws.String(naming.TagOwner), Value: aws.String(owner)}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.CertificateArn), string(certPEM)
}

// labelNamespace sets labels on a namespace (what a class's namespaceSelector matches).
func (e *env) labelNamespace(ns string, labels map[string]string) {
	e.t.Helper()
	obj := &corev1.Namespace{}
	if err := e.k8s.Get(context.Background(), types.NamespacedName{Name: ns}, obj); err != nil {
		e.t.Fatal(err)
	}
	obj.Labels = labels
	if err := e.k8s.Update(context.Background(), obj); err != nil {
		e.t.Fatal(err)
	}
}

func withClass(class string, s *v1alpha1.SecureSite) *v1alpha1.SecureSite {
	s.Spec.ClassName = class
	return s
}

func teamClass(name, team string, domains ...string) *v1alpha1.SecureSiteClass {
	return &v1alpha1.SecureSiteClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.SecureSiteClassSpec{
			NamespaceSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
			Domains:              domains,
			BucketPrefix:         name + "-",
			SecretsManagerPrefix: name + "/",
		},
	}
}

// TestSharingACluster: two teams, two namespaces, two classes on one cluster and one AWS account.
// Each attack of issue 12 is refused with NotPermitted (or a conflict) and writes nothing in AWS.
func TestSharingACluster(t *testing.T) {
	c := startSharedCluster(t)
	t.Run("no class, no AWS writes; a class granted later applies", c.noClassNoWritesThenAGrantedClassApplies)
	t.Run("static site of team b", c.staticSiteOfTeamB)

	// Everything below is refused; the controller writes nothing in AWS while it decides so.
	before := awsWrites()
	for _, a := range c.attacks() {
		t.Run(a.name, func(t *testing.T) {
			c.e.create(a.make())
			c.notPermitted(t, a.ns, a.site, a.want...)
		})
	}
	t.Run("an AAAA beside another site's A", c.aaaaBesideAnotherSitesA)
	t.Run("a certificate for a name another site holds", c.certificateForANameAnotherSiteHolds)
	t.Run("an ACME server the class did not choose", c.acmeServerTheClassDidNotChoose)
	t.Run("a status edit aiming at another team's bucket", c.statusEditAimingAtAnotherTeamsBucket)
	t.Run("a status edit aiming at another team's ACM certificate", c.statusEditsAimingAtAnotherTeamsCertificate)
	t.Run("nothing was written in AWS for any refused site", func(t *testing.T) {
		time.Sleep(2 * time.Second) // a late pass would show here
		d := testworld.CountDiff(awsWrites(), before)
		if len(d) > 0 {
			t.Errorf("AWS writes while the attacks were refused: %v", d)
		}
	})
	t.Run("deleting a site whose status names another team's ACM certificate", c.deletingASiteWhoseStatusNamesAForeignCertificate)
	t.Run("taking a just-released name", c.takingAJustReleasedName)
}

// sharedCluster is TestSharingACluster's world: one controller, a public zone and a private zone
// of the same name, and the namespaces of teams a and b (no class yet).
type sharedCluster struct {
	e                     *env
	raw                   rawAWS
	ownerID               string
	zoneID, privateZoneID string
	nsA, nsB              string
	// foreignCert is team a's ACM certificate that team b's status edits aim at.
	foreignCert, foreignCertPEM, foreignCertOwner string
}

func startSharedCluster(t *testing.T) *sharedCluster {
	const ownerID = "cluster-1"
	e := startTenancyEnv(t, manager.TenancyOptions{OwnerID: ownerID, NameHold: time.Hour, ReservedNames: []string{"@", "www"}},
		nil, testworld.WithoutDefaultClass())
	ctx := context.Background()
	c := &sharedCluster{e: e, raw: newRawAWS(e), ownerID: ownerID}
	c.zoneID = e.w.CreateHostedZone(ctx, "tenancy.test")
	// The same name as a private zone: a VPC's internal view that no tenant may write.
	priv, err := e.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String("tenancy.test"), CallerReference: aws.String(fmt.Sprint("private-", time.Now().UnixNano())),
		HostedZoneConfig: &r53types.HostedZoneConfig{PrivateZone: true},
		VPC:              &r53types.VPC{VPCId: aws.String("vpc-0123456789abcdef0"), VPCRegion: r53types.VPCRegionUsEast1},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.privateZoneID = strings.TrimPrefix(aws.ToString(priv.HostedZone.Id), "/hostedzone/")
	c.nsA, c.nsB = e.namespace("team-a"), e.namespace("team-b")
	e.labelNamespace(c.nsA, map[string]string{"team": "a"})
	e.labelNamespace(c.nsB, map[string]string{"team": "b"})
	return c
}

// owner is the ownership mark of a site of namespace ns.
func (c *sharedCluster) owner(ns, name string) string { return c.ownerID + "/" + ns + "/" + name }

// notPermitted waits for the site to be Stalled NotPermitted with a message that says each of
// wantInMessage, and checks Ready gives the same reason.
func (c *sharedCluster) notPermitted(t *testing.T, ns, name string, wantInMessage ...string) {
	t.Helper()
	s := c.e.waitCondition(ns, name, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonNotPermitted, 30*time.Second)
	msg := condition(s, v1alpha1.ConditionStalled).Message
	for _, w := range wantInMessage {
		if !strings.Contains(msg, w) {
			t.Errorf("%s/%s: NotPermitted message %q does not say %q", ns, name, msg, w)
		}
	}
	if cond := condition(s, v1alpha1.ConditionReady); cond.Reason != v1alpha1.ReasonNotPermitted {
		t.Errorf("%s/%s Ready: %+v", ns, name, cond)
	}
}

// noClassNoWritesThenAGrantedClassApplies: team a's backend on a name both teams may use is
// refused while no class applies, then claims the name once a class grants it.
func (c *sharedCluster) noClassNoWritesThenAGrantedClassApplies(t *testing.T) {
	e := c.e
	before := awsWrites()
	e.create(backendSite(c.nsA, "a-api", "a.tenancy.test", "api.shared.tenancy.test", "203.0.113.10"))
	c.notPermitted(t, c.nsA, "a-api", "no SecureSiteClass applies")
	if d := testworld.CountDiff(awsWrites(), before); len(d) > 0 {
		t.Errorf("AWS writes without a class: %v", d)
	}
	for _, class := range []*v1alpha1.SecureSiteClass{
		teamClass("team-a", "a", "a.tenancy.test", "shared.tenancy.test"),
		teamClass("team-b", "b", "b.tenancy.test", "shared.tenancy.test"),
	} {
		if err := e.k8s.Create(context.Background(), class); err != nil {
			t.Fatal(err)
		}
	}
	e.update(c.nsA, "a-api", func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "team-a" })
	e.waitCondition(c.nsA, "a-api", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	recs := e.records(c.zoneID)
	if got := values(recs["TXT _securesite-a.api.shared.tenancy.test"]); len(got) != 1 || !strings.Contains(got[0], "owner="+c.owner(c.nsA, "a-api")) {
		t.Errorf("ownership record %v does not carry the owner id", got)
	}
}

func (c *sharedCluster) staticSiteOfTeamB(*testing.T) {
	c.e.create(staticSite(c.nsB, "b-static", "static.b.tenancy.test", func(s *v1alpha1.SecureSite) {
		s.Spec.ClassName = "team-b"
		s.Spec.StaticSite.Bucket = "team-b-static"
	}))
	c.e.waitCondition(c.nsB, "b-static", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
}

// attack is a site its class does not allow, and what its NotPermitted message must say.
type attack struct {
	name, ns, site string
	make           func() *v1alpha1.SecureSite
	want           []string
}

func (c *sharedCluster) attacks() []attack {
	nsA, nsB := c.nsA, c.nsB
	return []attack{
		{"wildcard of a parent", nsA, "wild", func() *v1alpha1.SecureSite {
			return site(nsA, "wild", "a.tenancy.test", func(s *v1alpha1.SecureSite) {
				s.Spec.ClassName = "team-a"
				s.Spec.Certificate.AdditionalDNSNames = []string{"*.tenancy.test"}
			})
		}, []string{"spec.certificate.additionalDNSNames[0] *.tenancy.test", "SecureSiteClass team-a", "wildcard"}},
		{"a name outside the class", nsA, "outside", func() *v1alpha1.SecureSite {
			return site(nsA, "outside", "b.tenancy.test", func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "team-a" })
		}, []string{"spec.domain b.tenancy.test is not in SecureSiteClass team-a's domains"}},
		{"another team's class", nsB, "borrowed", func() *v1alpha1.SecureSite {
			return site(nsB, "borrowed", "a.tenancy.test", func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "team-a" })
		}, []string{"namespace " + nsB + " is not selected by SecureSiteClass team-a"}},
		{"the zone apex, above the class's names", nsA, "apex", func() *v1alpha1.SecureSite {
			return site(nsA, "apex", "a.tenancy.test", func(s *v1alpha1.SecureSite) {
				s.Spec.ClassName = "team-a"
				s.Spec.Certificate.AdditionalDNSNames = []string{"www.shared.tenancy.test", "tenancy.test"}
			})
		}, []string{"spec.certificate.additionalDNSNames[1] tenancy.test is not in SecureSiteClass team-a's domains"}},
		{"a private zone not listed", nsA, "private", func() *v1alpha1.SecureSite {
			s := backendSite(nsA, "private", "a.tenancy.test", "internal.a.tenancy.test", "10.0.0.10")
			s.Spec.ClassName = "team-a"
			s.Spec.HostedZoneID = c.privateZoneID
			s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
			return s
		}, []string{"spec.hostedZoneID " + c.privateZoneID + " is a private hosted zone", "SecureSiteClass team-a"}},
		{"a bucket outside the prefix", nsB, "bucket", func() *v1alpha1.SecureSite {
			return staticSite(nsB, "bucket", "www2.b.tenancy.test", func(s *v1alpha1.SecureSite) {
				s.Spec.ClassName = "team-b"
				s.Spec.StaticSite.Bucket = "team-a-assets"
			})
		}, []string{"spec.staticSite.bucket team-a-assets", `bucketPrefix "team-b-"`}},
		{"an export outside the prefix", nsB, "export", func() *v1alpha1.SecureSite {
			return site(nsB, "export", "b.tenancy.test", func(s *v1alpha1.SecureSite) {
				s.Spec.ClassName = "team-b"
				s.Spec.Certificate.Export = &v1alpha1.CertificateExport{SecretsManager: &v1alpha1.SecretsManagerExport{Name: "team-a/api"}}
			})
		}, []string{"team-a/api", `secretsManagerPrefix "team-b/"`}},
	}
}

func (c *sharedCluster) aaaaBesideAnotherSitesA(t *testing.T) {
	e := c.e
	e.create(withClass("team-b", backendSite(c.nsB, "b-api6", "b.tenancy.test", "api.shared.tenancy.test", "2001:db8::10")))
	s := e.waitCondition(c.nsB, "b-api6", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if msg := condition(s, v1alpha1.ConditionDNSReady).Message; !strings.Contains(msg, "is owned by SecureSite "+c.owner(c.nsA, "a-api")) {
		t.Errorf("conflict message: %q", msg)
	}
	if _, ok := e.records(c.zoneID)["AAAA api.shared.tenancy.test"]; ok {
		t.Error("an AAAA record was written beside team a's A")
	}
}

// certificateForANameAnotherSiteHolds: both classes grant shared.tenancy.test, but team a's site
// holds api.shared.tenancy.test: team b gets no certificate for it, and no DNS-01 record is
// written for it.
func (c *sharedCluster) certificateForANameAnotherSiteHolds(t *testing.T) {
	e := c.e
	e.create(site(c.nsB, "b-cert", "b.tenancy.test", func(s *v1alpha1.SecureSite) {
		s.Spec.ClassName = "team-b"
		s.Spec.Certificate.AdditionalDNSNames = []string{"api.shared.tenancy.test"}
	}))
	s := e.waitCondition(c.nsB, "b-cert", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if msg := condition(s, v1alpha1.ConditionCertificateReady).Message; !strings.Contains(msg, "not ordering a certificate: api.shared.tenancy.test is owned by SecureSite "+c.owner(c.nsA, "a-api")) {
		t.Errorf("CertificateReady message: %q", msg)
	}
}

func (c *sharedCluster) acmeServerTheClassDidNotChoose(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "securesite.io/v1alpha1", "kind": "SecureSite",
		"metadata": map[string]any{"namespace": c.nsB, "name": "own-ca"},
		"spec": map[string]any{"domain": "b.tenancy.test", "className": "team-b",
			"certificate": map[string]any{"acme": map[string]any{"server": "https://acme.evil.example/directory"}}},
	}}
	err := c.e.k8s.Create(context.Background(), u, client.FieldValidation("Strict"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.certificate.acme"`) {
		t.Errorf("a site naming its own ACME server: %v, want refused at apply (unknown field)", err)
	}
}

// statusEditAimingAtAnotherTeamsBucket: team b's status is edited to name team a's bucket, which
// holds objects; the site stalls and nothing is written to that bucket.
func (c *sharedCluster) statusEditAimingAtAnotherTeamsBucket(t *testing.T) {
	e, raw, ctx := c.e, c.raw, context.Background()
	foreign := "team-a-private"
	if _, err := raw.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(foreign)}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(foreign), Tagging: &s3types.Tagging{TagSet: []s3types.Tag{
		{Key: aws.String("securesite.io/owner"), Value: aws.String(c.owner(c.nsA, "a-private"))}}}}); err != nil {
		t.Fatal(err)
	}
	raw.put(t, foreign, "payroll.csv", "secret")
	beforeEdit := awsWrites()
	cur := e.get(c.nsB, "b-static")
	edited := cur.DeepCopy()
	edited.Status.Bucket.Name = foreign
	if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
		t.Fatal(err)
	}
	e.poke(c.nsB, "b-static")
	c.notPermitted(t, c.nsB, "b-static", "status.bucket.name names bucket team-a-private", c.owner(c.nsA, "a-private"))
	if d := testworld.CountDiff(awsWrites(), beforeEdit); len(d) > 0 {
		t.Errorf("AWS writes after the status edit: %v", d)
	}
	if _, err := raw.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(foreign)}); err == nil {
		t.Error("a bucket policy was written to the foreign bucket")
	}
}

// statusEditsAimingAtAnotherTeamsCertificate: status could send the ACM phase to re-import over
// another team's certificate (a serial that differs from the one it holds) or retireACM and
// deletion to delete it. Each edit leaves the site stalled on a foreign object, so no pass in
// between writes.
func (c *sharedCluster) statusEditsAimingAtAnotherTeamsCertificate(t *testing.T) {
	c.foreignCertOwner = c.owner(c.nsA, "a-cert")
	c.foreignCert, c.foreignCertPEM = c.raw.importCertificate(t, "cert.a.tenancy.test", c.foreignCertOwner)
	own := *c.e.get(c.nsB, "b-static").Status.Certificate
	c.statusEditStallsOnTheForeignCertificate(t, "status.certificate.acmCertificateARN", func(s *v1alpha1.CertificateStatus) {
		s.ACMCertificateARN, s.ACMImportedSerial = c.foreignCert, ""
	})
	c.statusEditStallsOnTheForeignCertificate(t, "status.certificate.acmRetiredCertificateARNs[0]", func(s *v1alpha1.CertificateStatus) {
		s.ACMCertificateARN, s.ACMImportedSerial = own.ACMCertificateARN, own.ACMImportedSerial
		s.ACMRetiredCertificateARNs = []string{c.foreignCert}
	})
}

// statusEditStallsOnTheForeignCertificate edits team b's certificate status: the site must stall
// NotPermitted naming field, with no AWS write and team a's certificate as it was imported.
func (c *sharedCluster) statusEditStallsOnTheForeignCertificate(t *testing.T, field string, edit func(*v1alpha1.CertificateStatus)) {
	t.Helper()
	e, ctx := c.e, context.Background()
	beforeEdit := awsWrites()
	cur := e.get(c.nsB, "b-static")
	edited := cur.DeepCopy()
	edited.Status.Bucket.Name = "team-b-static" // the bucket edit above, put back
	edit(edited.Status.Certificate)
	if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
		t.Fatal(err)
	}
	e.poke(c.nsB, "b-static")
	want := field + " names ACM certificate " + c.foreignCert
	e.eventually(30*time.Second, "Stalled naming "+field, func() string {
		cond := condition(e.get(c.nsB, "b-static"), v1alpha1.ConditionStalled)
		if cond.Reason != v1alpha1.ReasonNotPermitted || !strings.Contains(cond.Message, want) || !strings.Contains(cond.Message, c.foreignCertOwner) {
			return fmt.Sprintf("%s %q", cond.Reason, cond.Message)
		}
		return ""
	})
	if d := testworld.CountDiff(awsWrites(), beforeEdit); len(d) > 0 {
		t.Errorf("AWS writes after the %s edit: %v", field, d)
	}
	got, err := c.raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(c.foreignCert)})
	if err != nil || strings.TrimSpace(aws.ToString(got.Certificate)) != strings.TrimSpace(c.foreignCertPEM) {
		t.Errorf("after the %s edit the foreign certificate is not as team a imported it (%v)", field, err)
	}
}

// deletingASiteWhoseStatusNamesAForeignCertificate: the edits above left team b's site with its
// own certificate current and team a's recorded as retiring; deleting the site deletes its own
// certificate only, and says so in an event.
func (c *sharedCluster) deletingASiteWhoseStatusNamesAForeignCertificate(t *testing.T) {
	e, raw, ctx := c.e, c.raw, context.Background()
	s := e.get(c.nsB, "b-static")
	own, retired := s.Status.Certificate.ACMCertificateARN, s.Status.Certificate.ACMRetiredCertificateARNs
	if len(retired) != 1 {
		t.Fatalf("status %+v: want team a's certificate recorded as retiring", s.Status.Certificate)
	}
	foreign := retired[0]
	before, err := raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(foreign)})
	if err != nil || own == "" || own == foreign {
		t.Fatalf("status %+v, foreign certificate: %v", s.Status.Certificate, err)
	}
	if err := e.k8s.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitGone(e, c.nsB, "b-static")
	after, err := raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(foreign)})
	if err != nil || aws.ToString(after.Certificate) != aws.ToString(before.Certificate) {
		t.Errorf("team a's ACM certificate after team b's site was deleted: %v", err)
	}
	if _, err := raw.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(own)}); awsclient.ErrorCode(err) != "ResourceNotFoundException" {
		t.Errorf("the site's own ACM certificate %s after its deletion: %v", own, err)
	}
	if ev := strings.Join(e.events(c.nsB, "b-static"), "\n"); !strings.Contains(ev, "status.certificate.acmRetiredCertificateARNs[0] names ACM certificate "+foreign) {
		t.Errorf("no event says the foreign certificate was left alone:\n%s", ev)
	}
}

// takingAJustReleasedName: team a deletes its backend; team b cannot take the name while it is
// held for team a, and can once the hold has passed.
func (c *sharedCluster) takingAJustReleasedName(t *testing.T) {
	e := c.e
	if err := e.k8s.Delete(context.Background(), e.get(c.nsA, "a-api")); err != nil {
		t.Fatal(err)
	}
	waitGone(e, c.nsA, "a-api")
	e.create(withClass("team-b", backendSite(c.nsB, "b-take", "b.tenancy.test", "api.shared.tenancy.test", "198.51.100.66")))
	s := e.waitCondition(c.nsB, "b-take", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if msg := condition(s, v1alpha1.ConditionDNSReady).Message; !strings.Contains(msg, "was released by SecureSite "+c.owner(c.nsA, "a-api")+" and is held for it until") {
		t.Errorf("conflict message: %q", msg)
	}
	if _, ok := e.records(c.zoneID)["A api.shared.tenancy.test"]; ok {
		t.Error("the released name was taken during its hold")
	}
	// Once the hold has passed, the name is free for another owner.
	e.clock.Advance(61 * time.Minute)
	e.poke(c.nsB, "b-take")
	e.eventually(30*time.Second, "the name taken after its hold", func() string {
		if v := values(e.records(c.zoneID)["A api.shared.tenancy.test"]); len(v) != 1 || v[0] != "198.51.100.66" {
			return fmt.Sprint(v)
		}
		return ""
	})
}
