package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/manager"
)

// TestSitesCachedAsMetadataOnly: the manager's cache holds of SecureSites what wakes them, not
// the whole objects (a decoded site was about 2.6 KB, the largest thing held at 10,000 sites), and
// what users rely on still works without them: a spec change is acted upon, and the per-site
// metrics show each site's certificate expiry and Ready/Stalled state, and nothing once it is
// deleted.
func TestSitesCachedAsMetadataOnly(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "meta.test")
	ns := e.namespace("meta")
	e.create(backendSite(ns, "shop", "meta.test", "api.meta.test", "203.0.113.10"))
	// A Secret someone else made under the name the second site's certificate would take: Stalled.
	if err := e.k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken-tls"}}); err != nil {
		t.Fatal(err)
	}
	e.create(backendSite(ns, "taken", "meta.test", "taken.meta.test", "203.0.113.11"))
	shop := e.waitCondition(ns, "shop", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	e.waitCondition(ns, "taken", v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretConflict, 30*time.Second)

	key := types.NamespacedName{Namespace: ns, Name: "shop"}
	var notCached *cache.ErrResourceNotCached
	if err := e.cache.Get(ctx, key, &v1alpha1.SecureSite{}); !errors.As(err, &notCached) {
		t.Errorf("reading a whole SecureSite from the cache: err = %v, want ErrResourceNotCached (the cache holds whole sites)", err)
	}
	// Of the site it keeps the key, resourceVersion and generation (controllers.CachedSite),
	// which no cache read returns: from the informer's store.
	if c, ok := e.cachedSite(key).(*controllers.CachedSite); !ok || c.GetGeneration() != shop.Generation || c.GetResourceVersion() == "" || c.GetUID() != "" {
		t.Errorf("the site in the cache: %#v; want a CachedSite of generation %d with a resourceVersion", e.cachedSite(key), shop.Generation)
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SecureSite"))
	if err := e.cache.Get(ctx, key, m); err == nil {
		t.Errorf("a site's whole metadata read from the cache: %+v; want none kept", m.ObjectMeta)
	}

	want := append(conditionSeries(ns, "shop", metav1.ConditionTrue, metav1.ConditionFalse), conditionSeries(ns, "taken", metav1.ConditionFalse, metav1.ConditionTrue)...)
	want = append(want, fmt.Sprintf("securesite_certificate_expiry_timestamp_seconds{name=shop,namespace=%s} %d", ns, shop.Status.Certificate.NotAfter.Unix()))
	slices.Sort(want)
	e.eventually(10*time.Second, "per-site series", func() string {
		if got := siteSeries(t, ns); !slices.Equal(got, want) {
			return fmt.Sprintf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return ""
	})

	// The user edits the spec: the pass reads the new spec from the API server and acts on it.
	e.update(ns, "shop", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "203.0.113.20" })
	e.eventually(30*time.Second, "record follows the spec", func() string {
		if v := values(e.records(zoneID)["A api.meta.test"]); !slices.Equal(v, []string{"203.0.113.20"}) {
			return fmt.Sprint(v)
		}
		return ""
	})

	// Deleted sites stop alerting: their series go.
	for _, name := range []string{"shop", "taken"} {
		if err := e.k8s.Delete(ctx, e.get(ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually(30*time.Second, "series of deleted sites gone", func() string {
		if got := siteSeries(t, ns); len(got) > 0 {
			return strings.Join(got, "\n")
		}
		return ""
	})
}

// conditionSeries are the securesite_condition series of a site whose Ready and Stalled
// conditions have these statuses: one per status, 1 for the current one.
func conditionSeries(ns, name string, ready, stalled metav1.ConditionStatus) []string {
	var out []string
	for typ, current := range map[string]metav1.ConditionStatus{v1alpha1.ConditionReady: ready, v1alpha1.ConditionStalled: stalled} {
		for _, st := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
			v := 0
			if st == current {
				v = 1
			}
			out = append(out, fmt.Sprintf("securesite_condition{name=%s,namespace=%s,status=%s,type=%s} %d", name, ns, st, typ, v))
		}
	}
	return out
}

// siteSeries are the per-site series of the sites in namespace ns, as "name{label=value,...} value",
// sorted.
func siteSeries(t *testing.T, ns string) []string {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "securesite_certificate_expiry_timestamp_seconds" && f.GetName() != "securesite_condition" {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabel(m, "namespace", ns) {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s} %s", f.GetName(), strings.Join(labels, ","), strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)))
		}
	}
	slices.Sort(out)
	return out
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestSecretOfAnEarlierSiteIsNotAdopted: a labelled Secret whose controller is an earlier
// SecureSite of the same name (another UID) is not the new site's. The cache keeps no owner UID,
// so the site's Secret is told apart on the copy read from the API server: Stalled with
// SecretConflict, and the Secret is left as it was.
func TestSecretOfAnEarlierSiteIsNotAdopted(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "earlier.test")
	ns := e.namespace("earlier")
	left := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls",
			Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SecureSite", Name: "shop",
				UID: "0e1f2a3b-0000-4000-8000-000000000001", Controller: new(true)}}},
		Data: map[string][]byte{"note": []byte("the earlier site's")},
	}
	if err := e.k8s.Create(ctx, left); err != nil {
		t.Fatal(err)
	}
	e.create(backendSite(ns, "shop", "earlier.test", "api.earlier.test", "203.0.113.30"))
	s := e.waitCondition(ns, "shop", v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretConflict, 30*time.Second)
	if c := condition(s, v1alpha1.ConditionStalled); !strings.Contains(c.Message, "belongs to another owner") {
		t.Errorf("Stalled message: %q, want it to say the Secret belongs to another owner", c.Message)
	}
	if got := e.secret(ns, "shop-tls"); string(got.Data["note"]) != "the earlier site's" || len(got.Data) != 1 {
		t.Errorf("the earlier site's Secret was changed: %v", got.Data)
	}
}

