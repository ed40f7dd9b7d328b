package manager

import (
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// BenchmarkCachedMetadataMemory reports the bytes the cache keeps per site for the metadata of
// the site and of its Secret, after the transforms: every string a separate allocation, as
// decoding makes them. The informer's store and index entries are not counted. Run with
// -benchtime=1x.
func BenchmarkCachedMetadataMemory(b *testing.B) {
	const n = 10000
	fresh := func(s string) string { return string([]byte(s)) }
	uid := func(i int, kind string) types.UID {
		return types.UID(fmt.Sprintf("%08x-%s-4a5b-8c6d-%012x", i, kind, i))
	}
	for range b.N {
		kept := make([]any, 0, 2*n)
		before := liveHeap()
		for i := range n {
			site := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("site-%05d", i), Namespace: fresh("sites"), UID: uid(i, "aaaa"),
				ResourceVersion: fmt.Sprint(100000 + i), Generation: 1, Finalizers: []string{fresh(v1alpha1.Finalizer)},
			}}
			site.APIVersion, site.Kind = fresh(v1alpha1.GroupVersion.String()), fresh("SecureSite")
			secret := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("site-%05d-tls", i), Namespace: fresh("sites"), UID: uid(i, "bbbb"),
				ResourceVersion: fmt.Sprint(200000 + i),
				OwnerReferences: []metav1.OwnerReference{{APIVersion: fresh(v1alpha1.GroupVersion.String()), Kind: fresh("SecureSite"),
					Name: fmt.Sprintf("site-%05d", i), UID: uid(i, "aaaa"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			}}
			secret.APIVersion, secret.Kind = fresh("v1"), fresh("Secret")
			s, _ := stripUnread(site)
			c, _ := stripUnreadSecret(secret)
			kept = append(kept, s, c)
		}
		b.ReportMetric(float64(int64(liveHeap())-int64(before))/n, "B/site")
		runtime.KeepAlive(kept)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
