package controllers

import (
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// ownSecretWrites holds, per site, the Secret write of ours whose watch event has not come in
// yet. A site's Secret is watched so that a change by anyone else (an edit by hand, a deletion)
// wakes the site; the event of our own write woke it too, for a pass with nothing to do that cost
// the API server a GET of the site, a GET of the Secret and a status patch — one pass in four of
// an ACME site's convergence. An entry lives from the write to the next event of the Secret
// (about 100 ms): it holds nothing at idle.
type ownSecretWrites struct {
	mu sync.Mutex
	m  map[types.NamespacedName]ownSecretWrite
}

// ownSecretWrite is one write: the Secret's name and the resourceVersion the API server gave it
// ("" while the request is out; done is closed once it has returned).
type ownSecretWrite struct {
	secret, resourceVersion string
	done                    chan struct{}
	// raced: an event of the Secret came while the request was out and no answer came in
	// ownWriteWait. It may have been ours, so the write is not remembered.
	raced bool
}

// ownWriteWait bounds how long the Secret watch waits for the answer to our request when the
// event comes first. The event says the write is stored, so the answer is on its way: under load
// the watch often delivers the event a few milliseconds before the client has read the answer.
const ownWriteWait = time.Second

// writing is called before the site's Secret is created or updated. One pass of a site runs at a
// time, so a site has at most one write out.
func (w *ownSecretWrites) writing(site types.NamespacedName, secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]ownSecretWrite{}
	}
	w.m[site] = ownSecretWrite{secret: secret, done: make(chan struct{})}
}

// wrote is called once the request has returned: resourceVersion is the Secret's as the API
// server answered, "" when nothing was written (the request failed, or changed nothing and so
// makes no event).
func (w *ownSecretWrites) wrote(site types.NamespacedName, resourceVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pending, ok := w.m[site]
	if !ok {
		return // forgotten meanwhile
	}
	close(pending.done)
	if resourceVersion == "" || pending.raced {
		w.removeLocked(site)
		return
	}
	pending.resourceVersion = resourceVersion
	w.m[site] = pending
}

// forget drops the site's entry (the site is gone or no longer ours).
func (w *ownSecretWrites) forget(site types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.removeLocked(site)
}

// removeLocked drops the site's entry; the map goes with its last entry, so that a flood of
// writes leaves no buckets behind (a map never shrinks).
func (w *ownSecretWrites) removeLocked(site types.NamespacedName) {
	delete(w.m, site)
	if len(w.m) == 0 {
		w.m = nil
	}
}

// ours says whether a watch event's Secret is exactly what our last write of it left (the same
// resourceVersion: the event of that write, or a relist that found it unchanged). Any event of the
// Secret ends the wait for the write: the watch delivers a Secret's events in order, so a later
// change by anyone else comes after the event of our write, with another resourceVersion, and
// passes.
func (w *ownSecretWrites) ours(obj client.Object) bool {
	site, ok := controllingSite(obj)
	if !ok {
		return false
	}
	if done := w.outstanding(site, obj.GetName()); done != nil {
		timer := time.NewTimer(ownWriteWait)
		select {
		case <-done:
		case <-timer.C:
		}
		timer.Stop()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pending, ok := w.m[site]
	if !ok || pending.secret != obj.GetName() {
		return false
	}
	if pending.resourceVersion == "" {
		pending.raced = true
		w.m[site] = pending
		return false
	}
	w.removeLocked(site)
	return pending.resourceVersion == obj.GetResourceVersion()
}

// outstanding is the done channel of the site's write of this Secret while its request is out
// (nil: none).
func (w *ownSecretWrites) outstanding(site types.NamespacedName, secret string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pending, ok := w.m[site]; ok && pending.secret == secret && pending.resourceVersion == "" && !pending.raced {
		return pending.done
	}
	return nil
}

// notOurWrite is the predicate of the Secret watch: the event of our own write does not wake the
// site; a creation, change or deletion by anyone else does.
func (w *ownSecretWrites) notOurWrite() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.ours(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !w.ours(e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			w.ours(e.Object) // ends the wait; a deletion always wakes the site
			return true
		},
	}
}

// controllingSite is the key of the SecureSite that controls the Secret.
func controllingSite(obj client.Object) (types.NamespacedName, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != "SecureSite" {
		return types.NamespacedName{}, false
	}
	if group, _, _ := strings.Cut(ref.APIVersion, "/"); group != v1alpha1.GroupVersion.Group {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}, true
}
