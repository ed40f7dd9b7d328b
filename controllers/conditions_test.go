package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
)

func testSite(mutate func(*v1alpha1.SecureSite)) *v1alpha1.SecureSite {
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Name: "duckhoo", Namespace: "web", Generation: 3},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:  "duckhoo.site",
			Backend: &v1alpha1.BackendSpec{Hostname: "infra.duckhoo.site", Address: "203.0.113.10"},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestDNSReadyCondition(t *testing.T) {
	zone := records.Zone{ID: "Z1", Name: "duckhoo.site"}
	tests := []struct {
		name       string
		site       *v1alpha1.SecureSite
		obs        dnsObservation
		wantStatus metav1.ConditionStatus
		wantReason string
		wantInMsg  string
	}{
		{"nothing to manage", testSite(func(s *v1alpha1.SecureSite) { s.Spec.Backend = nil }), dnsObservation{skipped: true},
			metav1.ConditionTrue, v1alpha1.ReasonNotConfigured, "no DNS records"},
		{"zone missing", testSite(nil), dnsObservation{zoneProblem: "no Route53 hosted zone found for duckhoo.site"},
			metav1.ConditionFalse, v1alpha1.ReasonZoneNotFound, "no Route53 hosted zone"},
		{"foreign record", testSite(nil), dnsObservation{zone: zone, conflicts: []records.Conflict{{Record: records.Record{Name: "infra.duckhoo.site", Type: "A"}}}},
			metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, "infra.duckhoo.site A exists and is not managed by SecureSite"},
		{"other site's record", testSite(nil), dnsObservation{zone: zone, conflicts: []records.Conflict{{Record: records.Record{Name: "infra.duckhoo.site", Type: "A"}, Owner: "web/other"}}},
			metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, "owned by SecureSite web/other"},
		{"suspended with drift", testSite(func(s *v1alpha1.SecureSite) { s.Spec.Suspend = true }), dnsObservation{zone: zone, wouldChange: []string{"UPSERT A infra.duckhoo.site"}},
			metav1.ConditionFalse, v1alpha1.ReasonSuspended, "would change: UPSERT A infra.duckhoo.site"},
		{"suspended in sync", testSite(func(s *v1alpha1.SecureSite) { s.Spec.Suspend = true }), dnsObservation{zone: zone},
			metav1.ConditionTrue, v1alpha1.ReasonRecordsInSync, "in sync"},
		{"pending", testSite(nil), dnsObservation{zone: zone, pending: true},
			metav1.ConditionFalse, v1alpha1.ReasonRecordsPending, "INSYNC"},
		{"in sync", testSite(nil), dnsObservation{zone: zone, records: []records.Record{{Name: "infra.duckhoo.site", Type: "A"}}},
			metav1.ConditionTrue, v1alpha1.ReasonRecordsInSync, "1 record(s) in sync in zone duckhoo.site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dnsReadyCondition(tt.obs)
			if c.Type != v1alpha1.ConditionDNSReady || c.Status != tt.wantStatus || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantInMsg) {
				t.Errorf("got %s=%s reason %s msg %q; want %s reason %s msg containing %q", c.Type, c.Status, c.Reason, c.Message, tt.wantStatus, tt.wantReason, tt.wantInMsg)
			}
		})
	}
}

func TestCertificateReadyCondition(t *testing.T) {
	tests := []struct {
		state      certState
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{certValid, metav1.ConditionTrue, v1alpha1.ReasonIssued},
		{certIssuing, metav1.ConditionFalse, v1alpha1.ReasonIssuing},
		{certBackingOff, metav1.ConditionFalse, v1alpha1.ReasonBackingOff},
		{certConflict, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict},
		{certSuspended, metav1.ConditionFalse, v1alpha1.ReasonSuspended},
		{certWaitingZone, metav1.ConditionFalse, v1alpha1.ReasonWaitingForDNS},
		{certUnknown, metav1.ConditionUnknown, v1alpha1.ReasonProgressing},
	}
	for _, tt := range tests {
		c := certificateReadyCondition(certObservation{state: tt.state, message: "m"})
		if c.Status != tt.wantStatus || c.Reason != tt.wantReason {
			t.Errorf("state %q: got %s/%s, want %s/%s", tt.state, c.Status, c.Reason, tt.wantStatus, tt.wantReason)
		}
	}
}

