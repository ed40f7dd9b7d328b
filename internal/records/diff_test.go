package records

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	. "github.com/onsi/gomega"
)

func a(name, ip string) Record {
	return Record{Name: name, Type: "A", TTL: 300, Values: []string{ip}}
}

func cname(name, target string) Record {
	return Record{Name: name, Type: "CNAME", TTL: 300, Values: []string{target}}
}

func reg(r Record, owner string) Record { return registryRecord(r, owner) }

// written renders a plan's changes as "ACTION name TYPE" for comparison.
func written(p Plan) []string {
	var out []string
	for _, c := range p.changes {
		out = append(out, string(c.Action)+" "+aws.ToString(c.ResourceRecordSet.Name)+" "+string(c.ResourceRecordSet.Type))
	}
	return out
}

func TestDiff(t *testing.T) {
	const me, other = "web/a", "web/b"
	cases := slices.Concat(ownedRecordCases(me), conflictCases(other), replaceAndDeleteCases(me, other))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			p := Diff(NewSnapshot(c.observed...), me, c.desired)
			g.Expect(written(p)).To(Equal(c.want))
			g.Expect(p.Conflicts).To(Equal(c.wantConflicts))
			g.Expect(p.InSync()).To(Equal(len(c.want) == 0))
			for _, r := range p.Changed() {
				g.Expect(isRegistry(r)).To(BeFalse(), "Changed lists the owner's records only")
			}
		})
	}
}

type diffCase struct {
	name          string
	observed      []Record
	desired       []Record
	want          []string
	wantConflicts []Conflict
}

// apiRecords: the backend's A record, the same name moved to another address, and as a CNAME.
func apiRecords() (api, apiMoved, apiCNAME Record) {
	return a("api.z.site", "203.0.113.10"), a("api.z.site", "203.0.113.99"), cname("api.z.site", "lb.example.net")
}

// ownedRecordCases: records of this owner are created, kept, or repaired when they drift.
func ownedRecordCases(me string) []diffCase {
	api, apiMoved, _ := apiRecords()
	return []diffCase{
		{name: "empty zone: record and registry created",
			desired: []Record{api},
			want:    []string{"CREATE api.z.site A", "CREATE _securesite-a.api.z.site TXT"}},
		{name: "in sync: nothing",
			observed: []Record{api, reg(api, me)}, desired: []Record{api}},
		{name: "observed names differ only in case and dot: in sync",
			observed: []Record{{Name: "API.z.site.", Type: "A", TTL: 300, Values: []string{"203.0.113.10"}}, reg(api, me)},
			desired:  []Record{api}},
		{name: "owned record drifted: upsert, registry left alone",
			observed: []Record{apiMoved, reg(api, me)}, desired: []Record{api},
			want: []string{"UPSERT api.z.site A"}},
		{name: "owned ttl drifted: upsert",
			observed: []Record{{Name: "api.z.site", Type: "A", TTL: 60, Values: []string{"203.0.113.10"}}, reg(api, me)},
			desired:  []Record{api}, want: []string{"UPSERT api.z.site A"}},
		{name: "registry without record: record created",
			observed: []Record{reg(api, me)}, desired: []Record{api},
			want: []string{"CREATE api.z.site A"}},
	}
}

