package controllers

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
)

// desiredRecordIndex receives what each site wants in Route53 from the DNS phase; the zone-level
// drift check (records.DriftCheck) compares whole zones with it and wakes only drifted sites.
type desiredRecordIndex interface {
	Publish(key string, zone records.Zone, owner string, desired []records.Record)
	Remove(key string)
}

// publishDesired tells the drift check what the site wants in the zone.
func (r *SecureSiteReconciler) publishDesired(s *scope, desired []records.Record) {
	if r.DesiredRecords != nil {
		r.DesiredRecords.Publish(siteKey(s.site.Namespace, s.site.Name), s.dns.zone, s.owner, desired)
	}
}

// forgetDesired stops drift repair for a site (deleted, suspended, or without a zone).
func (r *SecureSiteReconciler) forgetDesired(key types.NamespacedName) {
	if r.DesiredRecords != nil {
		r.DesiredRecords.Remove(siteKey(key.Namespace, key.Name))
	}
}

func siteKey(namespace, name string) string { return namespace + "/" + name }

// DriftedSites turns the drift check's site keys into reconcile requests on ch.
func DriftedSites(ch chan<- event.GenericEvent) func(ctx context.Context, key string) {
	return func(ctx context.Context, key string) {
		nn, ok := parseSiteKey(key)
		if !ok {
			return
		}
		obj := &v1alpha1.SecureSite{}
		obj.Namespace, obj.Name = nn.Namespace, nn.Name
		select {
		case ch <- event.GenericEvent{Object: obj}:
		case <-ctx.Done():
		}
	}
}

func parseSiteKey(key string) (types.NamespacedName, bool) {
	ns, name, ok := strings.Cut(key, "/")
	return types.NamespacedName{Namespace: ns, Name: name}, ok
}
