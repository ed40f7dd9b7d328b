package records

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"
)

// A snapshot that many writes were applied to (most of them kept as a delta over the listed
// table, some merged into a new table) reads exactly as a fresh list of the same zone would: the
// same record sets, the same owners' registry records; and an older snapshot is never changed.
func TestSnapshotAfterManyWritesReadsAsAFreshList(t *testing.T) {
	g := NewWithT(t)
	z := newZoneModel(300)
	listed := NewSnapshot(z.records()...)
	snap, merges := listed, 0
	for step := range 3000 {
		i := z.rng.IntN(600) // half the sites are new, and come and go
		z.want[i] = nil
		if z.rng.IntN(4) > 0 {
			z.want[i] = z.wantNew(i)
		}
		p := Diff(snap, z.owner(i), z.want[i])
		next := snap.withChanges(p.changes)
		if next.base != snap.base {
			merges++
		}
		snap = next
		z.apply(p.changes)
		if step%500 == 499 {
			z.expectListedAs(g, snap)
		}
	}
	g.Expect(merges).To(BeNumerically(">", 2), "the writes were merged into new tables several times")
	g.Expect(listed.Records()).To(Equal(NewSnapshot(newZoneModel(300).records()...).Records()), "the first snapshot is unchanged")
}

// zoneModel is a zone as Route53 would list it, kept as a plain map, and what each site wants.
type zoneModel struct {
	rng  *rand.Rand
	sets map[string]Record // key → record set
	want map[int][]Record  // site → its records
}

func newZoneModel(sites int) *zoneModel {
	z := &zoneModel{rng: rand.New(rand.NewPCG(1, 2)), sets: map[string]Record{}, want: map[int][]Record{}}
	for i := range sites {
		z.want[i] = z.wantNew(i)
		for _, r := range []Record{z.want[i][0], reg(z.want[i][0], z.owner(i))} {
			r = normalizeRecord(r)
			z.sets[r.key()] = r
		}
	}
	return z
}

func (z *zoneModel) owner(i int) string { return fmt.Sprintf("c/ns/site-%d", i) }

func (z *zoneModel) wantNew(i int) []Record {
	return []Record{a(fmt.Sprintf("api-%d.z.site", i), fmt.Sprintf("192.0.2.%d", z.rng.IntN(3)))}
}

func (z *zoneModel) records() []Record {
	out := make([]Record, 0, len(z.sets))
	for _, r := range z.sets {
		out = append(out, r)
	}
	return out
}

func (z *zoneModel) apply(changes []types.Change) {
	for _, c := range changes {
		r := recordFromSDK(*c.ResourceRecordSet)
		if c.Action == types.ChangeActionDelete {
			delete(z.sets, r.key())
		} else {
			z.sets[r.key()] = r
		}
	}
}

// expectListedAs checks snap against a snapshot of the model built from scratch.
func (z *zoneModel) expectListedAs(g Gomega, snap *Snapshot) {
	fresh := NewSnapshot(z.records()...)
	g.Expect(snap.Len()).To(Equal(len(z.sets)))
	g.Expect(snap.Records()).To(Equal(fresh.Records()))
	for i := range 600 {
		g.Expect(snap.registriesOf(z.owner(i))).To(Equal(fresh.registriesOf(z.owner(i))), z.owner(i))
		g.Expect(Diff(snap, z.owner(i), z.want[i]).InSync()).To(BeTrue(), z.owner(i))
	}
}

// A listing may hold several record sets of one name and type (weighted or other routing
// policies, which SecureSite never writes): the snapshot keeps the last one listed.
func TestSnapshotKeepsTheLastListedOfOneKey(t *testing.T) {
	g := NewWithT(t)
	snap := NewSnapshot(a("w.z.site", "192.0.2.1"), a("other.z.site", "192.0.2.9"), a("w.z.site", "192.0.2.2"))
	g.Expect(snap.Len()).To(Equal(2))
	r, ok := snap.get("w.z.site", "A")
	g.Expect(ok).To(BeTrue())
	g.Expect(r.Values).To(Equal([]string{"192.0.2.2"}))
}
