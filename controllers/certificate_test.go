package controllers_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/testworld"
)

// issueTimeout covers DNS-01 against the test world's DNS server and pebble's validation.
const issueTimeout = 90 * time.Second

func acmeSite(ns, name, domain, host string, extra ...string) *v1alpha1.SecureSite {
	return site(ns, name, domain, func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: host, Address: "203.0.113.80", TTL: 300}
		s.Spec.Certificate.AdditionalDNSNames = extra
	})
}

func (e *env) secret(ns, name string) *corev1.Secret {
	e.t.Helper()
	sec := &corev1.Secret{}
	if err := e.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, sec); err != nil {
		e.t.Fatalf("getting Secret %s/%s: %v", ns, name, err)
	}
	return sec
}

// ordersFinished is how many ACME orders the pool finished, whatever their result.
func ordersFinished() float64 {
	var total float64
	for _, r := range []string{acme.ResultIssued, acme.ResultFailed} {
		m := &dto.Metric{}
		_ = acme.Orders.WithLabelValues(r).Write(m)
		total += m.GetCounter().GetValue()
	}
	return total
}

// checkSecretShape asserts what a user of the Secret relies on: a kubernetes.io/tls Secret whose
// tls.crt is leaf then chain, whose tls.key matches, labelled, owned by the site and annotated.
func checkSecretShape(t *testing.T, sec *corev1.Secret, s *v1alpha1.SecureSite, wantIssuer string) *certs.Parsed {
	t.Helper()
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q, want %q", sec.Type, corev1.SecretTypeTLS)
	}
	p, err := certs.ParseTLSSecret(sec.Data)
	if err != nil {
		t.Fatalf("Secret data: %v", err)
	}
	if got := sec.Labels[v1alpha1.LabelManagedBy]; got != v1alpha1.LabelManagedByValue {
		t.Errorf("label %s=%q", v1alpha1.LabelManagedBy, got)
	}
	if !metav1.IsControlledBy(sec, s) {
		t.Errorf("Secret not controlled by the site: %+v", sec.OwnerReferences)
	}
	if got := sec.Annotations[certs.AnnotationSerial]; got != p.SerialHex {
		t.Errorf("serial annotation %q, certificate %q", got, p.SerialHex)
	}
	if got := sec.Annotations[certs.AnnotationNotAfter]; got != p.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("not-after annotation %q, certificate %s", got, p.NotAfter)
	}
	if got := sec.Annotations[certs.AnnotationIssuer]; got != wantIssuer {
		t.Errorf("issuer annotation %q, want %q", got, wantIssuer)
	}
	return p
}

// verifyAgainst checks the certificate with only the given roots and the intermediates the Secret
// itself carries, for every name: what a client that trusts the CA does.
func verifyAgainst(t *testing.T, p *certs.Parsed, roots []*x509.Certificate, names []string) {
	t.Helper()
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range p.Chain {
		opts.Intermediates.AddCert(c)
	}
	for _, n := range names {
		opts.DNSName = n
		if _, err := p.Leaf.Verify(opts); err != nil {
			t.Errorf("certificate does not verify for %s: %v", n, err)
		}
	}
}

// challengeLeftovers lists DNS-01 records (and their ownership registry entries) still in the zone.
func (e *env) challengeLeftovers(zoneID string) []string {
	var out []string
	for k := range e.records(zoneID) {
		if strings.Contains(k, "_acme-challenge") {
			out = append(out, k)
		}
	}
	return out
}

func TestCertificateACME(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "certs.test")
	ns := e.namespace("cert")

	t.Run("issue for backend and additional names", func(t *testing.T) { testCertificateIssue(t, e, zoneID, ns) })
	t.Run("the manager's cache holds only our Secrets", func(t *testing.T) { testCertificateCacheOnlyOurs(t, e, ns) })
	t.Run("labelling big Secrets as ours does not grow the controller's memory", func(t *testing.T) { testCertificateBigSecretsMemory(t, e, ns) })
	t.Run("a Secret we did not make is never overwritten", func(t *testing.T) { testCertificateForeignSecret(t, e, ns) })
	t.Run("a failed order backs off, across restarts, then issues", func(t *testing.T) { testCertificateBackoff(t, e, zoneID, ns) })
	t.Run("changing the spec lifts the backoff of the failed request", func(t *testing.T) { testCertificateBackoffLifted(t, e, zoneID, ns) })
}

