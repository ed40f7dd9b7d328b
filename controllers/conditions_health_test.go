package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/config/argocd"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/records"
)

var testZone = records.Zone{ID: "Z1", Name: "duckhoo.site"}

// awsFailure is what the SDK returns when an AWS call fails (here: Route53 throttling).
func awsFailure(what string) error {
	return fmt.Errorf("%s: %w", what, &smithy.OperationError{ServiceID: "Route 53", OperationName: "ChangeResourceRecordSets",
		Err: errors.New("api error Throttling: Rate exceeded")})
}

// passScope is a pass over testSite in which the zone was found and the certificate is valid;
// edit changes what the phases saw.
func passScope(edit func(*scope)) (*v1alpha1.SecureSite, *scope) {
	site := testSite(nil)
	s := newScope(site, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "")
	s.zone.zone = testZone
	s.dns = dnsObservation{zone: testZone, records: []records.Record{{Name: "infra.duckhoo.site", Type: "A"}}}
	s.cert = certObservation{parsed: &certs.Parsed{}, state: certValid, message: "certificate valid"}
	s.export.skipped, s.bucket.skipped, s.distribution.skipped, s.acm.skipped = true, true, true, true
	if edit != nil {
		edit(s)
	}
	return site, s
}

// A phase that fails says so in its own condition: before, a DNS phase whose write failed left
// its empty observation behind, reported as DNSReady=True "0 record(s) in sync in zone ".
func TestFailedPhaseConditionSaysWhatFailed(t *testing.T) {
	tests := []struct {
		phase, condition, reason string
		err                      error
	}{
		{phaseDNS, v1alpha1.ConditionDNSReady, v1alpha1.ReasonAWSError, awsFailure("writing records to zone duckhoo.site")},
		{phaseZone, v1alpha1.ConditionDNSReady, v1alpha1.ReasonAWSError, awsFailure("finding hosted zone for duckhoo.site")},
		{phaseCertificate, v1alpha1.ConditionCertificateReady, v1alpha1.ReasonReconcileError, errors.New("writing Secret duckhoo-tls: the server is currently unable to handle the request")},
		{phaseBucket, v1alpha1.ConditionBucketReady, v1alpha1.ReasonAWSError, awsFailure("ensuring bucket duckhoo-site")},
		{phaseOrigin, v1alpha1.ConditionBucketReady, v1alpha1.ReasonAWSError, awsFailure("writing bucket policy of duckhoo-site")},
		{phaseACM, v1alpha1.ConditionDistributionReady, v1alpha1.ReasonAWSError, awsFailure("importing certificate into ACM")},
		{phaseDistribution, v1alpha1.ConditionDistributionReady, v1alpha1.ReasonAWSError, awsFailure("ensuring distribution")},
	}
	for _, tt := range tests {
		t.Run(tt.phase, func(t *testing.T) {
			site, s := passScope(func(s *scope) {
				s.dns = dnsObservation{zone: testZone} // what the DNS phase had when its write failed
				s.failed = &phaseFailure{phase: tt.phase, err: tt.err}
			})
			(&SecureSiteReconciler{}).setConditions(site, s)
			c := meta.FindStatusCondition(site.Status.Conditions, tt.condition)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tt.reason || c.Message != tt.err.Error() {
				t.Fatalf("%s = %+v, want False %s with the error %q", tt.condition, c, tt.reason, tt.err)
			}
			ready := meta.FindStatusCondition(site.Status.Conditions, v1alpha1.ConditionReady)
			if ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, tt.err.Error()) {
				t.Errorf("Ready = %+v, want False naming the failure", ready)
			}
		})
	}
}

// Argo CD shows what a user must fix in words, not a reason: each condition that is True for a
// problem carries the plain message, and the health script passes it on.
func TestArgoCDHealthOfWhatThePassSaw(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*scope)
		wantHealth  string
		wantStalled bool
		wantMessage string
	}{
		{"ready", nil, "Healthy", false, "served over HTTPS with a valid certificate: API https://infra.duckhoo.site"},
		{"record owned by another site", func(s *scope) {
			s.dns.conflicts = []records.Conflict{{Record: records.Record{Name: "infra.duckhoo.site", Type: "A"}, Owner: "web/other"}}
		}, "Degraded", true, "infra.duckhoo.site A is owned by SecureSite web/other"},
		{"record nobody manages", func(s *scope) {
			s.dns.conflicts = []records.Conflict{{Record: records.Record{Name: "infra.duckhoo.site", Type: "A"}}}
		}, "Degraded", true, "infra.duckhoo.site A exists and is not managed by SecureSite"},
		{"Secret of someone else", func(s *scope) {
			s.cert = certObservation{state: certConflict, message: "Secret web/duckhoo-tls belongs to another owner; not overwritten (set certificate.secretName)"}
		}, "Degraded", true, "Secret web/duckhoo-tls belongs to another owner"},
		{"bucket owned elsewhere", func(s *scope) {
			s.bucket.skipped = false
			s.bucket.set(false, v1alpha1.ReasonBucketOwnedElsewhere, "bucket duckhoo-site exists and its securesite.io/owner tag does not name web/duckhoo")
		}, "Degraded", true, "bucket duckhoo-site exists"},
		{"invalid spec", func(s *scope) {
			s.stalled = &stalledError{reason: v1alpha1.ReasonInvalidSpec, message: "api.evil.example is not inside hosted zone duckhoo.site (Z1)"}
		}, "Degraded", true, "api.evil.example is not inside hosted zone"},
		{"AWS failing: retried, not degraded", func(s *scope) {
			s.failed = &phaseFailure{phase: phaseDNS, err: awsFailure("writing records to zone duckhoo.site")}
		}, "Progressing", false, "Throttling: Rate exceeded"},
		{"issuing", func(s *scope) {
			s.cert = certObservation{state: certIssuing, message: "issuing (no certificate yet) for [duckhoo.site]"}
		}, "Progressing", false, "issuing (no certificate yet)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, s := passScope(tt.edit)
			(&SecureSiteReconciler{}).setConditions(site, s)
			if s.failed == nil && s.stalled == nil {
				site.Status.ObservedGeneration = site.Generation
			}
			checkProblemsHaveMessages(t, site, tt.wantStalled)
			hs := argoCDHealth(t, site)
			if hs.Status != tt.wantHealth || !strings.Contains(hs.Message, tt.wantMessage) {
				t.Errorf("Argo CD health = %s %q, want %s with %q", hs.Status, hs.Message, tt.wantHealth, tt.wantMessage)
			}
		})
	}
}

// checkProblemsHaveMessages checks Stalled, and that a condition True for a problem has a message.
func checkProblemsHaveMessages(t *testing.T, site *v1alpha1.SecureSite, wantStalled bool) {
	t.Helper()
	stalledC := meta.FindStatusCondition(site.Status.Conditions, v1alpha1.ConditionStalled)
	if (stalledC.Status == metav1.ConditionTrue) != wantStalled {
		t.Errorf("Stalled = %+v, want True: %v", stalledC, wantStalled)
	}
	for _, c := range site.Status.Conditions {
		problem := c.Type == v1alpha1.ConditionStalled || c.Type == v1alpha1.ConditionReconciling
		if problem && c.Status == metav1.ConditionTrue && c.Message == "" {
			t.Errorf("%s=True for a problem without a message: %+v", c.Type, c)
		}
	}
}

// argoCDHealth runs config/argocd/health.lua over the site as Argo CD would.
func argoCDHealth(t *testing.T, site *v1alpha1.SecureSite) argocd.Health {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(site)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := argocd.Evaluate(argocd.HealthLua, obj)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}
