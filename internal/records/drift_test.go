package records

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// The drift check lists each zone once and names exactly the sites whose owned records differ
// from what they want: a changed record, a deleted one, and nothing for sites in sync or in
// conflict with a record they do not own.
func TestDriftCheckFindsOnlyDriftedSites(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "drift-check.test")
	clock := newClock()
	svc := New(awsCfg, Options{Now: clock.Now})
	ix := NewDesiredIndex()
	want := map[string]Record{
		"ns/changed": {Name: "changed.drift-check.test", Type: "A", TTL: 300, Values: []string{"203.0.113.1"}},
		"ns/deleted": {Name: "deleted.drift-check.test", Type: "A", TTL: 300, Values: []string{"203.0.113.2"}},
		"ns/same":    {Name: "same.drift-check.test", Type: "A", TTL: 300, Values: []string{"203.0.113.3"}},
	}
	for key, rec := range want {
		_, err := svc.Ensure(w.ctx, w.zone, key, []Record{rec})
		g.Expect(err).NotTo(HaveOccurred())
		ix.Publish(key, w.zone, key, []Record{rec})
	}
	foreign := Record{Name: "taken.drift-check.test", Type: "A", TTL: 300, Values: []string{"192.0.2.1"}}
	w.byHand(types.ChangeActionCreate, foreign)
	conflicting := Record{Name: foreign.Name, Type: "A", TTL: 300, Values: []string{"203.0.113.4"}}
	ix.Publish("ns/conflict", w.zone, "ns/conflict", []Record{conflicting})

	var drifted []string
	check := &DriftCheck{DNS: svc, Index: ix, Drifted: func(_ context.Context, key string) { drifted = append(drifted, key) }}
	// Each check lists the zone after the writes before it (their journal entries are older).
	clock.Advance(time.Second)
	g.Expect(check.CheckOnce(w.ctx)).To(BeEmpty())

	w.byHand(types.ChangeActionUpsert, Record{Name: "changed.drift-check.test", Type: "A", TTL: 300, Values: []string{"198.51.100.9"}})
	w.byHand(types.ChangeActionDelete, want["ns/deleted"])
	before := awsclient.CallCount("Route 53", "ListResourceRecordSets")
	clock.Advance(time.Second)
	g.Expect(check.CheckOnce(w.ctx)).To(Equal([]string{"ns/changed", "ns/deleted"}))
	g.Expect(drifted).To(Equal([]string{"ns/changed", "ns/deleted"}))
	g.Expect(awsclient.CallCount("Route 53", "ListResourceRecordSets") - before).To(BeEquivalentTo(1))

	// The listing is the shared snapshot: the repair that follows reads nothing more.
	before = awsclient.CallCount("Route 53", "ListResourceRecordSets")
	for _, key := range []string{"ns/changed", "ns/deleted"} {
		_, err := svc.Ensure(w.ctx, w.zone, key, []Record{want[key]})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(awsclient.CallCount("Route 53", "ListResourceRecordSets") - before).To(BeEquivalentTo(0))
	clock.Advance(time.Second)
	g.Expect(check.CheckOnce(w.ctx)).To(BeEmpty())

	// A removed site is no longer checked.
	ix.Remove("ns/same")
	w.byHand(types.ChangeActionDelete, want["ns/same"])
	clock.Advance(time.Second)
	g.Expect(check.CheckOnce(w.ctx)).To(BeEmpty())
}