func testCertificateIssue(t *testing.T, e *env, zoneID, ns string) {
	ctx := context.Background()
	e.create(acmeSite(ns, "shop", "shop.certs.test", "api.shop.certs.test", "admin.shop.certs.test"))
	s := e.waitCondition(ns, "shop", v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, issueTimeout)
	st := s.Status.Certificate
	sec := e.secret(ns, "shop-tls")
	p := checkSecretShape(t, sec, s, e.w.Pebble.DirectoryURL)
	names := []string{"shop.certs.test", "api.shop.certs.test", "admin.shop.certs.test"}
	roots, err := e.w.Pebble.RootCAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verifyAgainst(t, p, roots, names)
	if len(p.Chain) == 0 {
		t.Error("tls.crt holds only the leaf; clients need the intermediate")
	}
	if st.SerialNumber != p.SerialHex || st.NotBefore == nil || st.NotAfter == nil || !st.NotAfter.Time.Equal(p.NotAfter) {
		t.Errorf("status.certificate %+v does not describe the Secret's certificate %s", st, p.SerialHex)
	}
	// Pebble offers ARI: a 48h window around two thirds of the lifetime, clamped to the lifetime.
	ideal := p.NotAfter.Add(-p.NotAfter.Sub(p.NotBefore) / 3)
	if st.RenewalTime == nil || st.RenewalTime.Time.Before(ideal.Add(-25*time.Hour)) || st.RenewalTime.Time.After(ideal.Add(25*time.Hour)) { //nolint:staticcheck // metav1.Time.Before takes a *metav1.Time
		t.Errorf("renewalTime %v, want within the ARI window around %v", st.RenewalTime, ideal)
	}
	e.eventually(10*time.Second, "challenge records cleaned up", func() string {
		if l := e.challengeLeftovers(zoneID); len(l) > 0 {
			return fmt.Sprint(l)
		}
		return ""
	})
}

func testCertificateCacheOnlyOurs(t *testing.T, e *env, ns string) {
	ctx := context.Background()
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, StringData: map[string]string{"password": "hunter2"}}
	if err := e.k8s.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Give the informer the time it would need to see it, were it watching.
	time.Sleep(time.Second)
	if got := e.cachedSecrets(ns); strings.Join(got, ",") != "shop-tls" {
		t.Errorf("cached Secrets in %s: %v, want only shop-tls", ns, got)
	}
	// Nothing caches Secret data: a typed read from the cache is refused, not served.
	if err := e.cache.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); err == nil {
		t.Errorf("the cache serves whole Secrets; want none")
	}
}

// cachedSecrets names the Secrets in ns the manager's cache holds, from its Secret informer's
// store (the cache keeps of each only what wakes its site, which no cache read returns).
func (e *env) cachedSecrets(ns string) []string {
	e.t.Helper()
	var names []string
	for _, k := range e.informerStore(corev1.SchemeGroupVersion.WithKind("Secret")).ListKeys() {
		if n, ok := strings.CutPrefix(k, ns+"/"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func testCertificateBigSecretsMemory(t *testing.T, e *env, ns string) {
	ctx := context.Background()
	// Anyone who may create a Secret can put our managed-by label on it. The cache selects by
	// that label, so it must hold metadata only, or 16 × 900 KiB lands in its memory.
	const n, size = 16, 900 << 10
	before := testworld.LiveHeap()
	for i := range n {
		big := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("big-%d", i),
			Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue}},
			Data: map[string][]byte{"blob": bytes.Repeat([]byte{byte('a' + i)}, size)}}
		if err := e.k8s.Create(ctx, big); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually(10*time.Second, "the cache sees the labelled Secrets", func() string {
		if got := len(e.cachedSecrets(ns)); got < n+1 {
			return fmt.Sprintf("%d cached", got)
		}
		return ""
	})
	grown := int64(testworld.LiveHeap()) - int64(before)
	t.Logf("heap grew %d KiB after %d labelled Secrets of %d KiB", grown>>10, n, size>>10)
	if grown > n*size/2 {
		t.Errorf("heap grew %d KiB: the Secrets' data is held (%d KiB in all)", grown>>10, n*size>>10)
	}
}

func testCertificateForeignSecret(t *testing.T, e *env, ns string) {
	ctx := context.Background()
	theirs := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy-tls"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"tls.crt": []byte("theirs"), "note": []byte("hand made")},
	}
	if err := e.k8s.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	e.create(acmeSite(ns, "legacy", "legacy.certs.test", "api.legacy.certs.test"))
	s := e.waitCondition(ns, "legacy", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, 30*time.Second)
	if c := condition(s, v1alpha1.ConditionCertificateReady); !strings.Contains(c.Message, "legacy-tls") {
		t.Errorf("conflict message does not name the Secret: %q", c.Message)
	}
	if c := condition(s, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready: %+v", c)
	}
	after := e.secret(ns, "legacy-tls")
	if !maps.EqualFunc(after.Data, theirs.Data, func(a, b []byte) bool { return string(a) == string(b) }) || after.Type != corev1.SecretTypeOpaque || len(after.OwnerReferences) > 0 {
		t.Errorf("foreign Secret changed: type %s, owners %v, data %q", after.Type, after.OwnerReferences, after.Data)
	}
}

