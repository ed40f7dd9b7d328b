package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/tenancy"
)

// +kubebuilder:rbac:groups=securesite.io,resources=securesiteclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// reconcilePermission runs before any phase that writes to AWS: it finds the site's
// SecureSiteClass and asks the pure decision in internal/tenancy whether the class (and the
// controller's fences) allow every name, zone, bucket and export the site asks for. A site that
// is not permitted is Stalled with reason NotPermitted and the later phases do not run.
func (r *SecureSiteReconciler) reconcilePermission(ctx context.Context, s *scope) error {
	site := s.site
	var classes v1alpha1.SecureSiteClassList
	if err := r.List(ctx, &classes); err != nil {
		return fmt.Errorf("listing SecureSiteClasses: %w", err)
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Get(ctx, types.NamespacedName{Name: site.Namespace}, ns); err != nil {
		return fmt.Errorf("reading namespace %s: %w", site.Namespace, err)
	}
	in := tenancy.Input{Site: site, NamespaceLabels: ns.Labels, Classes: classes.Items, Fences: r.Tenancy.Fences}
	if site.Spec.StaticSite != nil {
		in.Bucket, _ = r.desiredBucket(site)
	}
	if site.Spec.Backend != nil || site.Spec.StaticSite != nil || site.Spec.HostedZoneID != "" || site.Spec.Certificate.IssuerOrDefault() == v1alpha1.IssuerACME {
		zone, err := r.findZone(ctx, site.Spec.Domain, site.Spec.HostedZoneID)
		switch {
		case err == nil:
			in.Zone = &tenancy.Zone{ID: zone.ID, Name: zone.Name, Private: zone.Private}
		case errors.Is(err, records.ErrZoneNotFound):
			// The DNS phase reports it; nothing can be written to a zone that does not exist.
		default:
			return fmt.Errorf("finding hosted zone for %s: %w", site.Spec.Domain, err)
		}
	}
	class, np := tenancy.Decide(in)
	s.class = class
	if np != nil {
		return stalled(v1alpha1.ReasonNotPermitted, "%s", np.Message)
	}
	return nil
}

// watchGrants re-checks sites when what grants them changes: any SecureSiteClass (a class
// appearing, becoming default or narrowing), or their namespace's labels. One change can wake
// every site: they are bulk work, behind users' edits.
func (r *SecureSiteReconciler) watchGrants(b *builder.TypedBuilder[reconcile.Request]) *builder.TypedBuilder[reconcile.Request] {
	return b.
		Watches(&v1alpha1.SecureSiteClass{}, lowPriorityEvents{handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return r.sitesIn(ctx, "")
		})}).
		WatchesMetadata(&corev1.Namespace{}, lowPriorityEvents{handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.sitesIn(ctx, o.GetName())
		})})
}

// sitesIn lists the sites this controller watches in namespace ("": all), by key from the
// informer's store (the cache keeps a CachedSite of each, which no cache read returns).
func (r *SecureSiteReconciler) sitesIn(ctx context.Context, namespace string) []reconcile.Request {
	var keys []string
	if namespace == "" {
		keys = r.cachedSites.ListKeys()
	} else {
		var err error
		if keys, err = r.cachedSites.IndexKeys(toolscache.NamespaceIndex, namespace); err != nil {
			log.FromContext(ctx).Error(err, "listing SecureSites to re-check their grants", "namespace", namespace)
			return nil
		}
	}
	out := make([]reconcile.Request, 0, len(keys))
	for _, k := range keys {
		ns, name, err := toolscache.SplitMetaNamespaceKey(k)
		if err != nil {
			continue // not a namespace/name key: not a site
		}
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	}
	return out
}

// Tenancy is the controller-wide part of sharing a cluster.
type Tenancy struct {
	Fences tenancy.Fences
	// OwnerID (--owner-id) is part of every ownership record and owner tag: two clusters
	// sharing an AWS account never adopt each other's objects.
	OwnerID string
}

// classACME is the CA the site's class names, falling back to the controller's defaults.
func (r *SecureSiteReconciler) classACME(class *v1alpha1.SecureSiteClass) (server, email string, caBundle []byte) {
	server, email = r.Defaults.ACMEServer, r.Defaults.ACMEEmail
	if class != nil && class.Spec.ACME != nil {
		a := class.Spec.ACME
		if a.Server != "" {
			server = a.Server
		}
		if a.Email != "" {
			email = a.Email
		}
		if a.CABundle != "" {
			caBundle = []byte(a.CABundle)
		}
	}
	return server, email, caBundle
}
