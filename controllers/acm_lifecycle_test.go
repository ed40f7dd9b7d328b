package controllers_test

import (
	"context"
	"fmt"
	"slices"
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
		if r := e.get(ns, "web").Status.Certificate.ACMRetiredCertificateARNs; len(r) != 0 {
			return fmt.Sprintf("status.certificate.acmRetiredCertificateARNs %v", r)
		}
		return ""
	})
	if _, err := a.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Errorf("new certificate %s: %v", arn, err)
	}
	e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
}

// Two key changes (to RSA and back) while the distribution is still deploying: each goes to a new ACM
// certificate, and both replaced ones wait, still in ACM, as long as the distribution may serve
// them; once it is Deployed on the current certificate both are deleted, not only the last. The
// test world holds the distribution InProgress (neither emulator keeps a change deploying for
// long: kumo answers Deployed at once, moto on its first read).
func TestStaticSiteACMTwoKeyChangesWhileDeploying(t *testing.T) {
	e := startEnv(t)
	a := newRawAWS(e)
	ns, first, distID := readyStaticSiteWithACMImport(t, e, "acmtwice")
	release := e.w.AWS.HoldInProgress(distID)
	defer release()
	e.update(ns, "web", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.PrivateKey = v1alpha1.PrivateKeySpec{Algorithm: v1alpha1.KeyAlgorithmRSA}
	})
	second := waitNewACMCertificateOnDistribution(t, e, a, ns, first, distID, 60*time.Second)
	e.update(ns, "web", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.PrivateKey = v1alpha1.PrivateKeySpec{Algorithm: v1alpha1.KeyAlgorithmECDSA}
	})
	current := waitNewACMCertificateOnDistribution(t, e, a, ns, second, distID, 60*time.Second)
	// The distribution is still deploying: either replaced certificate may still be served.
	if got := a.acmCertificates(t); len(got) != 3 || !slices.Contains(got, first) || !slices.Contains(got, second) {
		t.Fatalf("while the distribution deploys ACM holds %v; want the current %s and both replaced %s, %s", got, current, first, second)
	}
	release()
	e.poke(ns, "web")
	e.eventually(90*time.Second, "only the current certificate left in ACM", func() string {
		if got := a.acmCertificates(t); len(got) != 1 || got[0] != current {
			return fmt.Sprintf("ACM holds %v, want only %s", got, current)
		}
		return ""
	})
	e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	cfg, _ := a.distConfig(t, distID)
	if got := aws.ToString(cfg.ViewerCertificate.ACMCertificateArn); got != current {
		t.Errorf("distribution serves %s, want %s", got, current)
	}
	e.eventually(10*time.Second, "an event naming each replaced certificate deleted", func() string {
		events := e.events(ns, "web")
		for _, arn := range []string{first, second} {
			if !slices.ContainsFunc(events, func(ev string) bool {
				return strings.HasPrefix(ev, "CertificateDeleted: replaced ACM certificate") && strings.Contains(ev, arn)
			}) {
				return strings.Join(events, "\n")
			}
		}
		return ""
	})
}

// A site deleted while certificates key changes replaced still wait for their retirement (the
// distribution not yet Deployed without them) has those certificates deleted too, not left
// behind. The waiting state is put into status by hand (a status patch starts no pass): two more
// certificates imported with the tags the controller gives its own, one recorded as retiring in
// the list, one in the single field an earlier version kept it in (an upgrade mid-retirement).
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
	var retiring []string
	for range 2 {
		certPEM, keyPEM, err := certs.SelfSigned([]string{"acmretire.test"}, certs.KeySpec{Algorithm: "RSA", Size: 2048}, 24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM, Tags: own})
		if err != nil {
			t.Fatal(err)
		}
		retiring = append(retiring, aws.ToString(out.CertificateArn))
	}
	cur := e.get(ns, "web")
	edited := cur.DeepCopy()
	edited.Status.Certificate.ACMRetiredCertificateARNs = retiring[:1]
	edited.Status.Certificate.ACMRetiredCertificateARN = retiring[1]
	if err := e.k8s.Status().Patch(ctx, edited, client.MergeFrom(cur)); err != nil {
		t.Fatal(err)
	}
	if err := e.k8s.Delete(ctx, edited); err != nil {
		t.Fatal(err)
	}
	waitGone(e, ns, "web")
	if got := a.acmCertificates(t); len(got) != 0 {
		t.Errorf("ACM certificates left behind after the site was deleted: %v (current %s, retiring %v)", got, current, retiring)
	}
	// Deleted by the deletion, not retired by a pass that ran before it.
	e.eventually(10*time.Second, "a deletion event naming each retiring certificate", func() string {
		events := e.events(ns, "web")
		for _, arn := range append(retiring, current) {
			if !slices.ContainsFunc(events, func(ev string) bool {
				return strings.HasPrefix(ev, "CertificateDeleted: ACM certificate") && strings.Contains(ev, arn)
			}) {
				return strings.Join(events, "\n")
			}
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

// acmCertificates lists the ARNs of every certificate in ACM (every key type: by default
// ListCertificates leaves out all but RSA 1024/2048 and EC P-256).
func (a rawAWS) acmCertificates(t *testing.T) []string {
	t.Helper()
	var out []string
	p := acm.NewListCertificatesPaginator(a.acm, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing ACM certificates: %v", err)
		}
		for _, c := range page.CertificateSummaryList {
			out = append(out, aws.ToString(c.CertificateArn))
		}
	}
	return out
}
