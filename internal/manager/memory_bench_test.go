package manager

import (
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/testworld"
)

// BenchmarkCachedMetadataMemory reports the bytes the cache keeps per site for the site and for
// its Secret, after the transforms, in an informer's store with the namespace index
// controller-runtime gives every informer: every string a separate allocation, as decoding makes
// them. B/site is both together, B/secret the Secret's part, B/site-metadata what the site alone
// cost when the cache kept its whole metadata (a PartialObjectMetadata less managedFields and
// UID), for comparison. Run with -benchtime=1x.
func BenchmarkCachedMetadataMemory(b *testing.B) {
	const n = 10000
	for range b.N {
		b.ReportMetric(storeBytes(b, n, func(i int) any {
			m := benchSite(i)
			_, _ = stripUnread(m)
			m.UID = ""
			return m
		})/n, "B/site-metadata")
		sites := storeBytes(b, n, func(i int) any { s, _ := controllers.CompactSite(benchSite(i)); return s })
		secrets := storeBytes(b, n, func(i int) any { s, _ := secretWakeFrom(benchSecret(i)); return s })
		b.ReportMetric((sites+secrets)/n, "B/site")
		b.ReportMetric(secrets/n, "B/secret")
	}
}

// storeBytes is the live heap n objects made by obj take in a new store.
func storeBytes(b *testing.B, n int, obj func(i int) any) float64 {
	store := newStore()
	before := testworld.LiveHeap()
	for i := range n {
		if err := store.Add(obj(i)); err != nil {
			b.Fatal(err)
		}
	}
	after := testworld.LiveHeap()
	runtime.KeepAlive(store)
	return float64(int64(after) - int64(before))
}

// newStore is an informer's store as controller-runtime makes it: keyed by namespace/name, with
// the namespace index.
func newStore() toolscache.Indexer {
	return toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
}

func fresh(s string) string { return string([]byte(s)) }

func benchUID(i int, kind string) types.UID {
	return types.UID(fmt.Sprintf("%08x-%s-4a5b-8c6d-%012x", i, kind, i))
}

// benchSite is a site's metadata as the informer decodes it.
func benchSite(i int) *metav1.PartialObjectMetadata {
	site := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("site-%05d", i), Namespace: fresh("sites"), UID: benchUID(i, "aaaa"),
		ResourceVersion: fmt.Sprint(100000 + i), Generation: 1, Finalizers: []string{fresh(v1alpha1.Finalizer)},
	}}
	site.APIVersion, site.Kind = fresh(v1alpha1.GroupVersion.String()), fresh("SecureSite")
	return site
}

// benchSecret is the metadata of a site's Secret as the informer decodes it.
func benchSecret(i int) *metav1.PartialObjectMetadata {
	secret := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("site-%05d-tls", i), Namespace: fresh("sites"), UID: benchUID(i, "bbbb"),
		ResourceVersion: fmt.Sprint(200000 + i),
		Labels:          map[string]string{fresh(v1alpha1.LabelManagedBy): fresh(v1alpha1.LabelManagedByValue), fresh(v1alpha1.LabelSiteName): fmt.Sprintf("site-%05d", i)},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: fresh(v1alpha1.GroupVersion.String()), Kind: fresh("SecureSite"),
			Name: fmt.Sprintf("site-%05d", i), UID: benchUID(i, "aaaa"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
	}}
	secret.APIVersion, secret.Kind = fresh("v1"), fresh("Secret")
	return secret
}
