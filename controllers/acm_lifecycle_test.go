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
	cf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/certs"
)

// An ACM certificate deleted out of band is noticed on a normal pass (no renewal needed): the
// certificate is imported anew, status records the new ARN and the distribution is repointed.
func TestStaticSiteACMCertificateDeletedOutOfBand(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	a := newRawAWS(e)
	ns, old, distID := readyStaticSiteWithACMImport(t, e, "acmgone")
	// Out of band: detach the certificate from the distribution (AWS refuses to delete one in
	// use), then delete it.
	cfg, etag := a.distConfig(t, distID)
	cfg.ViewerCertificate.ACMCertificateArn = nil
	cfg.ViewerCertificate.CloudFrontDefaultCertificate = aws.Bool(true)
	cfg.Aliases = nil
	if _, err := a.cf.UpdateDistribution(ctx, &cf.UpdateDistributionInput{Id: aws.String(distID), IfMatch: aws.String(etag), DistributionConfig: cfg}); err != nil {
		t.Fatalf("detaching the certificate: %v", err)
	}
	if _, err := a.acm.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(old)}); err != nil {
		t.Fatalf("deleting the certificate out of band: %v", err)
	}
	e.poke(ns, "web")
	arn := waitNewACMCertificateOnDistribution(t, e, a, ns, old, distID, 30*time.Second)
	if _, err := a.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Errorf("new certificate %s: %v", arn, err)
	}
	e.eventually(10*time.Second, "event naming the deleted certificate", func() string {
		if ev := strings.Join(e.events(ns, "web"), "\n"); !strings.Contains(ev, "deleted out of band") {
			return ev
		}
		return ""
	})
	e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
}

// A new key algorithm goes to a new ACM certificate (AWS refuses to re-import it to the same ARN);
// the distribution moves to it, and the replaced certificate, recorded in status, is deleted once
// the distribution is Deployed without it.
func TestStaticSiteACMReplacedCertificateDeleted(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	a := newRawAWS(e)
	ns, old, distID := readyStaticSiteWithACMImport(t, e, "acmkey")
	e.update(ns, "web", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.PrivateKey.Algorithm = v1alpha1.KeyAlgorithmRSA
	})
	arn := waitNewACMCertificateOnDistribution(t, e, a, ns, old, distID, 60*time.Second)
	e.eventually(60*time.Second, "the replaced certificate deleted and status cleared", func() string {
		_, err := a.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(old)})
		if !acmimport.IsNotFound(err) {
			return fmt.Sprintf("replaced certificate %s: %v", old, err)
		}
		if r := e.get(ns, "web").Status.Certificate.ACMRetiredCertificateARN; r != "" {
			return "status.certificate.acmRetiredCertificateARN " + r
		}
		return ""
	})
	if _, err := a.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Errorf("new certificate %s: %v", arn, err)
	}
	e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
}

// A site deleted while the certificate a key change replaced still waits for its retirement
// (the distribution not yet Deployed without it) has that certificate deleted too, not left
// behind. Neither emulator keeps a distribution InProgress long enough to delete the site in that
// window, so the waiting state is put into status by hand (a status patch starts no pass): a
// second certificate imported with the tags the controller gives its own, recorded as retiring.
func TestStaticSiteDeletedWhileRetiringACMCertificate(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	a := newRawAWS(e)
	e.w.CreateHostedZone(ctx, "acmretire.test")
	ns := e.namespace("acmretire")
	e.create(staticSite(ns, "web", "acmretire.test", nil))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 90*time.Second)
	current := s.Status.Certificate.ACMCertificateARN
	tags, err := a.acm.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(current)})
	if err != nil {
		t.Fatal(err)
	}
	var own []acmtypes.Tag
	for _, tag := range tags.Tags {
		if aws.ToString(tag.Key) != acmimport.SerialTag {
			own = append(own, tag)
		}
	}
	certPEM, keyPEM, err := certs.SelfSigned([]string{"acmretire.test"}, certs.KeySpec{Algorithm: "RSA", Size: 2048}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM, Tags: own})
	if err != nil {
		t.Fatal(err)
	}
	retiring := aws.ToString(out.CertificateArn)
	cur := e.get(ns, "web")
	edited := cur.DeepCopy()
	edited.Status.Certificate.ACMRetiredCertificateARN = retiring
	if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
		t.Fatal(err)
	}
	if err := e.k8s.Delete(ctx, edited); err != nil {
		t.Fatal(err)
	}
	waitGone(e, ns, "web")
	for _, arn := range []string{current, retiring} {
		if _, err := a.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); !acmimport.IsNotFound(err) {
			t.Errorf("ACM certificate %s left behind after the site was deleted: %v", arn, err)
		}
	}
	// Deleted by the deletion, not retired by a pass that ran before it.
	e.eventually(10*time.Second, "a deletion event naming the retiring certificate", func() string {
		ev := strings.Join(e.events(ns, "web"), "\n")
		if strings.Contains(ev, "replaced ACM certificate "+retiring) || !strings.Contains(ev, "ACM certificate "+retiring+" deleted") {
			return ev
		}
		return ""
	})
}

// readyStaticSiteWithACMImport creates a static site "web" for <name>.test in a new zone and
// namespace, waits for Ready, and returns the namespace, the imported ACM certificate's ARN and
// the distribution's id.
func readyStaticSiteWithACMImport(t *testing.T, e *env, name string) (ns, acmARN, distID string) {
	t.Helper()
	e.w.CreateHostedZone(context.Background(), name+".test")
	ns = e.namespace(name)
	e.create(staticSite(ns, "web", name+".test", nil))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 90*time.Second)
	acmARN, distID = s.Status.Certificate.ACMCertificateARN, s.Status.Distribution.ID
	if acmARN == "" || distID == "" {
		t.Fatalf("status incomplete: %+v %+v", s.Status.Certificate, s.Status.Distribution)
	}
	return ns, acmARN, distID
}

// waitNewACMCertificateOnDistribution waits until status names an ACM certificate other than old
// and the distribution serves it, and returns its ARN.
func waitNewACMCertificateOnDistribution(t *testing.T, e *env, a rawAWS, ns, old, distID string, timeout time.Duration) string {
	t.Helper()
	var arn string
	e.eventually(timeout, "a new ACM certificate in status and on the distribution", func() string {
		arn = e.get(ns, "web").Status.Certificate.ACMCertificateARN
		if arn == "" || arn == old {
			return "status ARN " + arn
		}
		cfg, _ := a.distConfig(t, distID)
		if got := aws.ToString(cfg.ViewerCertificate.ACMCertificateArn); got != arn {
			return "distribution certificate " + got
		}
		return ""
	})
	return arn
}
