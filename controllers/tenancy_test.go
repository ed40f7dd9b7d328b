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
	const ownerID = "cluster-1"
	e := startTenancyEnv(t, manager.TenancyOptions{OwnerID: ownerID, NameHold: time.Hour, ReservedNames: []string{"@", "www"}},
		nil, testworld.WithoutDefaultClass())
	ctx := context.Background()
	raw := newRawAWS(e)
	zoneID := e.w.CreateHostedZone(ctx, "tenancy.test")
	// The same name as a private zone: a VPC's internal view that no tenant may write.
	priv, err := e.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String("tenancy.test"), CallerReference: aws.String(fmt.Sprint("private-", time.Now().UnixNano())),
		HostedZoneConfig: &r53types.HostedZoneConfig{PrivateZone: true},
		VPC:              &r53types.VPC{VPCId: aws.String("vpc-0123456789abcdef0"), VPCRegion: r53types.VPCRegionUsEast1},
	})
	if err != nil {
		t.Fatal(err)
	}
	privateZoneID := strings.TrimPrefix(aws.ToString(priv.HostedZone.Id), "/hostedzone/")

	nsA, nsB := e.namespace("team-a"), e.namespace("team-b")
	e.labelNamespace(nsA, map[string]string{"team": "a"})
	e.labelNamespace(nsB, map[string]string{"team": "b"})

	notPermitted := func(ns, name string, wantInMessage ...string) {
		t.Helper()
		s := e.waitCondition(ns, name, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonNotPermitted, 30*time.Second)
		msg := condition(s, v1alpha1.ConditionStalled).Message
		for _, w := range wantInMessage {
			if !strings.Contains(msg, w) {
				t.Errorf("%s/%s: NotPermitted message %q does not say %q", ns, name, msg, w)
			}
		}
		if c := condition(s, v1alpha1.ConditionReady); c.Reason != v1alpha1.ReasonNotPermitted {
			t.Errorf("%s/%s Ready: %+v", ns, name, c)
		}
	}
	selfSigned := func(s *v1alpha1.SecureSite) { s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned }

	// A backend on a name both teams may use, claimed first by team a.
	sharedAPI := backendSite(nsA, "a-api", "a.tenancy.test", "api.shared.tenancy.test", "203.0.113.10")

	t.Run("no class, no AWS writes; a class granted later applies", func(t *testing.T) {
		before := awsWrites()
		e.create(sharedAPI)
		notPermitted(nsA, "a-api", "no SecureSiteClass applies")
		if d := testworld.CountDiff(awsWrites(), before); len(d) > 0 {
			t.Errorf("AWS writes without a class: %v", d)
		}
		for _, c := range []*v1alpha1.SecureSiteClass{
			teamClass("team-a", "a", "a.tenancy.test", "shared.tenancy.test"),
			teamClass("team-b", "b", "b.tenancy.test", "shared.tenancy.test"),
		} {
			if err := e.k8s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		e.update(nsA, "a-api", func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "team-a" })
		e.waitCondition(nsA, "a-api", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
		recs := e.records(zoneID)
		if got := values(recs["TXT _securesite-a.api.shared.tenancy.test"]); len(got) != 1 || !strings.Contains(got[0], "owner="+ownerID+"/"+nsA+"/a-api") {
			t.Errorf("ownership record %v does not carry the owner id", got)
		}
	})

	t.Run("static site of team b", func(t *testing.T) {
		e.create(staticSite(nsB, "b-static", "static.b.tenancy.test", func(s *v1alpha1.SecureSite) {
			s.Spec.ClassName = "team-b"
			s.Spec.StaticSite.Bucket = "team-b-static"
		}))
		e.waitCondition(nsB, "b-static", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	})

	// Everything below is refused; the controller writes nothing in AWS while it decides so.
	before := awsWrites()
	attacks := []struct {
		name, ns, site string
		make           func() *v1alpha1.SecureSite
		want           []string
	}{
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
			return backendSite(nsA, "private", "a.tenancy.test", "internal.a.tenancy.test", "10.0.0.10")
		}, []string{"spec.hostedZoneID " + privateZoneID + " is a private hosted zone", "SecureSiteClass team-a"}},
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
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			s := a.make()
			if a.site == "private" {
				s.Spec.ClassName = "team-a"
				s.Spec.HostedZoneID = privateZoneID
				selfSigned(s)
			}
			e.create(s)
			notPermitted(a.ns, a.site, a.want...)
		})
	}

	t.Run("an AAAA beside another site's A", func(t *testing.T) {
		e.create(withClass("team-b", backendSite(nsB, "b-api6", "b.tenancy.test", "api.shared.tenancy.test", "2001:db8::10")))
		s := e.waitCondition(nsB, "b-api6", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
		if msg := condition(s, v1alpha1.ConditionDNSReady).Message; !strings.Contains(msg, "is owned by SecureSite "+ownerID+"/"+nsA+"/a-api") {
			t.Errorf("conflict message: %q", msg)
		}
		if _, ok := e.records(zoneID)["AAAA api.shared.tenancy.test"]; ok {
			t.Error("an AAAA record was written beside team a's A")
		}
	})

	t.Run("a certificate for a name another site holds", func(t *testing.T) {
		// Both classes grant shared.tenancy.test, but team a's site holds api.shared.tenancy.test:
		// team b gets no certificate for it, and no DNS-01 record is written for it.
		e.create(site(nsB, "b-cert", "b.tenancy.test", func(s *v1alpha1.SecureSite) {
			s.Spec.ClassName = "team-b"
			s.Spec.Certificate.AdditionalDNSNames = []string{"api.shared.tenancy.test"}
		}))
		s := e.waitCondition(nsB, "b-cert", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
		if msg := condition(s, v1alpha1.ConditionCertificateReady).Message; !strings.Contains(msg, "not ordering a certificate: api.shared.tenancy.test is owned by SecureSite "+ownerID+"/"+nsA+"/a-api") {
			t.Errorf("CertificateReady message: %q", msg)
		}
	})

	t.Run("an ACME server the class did not choose", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "securesite.io/v1alpha1", "kind": "SecureSite",
			"metadata": map[string]any{"namespace": nsB, "name": "own-ca"},
			"spec": map[string]any{"domain": "b.tenancy.test", "className": "team-b",
				"certificate": map[string]any{"acme": map[string]any{"server": "https://acme.evil.example/directory"}}},
		}}
		err := e.k8s.Create(ctx, u, client.FieldValidation("Strict"))
		if err == nil || !strings.Contains(err.Error(), `unknown field "spec.certificate.acme"`) {
			t.Errorf("a site naming its own ACME server: %v, want refused at apply (unknown field)", err)
		}
	})

	t.Run("a status edit aiming at another team's bucket", func(t *testing.T) {
		foreign := "team-a-private"
		if _, err := raw.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(foreign)}); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(foreign), Tagging: &s3types.Tagging{TagSet: []s3types.Tag{
			{Key: aws.String("securesite.io/owner"), Value: aws.String(ownerID + "/" + nsA + "/a-private")}}}}); err != nil {
			t.Fatal(err)
		}
		raw.put(t, foreign, "payroll.csv", "secret")
		beforeEdit := awsWrites()
		cur := e.get(nsB, "b-static")
		edited := cur.DeepCopy()
		edited.Status.Bucket.Name = foreign
		if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
			t.Fatal(err)
		}
		e.poke(nsB, "b-static")
		notPermitted(nsB, "b-static", "status.bucket.name names bucket team-a-private", ownerID+"/"+nsA+"/a-private")
		if d := testworld.CountDiff(awsWrites(), beforeEdit); len(d) > 0 {
			t.Errorf("AWS writes after the status edit: %v", d)
		}
		if _, err := raw.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(foreign)}); err == nil {
			t.Error("a bucket policy was written to the foreign bucket")
		}
	})

	t.Run("a status edit aiming at another team's ACM certificate", func(t *testing.T) {
		// Status could send the ACM phase to re-import over another team's certificate (a serial
		// that differs from the one it holds) or retireACM and deletion to delete it.
		foreignOwner := ownerID + "/" + nsA + "/a-cert"
		foreign, foreignPEM := raw.importCertificate(t, "cert.a.tenancy.test", foreignOwner)
		own := *e.get(nsB, "b-static").Status.Certificate
		// Each edit leaves the site stalled on a foreign object, so no pass in between writes.
		edits := []struct {
			field string
			edit  func(c *v1alpha1.CertificateStatus)
		}{
			{"status.certificate.acmCertificateARN", func(c *v1alpha1.CertificateStatus) {
				c.ACMCertificateARN, c.ACMImportedSerial = foreign, ""
			}},
			{"status.certificate.acmRetiredCertificateARN", func(c *v1alpha1.CertificateStatus) {
				c.ACMCertificateARN, c.ACMImportedSerial = own.ACMCertificateARN, own.ACMImportedSerial
				c.ACMRetiredCertificateARN = foreign
			}},
		}
		for _, ed := range edits {
			beforeEdit := awsWrites()
			cur := e.get(nsB, "b-static")
			edited := cur.DeepCopy()
			edited.Status.Bucket.Name = "team-b-static" // the bucket edit above, put back
			ed.edit(edited.Status.Certificate)
			if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
				t.Fatal(err)
			}
			e.poke(nsB, "b-static")
			want := ed.field + " names ACM certificate " + foreign
			e.eventually(30*time.Second, "Stalled naming "+ed.field, func() string {
				c := condition(e.get(nsB, "b-static"), v1alpha1.ConditionStalled)
				if c.Reason != v1alpha1.ReasonNotPermitted || !strings.Contains(c.Message, want) || !strings.Contains(c.Message, foreignOwner) {
					return fmt.Sprintf("%s %q", c.Reason, c.Message)
				}
				return ""
			})
			if d := testworld.CountDiff(awsWrites(), beforeEdit); len(d) > 0 {
				t.Errorf("AWS writes after the %s edit: %v", ed.field, d)
			}
			got, err := raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(foreign)})
			if err != nil || strings.TrimSpace(aws.ToString(got.Certificate)) != strings.TrimSpace(foreignPEM) {
				t.Errorf("after the %s edit the foreign certificate is not as team a imported it (%v)", ed.field, err)
			}
		}
	})

	t.Run("nothing was written in AWS for any refused site", func(t *testing.T) {
		time.Sleep(2 * time.Second) // a late pass would show here
		d := testworld.CountDiff(awsWrites(), before)
		if len(d) > 0 {
			t.Errorf("AWS writes while the attacks were refused: %v", d)
		}
	})

	t.Run("deleting a site whose status names another team's ACM certificate", func(t *testing.T) {
		// Left by the edits above: its own certificate current, team a's recorded as retiring.
		s := e.get(nsB, "b-static")
		own, foreign := s.Status.Certificate.ACMCertificateARN, s.Status.Certificate.ACMRetiredCertificateARN
		before, err := raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(foreign)})
		if err != nil || own == "" || own == foreign {
			t.Fatalf("status %+v, foreign certificate: %v", s.Status.Certificate, err)
		}
		if err := e.k8s.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitGone(e, nsB, "b-static")
		after, err := raw.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(foreign)})
		if err != nil || aws.ToString(after.Certificate) != aws.ToString(before.Certificate) {
			t.Errorf("team a's ACM certificate after team b's site was deleted: %v", err)
		}
		if _, err := raw.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(own)}); awsclient.ErrorCode(err) != "ResourceNotFoundException" {
			t.Errorf("the site's own ACM certificate %s after its deletion: %v", own, err)
		}
		if ev := strings.Join(e.events(nsB, "b-static"), "\n"); !strings.Contains(ev, "status.certificate.acmRetiredCertificateARN names ACM certificate "+foreign) {
			t.Errorf("no event says the foreign certificate was left alone:\n%s", ev)
		}
	})

	t.Run("taking a just-released name", func(t *testing.T) {
		if err := e.k8s.Delete(ctx, e.get(nsA, "a-api")); err != nil {
			t.Fatal(err)
		}
		waitGone(e, nsA, "a-api")
		e.create(withClass("team-b", backendSite(nsB, "b-take", "b.tenancy.test", "api.shared.tenancy.test", "198.51.100.66")))
		s := e.waitCondition(nsB, "b-take", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
		if msg := condition(s, v1alpha1.ConditionDNSReady).Message; !strings.Contains(msg, "was released by SecureSite "+ownerID+"/"+nsA+"/a-api and is held for it until") {
			t.Errorf("conflict message: %q", msg)
		}
		if _, ok := e.records(zoneID)["A api.shared.tenancy.test"]; ok {
			t.Error("the released name was taken during its hold")
		}
		// Once the hold has passed, the name is free for another owner.
		e.clock.Advance(61 * time.Minute)
		e.poke(nsB, "b-take")
		e.eventually(30*time.Second, "the name taken after its hold", func() string {
			if v := values(e.records(zoneID)["A api.shared.tenancy.test"]); len(v) != 1 || v[0] != "198.51.100.66" {
				return fmt.Sprint(v)
			}
			return ""
		})
	})
}