// TestSiteSecretRestoredWhenDeletedOrBrokenByHand: the manager keeps only which site each of its
// Secrets wakes, and that is enough for a Secret deleted by hand, or edited so that it holds no
// certificate, to be written again within seconds, long before the site's next resync.
func TestSiteSecretRestoredWhenDeletedOrBrokenByHand(t *testing.T) {
	e := startEnvWith(t, func(_ *env, o *manager.Options) { o.ResyncPeriod = 10 * time.Minute })
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "restore.test")
	ns := e.namespace("restore")
	e.create(backendSite(ns, "shop", "restore.test", "api.restore.test", "203.0.113.40"))
	e.waitCondition(ns, "shop", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	first := e.secret(ns, "shop-tls")

	restored := func(what string, changed func(*corev1.Secret) bool) {
		t.Helper()
		start := time.Now()
		e.eventually(15*time.Second, what, func() string {
			got := &corev1.Secret{}
			if err := e.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "shop-tls"}, got); err != nil {
				return err.Error()
			}
			if _, err := certs.ParseTLSSecret(got.Data); err != nil || !changed(got) {
				return fmt.Sprintf("Secret not written again yet (parse: %v)", err)
			}
			return ""
		})
		t.Logf("%s after %s", what, time.Since(start).Round(10*time.Millisecond))
	}

	if err := e.k8s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	restored("a deleted Secret written again", func(s *corev1.Secret) bool { return s.UID != first.UID })

	broken := e.secret(ns, "shop-tls")
	broken.Data[corev1.TLSCertKey] = []byte("edited by hand")
	if err := e.k8s.Update(ctx, broken); err != nil {
		t.Fatal(err)
	}
	restored("a Secret edited by hand written again", func(s *corev1.Secret) bool { return s.ResourceVersion != broken.ResourceVersion })
}