func TestReadyConditionSummarisesAndNamesInsecureEndpoints(t *testing.T) {
	trueC := func(typ string) metav1.Condition { return condition(typ, true, "OK", "fine") }
	withStatic := testSite(func(s *v1alpha1.SecureSite) { s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{} })
	tests := []struct {
		name         string
		site         *v1alpha1.SecureSite
		phases       []metav1.Condition
		stalled      *stalledError
		urls         v1alpha1.URLsStatus
		wantStatus   metav1.ConditionStatus
		wantReason   string
		wantInMsg    []string
		wantNotInMsg []string
	}{
		{"all ready", withStatic, []metav1.Condition{trueC("DNSReady"), trueC("CertificateReady")}, nil,
			v1alpha1.URLsStatus{Site: "https://duckhoo.site", API: "https://infra.duckhoo.site"},
			metav1.ConditionTrue, v1alpha1.ReasonReconciled, []string{"site https://duckhoo.site and API https://infra.duckhoo.site"}, nil},
		{"site not secure yet, API secure", withStatic, []metav1.Condition{trueC("DNSReady"), trueC("CertificateReady"),
			condition("DistributionReady", false, v1alpha1.ReasonDeploying, "distribution E1 is InProgress")}, nil,
			v1alpha1.URLsStatus{API: "https://infra.duckhoo.site"},
			metav1.ConditionFalse, v1alpha1.ReasonDeploying, []string{"not secure yet: site https://duckhoo.site (CloudFront)", "DistributionReady: distribution E1 is InProgress"},
			[]string{"API https://infra.duckhoo.site (backend)"}},
		{"first failing phase gives the reason", testSite(nil), []metav1.Condition{
			condition("DNSReady", false, v1alpha1.ReasonRecordConflict, "conflict"),
			condition("CertificateReady", false, v1alpha1.ReasonIssuing, "issuing")}, nil, v1alpha1.URLsStatus{},
			metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, []string{"API https://infra.duckhoo.site (backend)", "DNSReady: conflict", "CertificateReady: issuing"}, nil},
		{"stalled wins", testSite(nil), []metav1.Condition{trueC("DNSReady")}, &stalledError{reason: v1alpha1.ReasonInvalidSpec, message: "bad bucket"}, v1alpha1.URLsStatus{},
			metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, []string{"bad bucket"}, nil},
		{"suspended", testSite(func(s *v1alpha1.SecureSite) { s.Spec.Suspend = true }), nil, nil, v1alpha1.URLsStatus{},
			metav1.ConditionFalse, v1alpha1.ReasonSuspended, []string{"no changes are made"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readyCondition(tt.site, tt.phases, tt.stalled, tt.urls)
			if c.Status != tt.wantStatus || c.Reason != tt.wantReason {
				t.Fatalf("got %s/%s (%q), want %s/%s", c.Status, c.Reason, c.Message, tt.wantStatus, tt.wantReason)
			}
			for _, w := range tt.wantInMsg {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message %q lacks %q", c.Message, w)
				}
			}
			for _, w := range tt.wantNotInMsg {
				if strings.Contains(c.Message, w) {
					t.Errorf("message %q should not contain %q", c.Message, w)
				}
			}
		})
	}
}

func TestKstatusConditions(t *testing.T) {
	ready := condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReconciled, "")
	notReady := condition(v1alpha1.ConditionReady, false, v1alpha1.ReasonIssuing, "issuing")
	st := &stalledError{reason: v1alpha1.ReasonInvalidSpec, message: "x"}
	if c := reconcilingCondition(ready, nil); c.Status != metav1.ConditionFalse {
		t.Errorf("Reconciling while Ready: %v", c)
	}
	if c := reconcilingCondition(notReady, nil); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonIssuing {
		t.Errorf("Reconciling while issuing: %v", c)
	}
	if c := reconcilingCondition(notReady, st); c.Status != metav1.ConditionFalse {
		t.Errorf("Reconciling while stalled: %v", c)
	}
	if c := stalledCondition(st); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonInvalidSpec {
		t.Errorf("Stalled: %v", c)
	}
	if c := stalledCondition(nil); c.Status != metav1.ConditionFalse {
		t.Errorf("not Stalled: %v", c)
	}
}

func TestDesiredRecords(t *testing.T) {
	site := testSite(func(s *v1alpha1.SecureSite) {
		s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
		s.Spec.Certificate.AdditionalDNSNames = []string{"www.duckhoo.site", "*.duckhoo.site"}
	})
	got := desiredRecords(site, "")
	if len(got) != 1 || got[0].Type != "A" || got[0].Values[0] != "203.0.113.10" || got[0].TTL != 300 {
		t.Fatalf("before the distribution exists only the backend record is wanted, got %v", got)
	}
	site.Status.Distribution = &v1alpha1.DistributionStatus{DomainName: "d1.cloudfront.net"}
	got = desiredRecords(site, site.Status.Distribution.DomainName)
	var names []string
	for _, r := range got {
		names = append(names, r.Type+" "+r.Name)
		if r.Alias != nil && (r.Alias.HostedZoneID != cloudFrontHostedZoneID || r.Alias.DNSName != "d1.cloudfront.net") {
			t.Errorf("alias target wrong: %+v", r.Alias)
		}
	}
	want := "A infra.duckhoo.site,A duckhoo.site,AAAA duckhoo.site,A www.duckhoo.site,AAAA www.duckhoo.site"
	if strings.Join(names, ",") != want {
		t.Errorf("records = %s, want %s (no alias for the wildcard)", strings.Join(names, ","), want)
	}
}

func TestCertificateNamesAndKey(t *testing.T) {
	site := testSite(func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.AdditionalDNSNames = []string{"www.duckhoo.site", "infra.duckhoo.site"}
	})
	if got := strings.Join(certificateNames(site), ","); got != "duckhoo.site,infra.duckhoo.site,www.duckhoo.site" {
		t.Errorf("names = %s", got)
	}
	if k := keySpec(site); k.Algorithm != "ECDSA" || k.Size != 256 {
		t.Errorf("default key = %+v", k)
	}
	site.Spec.Certificate.PrivateKey.Algorithm = v1alpha1.KeyAlgorithmRSA
	if k := keySpec(site); k.Algorithm != "RSA" || k.Size != 2048 {
		t.Errorf("RSA default key = %+v", k)
	}
	if secretName(site) != "duckhoo-tls" {
		t.Errorf("default secret name = %s", secretName(site))
	}
}
