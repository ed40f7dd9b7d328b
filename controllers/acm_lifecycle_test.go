package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	cf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// An ACM certificate deleted out of band is noticed on a normal pass (no renewal needed): the
// certificate is imported anew, status records the new ARN and the distribution is repointed.
func TestStaticSiteACMCertificateDeletedOutOfBand(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	a := newRawAWS(e)
	e.w.CreateHostedZone(ctx, "acmgone.test")
	ns := e.namespace("acmgone")
	e.create(staticSite(ns, "web", "acmgone.test", nil))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 90*time.Second)
	old, distID := s.Status.Certificate.ACMCertificateARN, s.Status.Distribution.ID
	if old == "" || distID == "" {
		t.Fatalf("status incomplete: %+v %+v", s.Status.Certificate, s.Status.Distribution)
	}
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
	var arn string
	e.eventually(30*time.Second, "a new ACM certificate in status and on the distribution", func() string {
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