func testCertificateBackoff(t *testing.T, e *env, zoneID, ns string) {
	// A TXT record someone made by hand at the challenge name: the ownership layer refuses to
	// write there, so the order fails the way a real unwritable challenge does.
	e.handWrite(zoneID, r53types.ChangeActionCreate, "_acme-challenge.blocked.certs.test", "TXT", `"hand made"`)
	before := ordersFinished()
	e.create(acmeSite(ns, "blocked", "blocked.certs.test", "api.blocked.certs.test"))
	s := e.waitCondition(ns, "blocked", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonBackingOff, issueTimeout)
	st := s.Status.Certificate
	if st.FailedAttempts != 1 || st.LastFailureTime == nil || st.NextAttemptTime == nil {
		t.Fatalf("status.certificate after one failure: %+v", st)
	}
	if d := st.NextAttemptTime.Sub(st.LastFailureTime.Time); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("next attempt %v after the failure, want 1h", d)
	}
	if !strings.Contains(st.LastFailureMessage, "_acme-challenge.blocked.certs.test") {
		t.Errorf("failure message does not say which record: %q", st.LastFailureMessage)
	}
	if got := ordersFinished() - before; got != 1 {
		t.Errorf("%v orders for one failed attempt", got)
	}

	pokeAndHold := func(what string) {
		t.Helper()
		for range 4 {
			e.poke(ns, "blocked")
			time.Sleep(300 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // an order, had one started, fails within this
		if e.pool.InFlight(types.NamespacedName{Namespace: ns, Name: "blocked"}) {
			t.Errorf("%s: an order is in flight during the backoff", what)
		}
		if got := ordersFinished() - before; got != 1 {
			t.Errorf("%s: %v orders, want still 1", what, got)
		}
		s := e.get(ns, "blocked")
		if s.Status.Certificate.FailedAttempts != 1 {
			t.Errorf("%s: failedAttempts %d", what, s.Status.Certificate.FailedAttempts)
		}
		if c := condition(s, v1alpha1.ConditionCertificateReady); c.Reason != v1alpha1.ReasonBackingOff {
			t.Errorf("%s: CertificateReady %+v", what, c)
		}
	}
	pokeAndHold("poked during backoff")
	e.restartManager()
	pokeAndHold("after a restart")

	e.handWrite(zoneID, r53types.ChangeActionDelete, "_acme-challenge.blocked.certs.test", "TXT", `"hand made"`)
	e.clock.Advance(time.Until(st.NextAttemptTime.Time) + time.Minute)
	time.Sleep(1100 * time.Millisecond) // the zone snapshot is trusted for 1s in tests
	e.poke(ns, "blocked")
	s = e.waitCondition(ns, "blocked", v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, issueTimeout)
	if st := s.Status.Certificate; st.FailedAttempts != 0 || st.NextAttemptTime != nil || st.LastFailureMessage != "" {
		t.Errorf("backoff not reset after issuing: %+v", st)
	}
}

func testCertificateBackoffLifted(t *testing.T, e *env, zoneID, ns string) {
	e.handWrite(zoneID, r53types.ChangeActionCreate, "_acme-challenge.stuck.certs.test", "TXT", `"hand made"`)
	e.create(acmeSite(ns, "fixme", "fixme.certs.test", "stuck.certs.test"))
	s := e.waitCondition(ns, "fixme", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonBackingOff, issueTimeout)
	if s.Status.Certificate.FailedRequest == "" {
		t.Fatalf("the failed request is not recorded: %+v", s.Status.Certificate)
	}
	// The user moves the backend to a name whose challenge can be written: no waiting an hour.
	e.update(ns, "fixme", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Hostname = "api.fixme.certs.test" })
	s = e.waitCondition(ns, "fixme", v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, issueTimeout)
	if st := s.Status.Certificate; st.FailedAttempts != 0 || st.FailedRequest != "" || !slices.Contains(st.DNSNames, "api.fixme.certs.test") {
		t.Errorf("after the spec change: %+v", st)
	}
	if ev := strings.Join(e.events(ns, "fixme"), "\n"); !strings.Contains(ev, "BackoffLifted") {
		t.Errorf("no BackoffLifted event:\n%s", ev)
	}
}