// cachedSite is what the manager's cache holds of a site (nil: nothing), from its SecureSite
// informer's store.
func (e *env) cachedSite(key types.NamespacedName) any {
	e.t.Helper()
	obj, _, err := e.informerStore(v1alpha1.GroupVersion.WithKind("SecureSite")).GetByKey(key.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return obj
}

// informerStore is the store of the manager cache's metadata informer for kind, synced.
func (e *env) informerStore(kind schema.GroupVersionKind) toolscache.Store {
	e.t.Helper()
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(kind)
	inf, err := e.cache.GetInformer(context.Background(), m, cache.BlockUntilSynced(true))
	if err != nil {
		e.t.Fatal(err)
	}
	return inf.(toolscache.SharedIndexInformer).GetStore()
}

// TestSiteWakesOnAnnotationAndGrantChanges: the cache keeps of a site only what wakes it, and
// every wake-up a user relies on still comes, with no resync and no drift check to cover for a
// missed one: a class created for a site that names it, a namespace labelled so that the class
// selects it, an annotation edit (the record changed by hand is written again), and a deletion
// (the API server bumps the generation when it sets the deletionTimestamp, which is what wakes it).
func TestSiteWakesOnAnnotationAndGrantChanges(t *testing.T) {
	e := startEnvWithoutTimedWakes(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "wake.test")
	granted, later := e.namespace("wake"), e.namespace("wake")
	e.labelNamespace(granted, map[string]string{"team": "wake"})

	// A class created after the site that names it: the site is re-checked.
	e.create(withClass("wake", backendSite(granted, "early", "wake.test", "api.wake.test", "203.0.113.50")))
	e.waitCondition(granted, "early", v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonNotPermitted, 30*time.Second)
	if err := e.k8s.Create(ctx, teamClass("wake", "wake", "wake.test")); err != nil {
		t.Fatal(err)
	}
	e.waitCondition(granted, "early", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)

	// A namespace labelled so that the class selects it: its sites are re-checked.
	e.create(withClass("wake", backendSite(later, "labelled", "wake.test", "www.wake.test", "203.0.113.51")))
	e.waitCondition(later, "labelled", v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonNotPermitted, 30*time.Second)
	e.labelNamespace(later, map[string]string{"team": "wake"})
	e.waitCondition(later, "labelled", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)

	// An annotation edit: the pass it wakes writes back the record changed by hand.
	e.handWrite(zoneID, r53types.ChangeActionUpsert, "api.wake.test", "A", "198.51.100.50")
	time.Sleep(1500 * time.Millisecond) // past the test manager's 1 s Route53 snapshot
	e.poke(granted, "early")
	e.eventually(15*time.Second, "record written again after the annotation edit", func() string {
		if v := values(e.records(zoneID)["A api.wake.test"]); !slices.Equal(v, []string{"203.0.113.50"}) {
			return fmt.Sprint(v)
		}
		return ""
	})

	// A deletion, held by a finalizer of someone else's so the object stays to be looked at.
	const hold = "test.securesite.io/hold"
	e.update(later, "labelled", func(s *v1alpha1.SecureSite) { s.Finalizers = append(s.Finalizers, hold) })
	before := e.get(later, "labelled")
	if err := e.k8s.Delete(ctx, before); err != nil {
		t.Fatal(err)
	}
	e.eventually(30*time.Second, "the controller's finalizer removed", func() string {
		s := e.get(later, "labelled")
		if slices.Contains(s.Finalizers, v1alpha1.Finalizer) {
			return fmt.Sprintf("finalizers %v", s.Finalizers)
		}
		if s.Generation != before.Generation+1 {
			t.Errorf("generation %d once deleting, want %d: the deletion did not bump it, and the watch would not wake the site for it", s.Generation, before.Generation+1)
		}
		return ""
	})
	if _, ok := e.records(zoneID)["A www.wake.test"]; ok {
		t.Errorf("the deleted site's record is still in the zone")
	}
	e.update(later, "labelled", func(s *v1alpha1.SecureSite) {
		s.Finalizers = slices.DeleteFunc(s.Finalizers, func(f string) bool { return f == hold })
	})
}
