package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// TestZoneChoice: which hosted zone a site's records and DNS-01 challenges go to.
func TestZoneChoice(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	// Zones made before any site lists them (a zone made later is seen only after a relist).
	apexZone := e.w.CreateHostedZone(ctx, "apex.duckhoo.example")
	_ = e.w.CreateHostedZone(ctx, "twin.test")
	twinZone := strings.TrimPrefix(e.w.CreateHostedZone(ctx, "twin.test"), "/hostedzone/")

	// Route53 allows two public zones of one name (only the delegated one answers on the
	// Internet). The DNS-01 challenge goes to the site's zone, spec.hostedZoneID: looked up by
	// name, the zone is ambiguous and the certificate was never issued.
	t.Run("DNS-01 goes to spec.hostedZoneID when two zones share the name", func(t *testing.T) {
		ns := e.namespace("twin")
		e.create(site(ns, "twin", "www.twin.test", func(s *v1alpha1.SecureSite) { s.Spec.HostedZoneID = twinZone }))
		e.waitCondition(ns, "twin", v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, issueTimeout)
	})

	// A CNAME at a zone apex is illegal (RFC 1034 3.6.2). Refused at apply for a two-label name;
	// for a deeper zone only the zone says it, so the site is Stalled with its own reason, not a
	// conflict with NS/SOA, and nothing is written.
	t.Run("CNAME at the zone apex: Stalled, nothing written", func(t *testing.T) {
		ns := e.namespace("apex")
		e.create(site(ns, "apex", "apex.duckhoo.example", func(s *v1alpha1.SecureSite) {
			s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "apex.duckhoo.example", Address: "lb.example.net", TTL: 300}
			s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
		}))
		s := e.waitCondition(ns, "apex", v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonCNAMEAtZoneApex, 30*time.Second)
		if c := condition(s, v1alpha1.ConditionStalled); !strings.Contains(c.Message, "no CNAME") {
			t.Errorf("Stalled message %q does not say why", c.Message)
		}
		for k := range e.records(apexZone) {
			if !strings.HasPrefix(k, "NS ") && !strings.HasPrefix(k, "SOA ") {
				t.Errorf("record written at an apex CNAME site: %s", k)
			}
		}
	})
}