// TestCertificateManySites measures issuance through the controller: 20 sites at once against
// 3 one after another, and what the challenges cost in Route53 calls.
func TestCertificateManySites(t *testing.T) {
	const n = 20
	e := startEnv(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "fleet.test")
	ns := e.namespace("fleet")

	start := time.Now()
	for i := range 3 {
		name := fmt.Sprintf("seq-%d", i)
		e.create(acmeSite(ns, name, name+".fleet.test", "api."+name+".fleet.test"))
		e.waitCondition(ns, name, v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, issueTimeout)
	}
	seq := time.Since(start)
	t.Logf("3 sites one after another: %v (%v per site)", seq.Round(time.Millisecond), (seq / 3).Round(time.Millisecond))

	ops := []string{"ChangeResourceRecordSets", "ListResourceRecordSets", "GetChange", "ListHostedZones", "GetHostedZone", "ListHostedZonesByName"}
	before := map[string]float64{}
	for _, op := range ops {
		before[op] = awsclient.CallCount("Route 53", op)
	}
	start = time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("par-%02d", i)
			e.create(acmeSite(ns, name, name+".fleet.test", "api."+name+".fleet.test"))
		})
	}
	wg.Wait()
	for i := range n {
		e.waitCondition(ns, fmt.Sprintf("par-%02d", i), v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, 3*issueTimeout)
	}
	par := time.Since(start)
	t.Logf("%d sites in parallel: %v (%v per site)", n, par.Round(time.Millisecond), (par / n).Round(time.Millisecond))

	var core float64
	var report []string
	for _, op := range ops {
		d := awsclient.CallCount("Route 53", op) - before[op]
		if d == 0 {
			continue
		}
		report = append(report, fmt.Sprintf("%s %.2f", op, d/n))
		if op == "ChangeResourceRecordSets" || op == "ListResourceRecordSets" || op == "GetChange" {
			core += d
		}
	}
	t.Logf("Route53 calls per certificate (DNS phase included): %s; change+list+getChange %.2f", strings.Join(report, ", "), core/n)
	if core/n > 5 {
		t.Errorf("%.2f Route53 change/list/getChange calls per certificate, want at most 5", core/n)
	}
	e.eventually(10*time.Second, "challenge records cleaned up", func() string {
		if l := e.challengeLeftovers(zoneID); len(l) > 0 {
			return fmt.Sprint(l)
		}
		return ""
	})
}

