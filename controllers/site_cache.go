package controllers

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gvk "k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/compactmeta"
)

// CachedSite is all the cache keeps of a SecureSite: its key, its resourceVersion, its
// generation and a digest of its annotations. Each pass reads its site from the API server; the
// informer keeps sites so that a spec change (the generation; the API server also bumps it when
// a deletion starts), an annotation change, a new site or a deleted one wakes it, and so that the
// controller knows which sites it watches (its shard): for a pass (fetch) and when a grant changes
// (sitesIn), both from the informer's store by key. A site's metadata as a PartialObjectMetadata
// was about 460 bytes in the store; this is 64 before its name and resourceVersion.
//
// It is a client.Object so the informer and controller-runtime's event handlers take it; the
// metadata it does not keep reads as empty and setting it does nothing (compactmeta.Unkept).
type CachedSite struct {
	compactmeta.Unkept
	name, namespace, resourceVersion string
	generation                       int64
	// annotations is a digest of the annotations, kubectl's last-applied copy of the object left
	// out (it changes with every kubectl apply, spec or not): 0 when there are none.
	annotations uint64
}

// CompactSite is the cache's transform for SecureSites (metadata-only informer).
func CompactSite(in any) (any, error) {
	m, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return in, nil // already transformed, or a tombstone
	}
	return &CachedSite{
		name: m.Name, namespace: unique.Make(m.Namespace).Value(), resourceVersion: m.ResourceVersion,
		generation: m.Generation, annotations: annotationsDigest(m.Annotations),
	}, nil
}

// annotationSeed: digests are compared within one process only.
var annotationSeed = maphash.MakeSeed()

// annotationsDigest hashes the annotations in key order, each key and value length-prefixed so
// that no two maps write the same bytes.
func annotationsDigest(a map[string]string) uint64 {
	keys := make([]string, 0, len(a))
	for k := range a {
		if k != corev1.LastAppliedConfigAnnotation {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return 0
	}
	slices.Sort(keys)
	var h maphash.Hash
	h.SetSeed(annotationSeed)
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		for _, s := range []string{k, a[k]} {
			_, _ = h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
			_, _ = h.WriteString(s)
		}
	}
	return h.Sum64() | 1 // never 0, which means none
}

func (s *CachedSite) GetName() string            { return s.name }
func (s *CachedSite) GetNamespace() string       { return s.namespace }
func (s *CachedSite) GetResourceVersion() string { return s.resourceVersion }
func (s *CachedSite) GetGeneration() int64       { return s.generation }

// GetObjectKind is SecureSite: the informer holds SecureSites alone.
func (s *CachedSite) GetObjectKind() gvk.ObjectKind { return &cachedSiteKind }

// DeepCopyObject copies it: no field is shared mutable state.
func (s *CachedSite) DeepCopyObject() runtime.Object { c := *s; return &c }

var (
	cachedSiteKind               = compactmeta.Kind{GVK: v1alpha1.GroupVersion.WithKind("SecureSite")}
	_              client.Object = (*CachedSite)(nil)
)

// siteChanged is the predicate of the SecureSite watch: a new or deleted site, a spec change
// (generation) or an annotation change wakes the site; an update of its status alone (our own
// patches, every pass) does not. A deletion wakes it too: the API server bumps the generation of
// an object with finalizers when it sets its deletionTimestamp.
var siteChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	before, ok1 := e.ObjectOld.(*CachedSite)
	after, ok2 := e.ObjectNew.(*CachedSite)
	if !ok1 || !ok2 {
		// A cache without the transform: the same test on the whole metadata.
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!reflect.DeepEqual(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations())
	}
	return before.generation != after.generation || before.annotations != after.annotations
}}

// cachedSiteIndex is the store of the cache's SecureSite informer: the keys of the sites this
// controller watches, by namespace. Read by key, the sites themselves are never copied out.
func cachedSiteIndex(mgr ctrl.Manager) (toolscache.Indexer, error) {
	inf, err := mgr.GetCache().GetInformer(context.Background(), siteMetadata())
	if err != nil {
		return nil, fmt.Errorf("the cache's SecureSite informer: %w", err)
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the cache's SecureSite informer is a %T, not a SharedIndexInformer", inf)
	}
	return shared.GetIndexer(), nil
}