// conflictCases: a name held by no one or by another owner is reported, never written.
func conflictCases(other string) []diffCase {
	api, apiMoved, apiCNAME := apiRecords()
	return []diffCase{
		{name: "unmanaged record: conflict, untouched",
			observed: []Record{apiMoved}, desired: []Record{api},
			wantConflicts: []Conflict{{Record: api, Owner: ""}}},
		{name: "other owner's record: conflict with its owner",
			observed: []Record{apiMoved, reg(api, other)}, desired: []Record{api},
			wantConflicts: []Conflict{{Record: api, Owner: other}}},
		{name: "other owner's registry alone still claims the name",
			observed: []Record{reg(api, other)}, desired: []Record{api},
			wantConflicts: []Conflict{{Record: api, Owner: other}}},
		{name: "foreign TXT at the registry name: conflict, unmanaged",
			observed: []Record{{Name: "_securesite-a.api.z.site", Type: "TXT", TTL: 300, Values: []string{"hello"}}},
			desired:  []Record{api}, wantConflicts: []Conflict{{Record: api, Owner: ""}}},
		{name: "CNAME where an unmanaged A lives: conflict",
			observed: []Record{api}, desired: []Record{apiCNAME},
			wantConflicts: []Conflict{{Record: apiCNAME, Owner: ""}}},
		{name: "A where another owner's CNAME lives: conflict",
			observed: []Record{apiCNAME, reg(apiCNAME, other)}, desired: []Record{api},
			wantConflicts: []Conflict{{Record: api, Owner: other}}},
		{name: "A next to a foreign TXT at the same name is fine",
			observed: []Record{{Name: "api.z.site", Type: "TXT", TTL: 300, Values: []string{"v=spf1 -all"}}},
			desired:  []Record{api},
			want:     []string{"CREATE api.z.site A", "CREATE _securesite-a.api.z.site TXT"}},
	}
}

// replaceAndDeleteCases: a record of this owner changes type or is no longer desired.
func replaceAndDeleteCases(me, other string) []diffCase {
	api, _, apiCNAME := apiRecords()
	return []diffCase{
		{name: "own A replaced by own CNAME: delete A and its registry, create CNAME",
			observed: []Record{api, reg(api, me)}, desired: []Record{apiCNAME},
			want: []string{"CREATE api.z.site CNAME", "CREATE _securesite-cname.api.z.site TXT",
				"DELETE api.z.site A", "DELETE _securesite-a.api.z.site TXT"}},
		{name: "no longer desired: record and registry deleted, others' kept",
			observed: []Record{api, reg(api, me), a("www.z.site", "192.0.2.1"), reg(a("www.z.site", ""), other), a("x.z.site", "192.0.2.2")},
			want:     []string{"DELETE api.z.site A", "DELETE _securesite-a.api.z.site TXT"}},
		{name: "duplicate desired records count once",
			desired: []Record{api, api},
			want:    []string{"CREATE api.z.site A", "CREATE _securesite-a.api.z.site TXT"}},
	}
}

func TestDiffDeletesWithObservedValues(t *testing.T) {
	g := NewWithT(t)
	// AWS only deletes a record set when the request repeats it exactly as stored.
	stored := recordFromSDKFor(t, "Old.Z.Site.", "A", "192.0.2.7")
	p := Diff(NewSnapshot(stored, reg(stored, "web/a")), "web/a", nil)
	g.Expect(p.Deletes).To(HaveLen(1))
	g.Expect(aws.ToString(p.changes[0].ResourceRecordSet.Name)).To(Equal("Old.Z.Site."))
}

func TestSnapshotWithChanges(t *testing.T) {
	g := NewWithT(t)
	before := NewSnapshot(a("old.z.site", "192.0.2.1"))
	p := Diff(NewSnapshot(), "web/a", []Record{a("new.z.site", "192.0.2.2")})
	after := before.withChanges(p.changes)
	after = after.withChanges(Diff(after, "web/a", []Record{a("new.z.site", "192.0.2.3")}).changes)
	g.Expect(Diff(after, "web/a", []Record{a("new.z.site", "192.0.2.3")}).InSync()).To(BeTrue())
	g.Expect(before.Len()).To(Equal(1), "older snapshots are never changed")
	g.Expect(after.Len()).To(Equal(3))
	after = after.withChanges(Diff(after, "web/a", nil).changes)
	g.Expect(after.Records()).To(HaveLen(1))
}

func TestPlanSummary(t *testing.T) {
	g := NewWithT(t)
	api := a("api.z.site", "203.0.113.10")
	p := Diff(NewSnapshot(a("api.z.site", "192.0.2.1"), reg(api, "web/a"), a("old.z.site", "192.0.2.2"), reg(a("old.z.site", ""), "web/a")),
		"web/a", []Record{api, a("new.z.site", "192.0.2.3")})
	g.Expect(p.Summary()).To(Equal([]string{"CREATE A new.z.site", "UPSERT A api.z.site", "DELETE A old.z.site"}))
}
