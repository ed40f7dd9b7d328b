package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

var ownWriteSite = types.NamespacedName{Namespace: "web", Name: "duckhoo"}

// secretEvent is the site's Secret as a watch event carries it, at resourceVersion rv.
func secretEvent(name, rv string, controlled bool) client.Object {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: name, ResourceVersion: rv}}
	if controlled {
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SecureSite",
			Name: ownWriteSite.Name, UID: "5f0c3e2a-site", Controller: new(true)}}
	}
	return m
}

// TestOwnSecretWriteEventsDropped: of the events of a site's Secret, only the one of the write
// the controller has just made (same resourceVersion) is dropped; everything else wakes the site,
// and nothing is held once the event has come.
func TestOwnSecretWriteEventsDropped(t *testing.T) {
	update := func(w *ownSecretWrites, obj client.Object) bool {
		return w.notOurWrite().Update(event.UpdateEvent{ObjectOld: obj, ObjectNew: obj})
	}
	create := func(w *ownSecretWrites, obj client.Object) bool {
		return w.notOurWrite().Create(event.CreateEvent{Object: obj})
	}
	remove := func(w *ownSecretWrites, obj client.Object) bool {
		return w.notOurWrite().Delete(event.DeleteEvent{Object: obj})
	}
	type step struct {
		event func(*ownSecretWrites, client.Object) bool
		obj   client.Object
		wakes bool
	}
	ours, later := secretEvent("duckhoo-tls", "42", true), secretEvent("duckhoo-tls", "43", true)
	for _, tc := range []struct {
		name    string
		written string // the resourceVersion the write returned ("": it failed)
		forget  bool
		steps   []step
	}{
		{"the creation of our write", "42", false, []step{{create, ours, false}}},
		{"the update of our write, then an edit by hand", "42", false, []step{{update, ours, false}, {update, later, true}}},
		{"a change by someone else before our event", "42", false, []step{{update, later, true}, {update, ours, true}}},
		{"a deletion", "42", false, []step{{remove, ours, true}}},
		{"a failed write", "", false, []step{{update, ours, true}}},
		{"a site forgotten", "42", true, []step{{update, ours, true}}},
		{"another Secret of the site", "42", false, []step{{update, secretEvent("other-tls", "42", true), true}, {update, ours, false}}},
		{"a Secret no site controls", "42", false, []step{{update, secretEvent("duckhoo-tls", "42", false), true}, {update, ours, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &ownSecretWrites{}
			w.writing(ownWriteSite, "duckhoo-tls")
			w.wrote(ownWriteSite, tc.written)
			if tc.forget {
				w.forget(ownWriteSite)
			}
			for i, s := range tc.steps {
				if got := s.event(w, s.obj); got != s.wakes {
					t.Errorf("event %d (%s at %s): wakes the site %v, want %v", i, s.obj.GetName(), s.obj.GetResourceVersion(), got, s.wakes)
				}
			}
			if w.m != nil {
				t.Errorf("still held after the events: %v", w.m)
			}
		})
	}
}

// TestOwnSecretWriteEventBeforeItsAnswer: the watch may deliver the event of our write before the
// client has read the API server's answer; the event waits for the answer and is dropped. With no
// answer within ownWriteWait it wakes the site, and the write is not remembered.
func TestOwnSecretWriteEventBeforeItsAnswer(t *testing.T) {
	w := &ownSecretWrites{}
	w.writing(ownWriteSite, "duckhoo-tls")
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.wrote(ownWriteSite, "42")
	}()
	if w.notOurWrite().Create(event.CreateEvent{Object: secretEvent("duckhoo-tls", "42", true)}) {
		t.Error("the event of our write, come before its answer, woke the site")
	}
	if w.m != nil {
		t.Errorf("still held after the event: %v", w.m)
	}

	w.writing(ownWriteSite, "duckhoo-tls")
	start := time.Now()
	if !w.notOurWrite().Update(event.UpdateEvent{ObjectNew: secretEvent("duckhoo-tls", "44", true)}) {
		t.Error("an event with no answer to our write did not wake the site")
	}
	if waited := time.Since(start); waited < ownWriteWait || waited > ownWriteWait+time.Second {
		t.Errorf("waited %s for the answer, want %s", waited, ownWriteWait)
	}
	w.wrote(ownWriteSite, "44")
	if w.m != nil {
		t.Errorf("a write whose event may have passed is remembered: %v", w.m)
	}
}
