package controllers_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/certs"
)

// TestSiteNotWokenByItsOwnSecretWrite: the watch event of the Secret a pass has just written
// wakes no second pass (it cost the API server a GET of the site, a GET of the Secret and a status
// patch for nothing), while every change of the Secret by anyone else still wakes the site: a
// deletion and an edit by hand are repaired by one pass each, and an annotation edited right
// after our write gets a pass of its own. No resync and no drift check run to cover for a missed
// wake-up; passes are counted with controller-runtime's reconcile counter.
func TestSiteNotWokenByItsOwnSecretWrite(t *testing.T) {
	e := startEnvWithoutTimedWakes(t)
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "ownwrite.test")
	ns := e.namespace("ownwrite")
	key := types.NamespacedName{Namespace: ns, Name: "shop-tls"}

	before := sitePasses(t)
	e.create(site(ns, "shop", "shop.ownwrite.test", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned }))
	e.waitCondition(ns, "shop", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	if n := e.passesUntilQuiet(before); n != 1 {
		t.Errorf("a new selfSigned site converged in %d passes, want 1 (the Secret's creation woke it again)", n)
	}

	first := e.secret(ns, "shop-tls")
	before = sitePasses(t)
	if err := e.k8s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	e.waitSecret(key, "written again after its deletion", func(s *corev1.Secret) bool { return s.UID != first.UID })
	if n := e.passesUntilQuiet(before); n != 1 {
		t.Errorf("a Secret deleted by hand took %d passes to write again, want 1", n)
	}

	broken := e.secret(ns, "shop-tls")
	broken.Data[corev1.TLSCertKey] = []byte("edited by hand")
	before = sitePasses(t)
	if err := e.k8s.Update(ctx, broken); err != nil {
		t.Fatal(err)
	}
	e.waitSecret(key, "written again after an edit by hand", func(s *corev1.Secret) bool { return s.ResourceVersion != broken.ResourceVersion })
	if n := e.passesUntilQuiet(before); n != 1 {
		t.Errorf("a Secret edited by hand took %d passes to write again, want 1", n)
	}

	// An edit right after our write: the Secret is deleted, and annotated as soon as it is back.
	second := e.secret(ns, "shop-tls")
	before = sitePasses(t)
	if err := e.k8s.Delete(ctx, second); err != nil {
		t.Fatal(err)
	}
	back := e.waitSecret(key, "written again after its deletion", func(s *corev1.Secret) bool { return s.UID != second.UID })
	back.Annotations["example.com/note"] = "edited right after the controller wrote it"
	if err := e.k8s.Update(ctx, back); err != nil {
		t.Fatal(err)
	}
	if n := e.passesUntilQuiet(before); n != 2 {
		t.Errorf("%d passes for a deletion and an annotation edited right after the Secret was written again, want 2 (one each)", n)
	}
}

// waitSecret polls the Secret closely (every 5 ms, so a test may act right after the controller
// wrote it) until it holds a certificate and done says it is the one waited for.
func (e *env) waitSecret(key types.NamespacedName, what string, done func(*corev1.Secret) bool) *corev1.Secret {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got := &corev1.Secret{}
		if err := e.k8s.Get(context.Background(), key, got); err == nil {
			if _, err := certs.ParseTLSSecret(got.Data); err == nil && done(got) {
				return got
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("Secret %s not %s after 15s", key, what)
	return nil
}

// passesUntilQuiet waits until no pass of any site has ended for 3 s (a wake-up by a watch event
// comes within a fraction of that) and says how many passes ended since before.
func (e *env) passesUntilQuiet(before float64) int {
	e.t.Helper()
	const quiet = 3 * time.Second
	last, since := sitePasses(e.t), time.Now()
	for deadline := time.Now().Add(time.Minute); time.Since(since) < quiet; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("passes still running after a minute: %v since the count began", last-before)
		}
		if n := sitePasses(e.t); n != last {
			last, since = n, time.Now()
		}
	}
	return int(last - before)
}