// TestCertificateRenewal renews with the injected clock, for a site whose certificate is also in
// ACM: the renewal is re-imported to the same ARN.
func TestCertificateRenewal(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "renew.test")
	ns := e.namespace("renew")
	e.create(site(ns, "www", "www.renew.test", func(s *v1alpha1.SecureSite) {
		s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
	}))
	var s *v1alpha1.SecureSite
	e.eventually(2*issueTimeout, "imported into ACM", func() string {
		s = e.get(ns, "www")
		if st := s.Status.Certificate; st == nil || st.ACMCertificateARN == "" || st.ACMImportedSerial != st.SerialNumber {
			return fmt.Sprintf("%+v", st)
		}
		return ""
	})
	old := *s.Status.Certificate
	oldSecret := e.secret(ns, "www-tls")
	// The Secret write queues a pass that may read a cache without the new status; it must not
	// import a second (leaked) ACM certificate.
	time.Sleep(2 * time.Second)
	if n := strings.Count(strings.Join(e.events(ns, "www"), "\n"), "imported into new ACM certificate"); n != 1 {
		t.Errorf("%d new ACM certificates for one site", n)
	}
	before := ordersFinished()

	e.startRenewal(ns, "www", old.RenewalTime.Time, old.SerialNumber)

	e.eventually(issueTimeout, "renewed and re-imported", func() string {
		s = e.get(ns, "www")
		st := s.Status.Certificate
		if st.SerialNumber == old.SerialNumber || st.ACMImportedSerial != st.SerialNumber {
			return fmt.Sprintf("serial %s, ACM serial %s", st.SerialNumber, st.ACMImportedSerial)
		}
		return ""
	})
	st := s.Status.Certificate
	if st.ACMCertificateARN != old.ACMCertificateARN {
		t.Errorf("ACM ARN changed on renewal: %s -> %s", old.ACMCertificateARN, st.ACMCertificateARN)
	}
	sec := e.secret(ns, "www-tls")
	p := checkSecretShape(t, sec, s, e.w.Pebble.DirectoryURL)
	if p.SerialHex != st.SerialNumber || sec.ResourceVersion == oldSecret.ResourceVersion {
		t.Errorf("Secret not updated: serial %s, status %s", p.SerialHex, st.SerialNumber)
	}
	if string(sec.Data["tls.key"]) == string(oldSecret.Data["tls.key"]) {
		t.Error("renewal kept the old private key")
	}
	if !st.RenewalTime.After(time.Now().Add(50 * 24 * time.Hour)) {
		t.Errorf("renewed certificate's renewalTime %v is not ~60 days out", st.RenewalTime)
	}
	// Renewed once: no further order in the following seconds.
	time.Sleep(3 * time.Second)
	e.poke(ns, "www")
	time.Sleep(2 * time.Second)
	if got := ordersFinished() - before; got != 1 {
		t.Errorf("%v orders for one renewal", got)
	}
	if got := e.get(ns, "www").Status.Certificate.SerialNumber; got != st.SerialNumber {
		t.Errorf("renewed again: %s -> %s", st.SerialNumber, got)
	}
}

func TestCertificateSelfSigned(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace("selfsigned")
	e.create(site(ns, "dev", "dev.local.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
		s.Spec.Certificate.AdditionalDNSNames = []string{"api.dev.local.test"}
	}))
	s := e.waitCondition(ns, "dev", v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, v1alpha1.ReasonIssued, 30*time.Second)
	sec := e.secret(ns, "dev-tls")
	p := checkSecretShape(t, sec, s, string(v1alpha1.IssuerSelfSigned))
	verifyAgainst(t, p, []*x509.Certificate{p.Leaf}, []string{"dev.local.test", "api.dev.local.test"})
	if string(sec.Data["ca.crt"]) == "" {
		t.Error("no ca.crt: clients have nothing to trust")
	}
	old := *s.Status.Certificate
	if want := p.NotAfter.Add(-p.NotAfter.Sub(p.NotBefore) / 3); !old.RenewalTime.Time.Equal(want) {
		t.Errorf("renewalTime %v, want two thirds of the lifetime %v", old.RenewalTime, want)
	}

	e.clock.Advance(time.Until(old.RenewalTime.Time) + time.Minute)
	e.poke(ns, "dev")
	e.eventually(30*time.Second, "renewed", func() string {
		if got := e.get(ns, "dev").Status.Certificate.SerialNumber; got == old.SerialNumber {
			return "same serial " + got
		}
		return ""
	})
	s = e.get(ns, "dev")
	sec = e.secret(ns, "dev-tls")
	p = checkSecretShape(t, sec, s, string(v1alpha1.IssuerSelfSigned))
	if p.SerialHex != s.Status.Certificate.SerialNumber || !s.Status.Certificate.RenewalTime.After(e.clock.Now()) {
		t.Errorf("after renewal: Secret serial %s, status %+v", p.SerialHex, s.Status.Certificate)
	}
	serial := p.SerialHex
	e.poke(ns, "dev")
	time.Sleep(2 * time.Second)
	if got := e.get(ns, "dev").Status.Certificate.SerialNumber; got != serial {
		t.Errorf("renewed more than once: %s -> %s", serial, got)
	}
}
