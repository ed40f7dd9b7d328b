package records

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func aaaa(name, ip string) Record {
	return Record{Name: name, Type: "AAAA", TTL: 300, Values: []string{ip}}
}

// TestNameClaims: a name is claimed whole, and a released name is held before another owner may
// take it (issue: an AAAA beside another site's A; a name captured minutes after its owner left).
func TestNameClaims(t *testing.T) {
	const me, other = "c1/web/a", "c1/web/b"
	now := time.Unix(1_800_000_000, 0)
	hold := Hold{Duration: time.Hour, Now: now}
	api := a("api.z.site", "203.0.113.10")
	api6 := aaaa("api.z.site", "2001:db8::10")
	released := func(r Record, owner string, ago time.Duration) Record { return releasedRecord(r, owner, now.Add(-ago)) }
	cases := []struct {
		name         string
		observed     []Record
		desired      []Record
		want         []string
		wantConflict string // owner named in the conflict; "-" none
		heldUntil    time.Time
	}{
		{name: "AAAA beside another owner's A: conflict",
			observed: []Record{api, reg(api, other)}, desired: []Record{api6}, wantConflict: other},
		{name: "AAAA beside our own A: written",
			observed: []Record{api, reg(api, me)}, desired: []Record{api, api6}, wantConflict: "-",
			want: []string{"CREATE api.z.site AAAA", "CREATE _securesite-aaaa.api.z.site TXT"}},
		{name: "released by another owner 10 minutes ago: held",
			observed: []Record{released(api, other, 10*time.Minute)}, desired: []Record{api}, wantConflict: other,
			heldUntil: now.Add(50 * time.Minute)},
		{name: "released A held against an AAAA too",
			observed: []Record{released(api, other, 10*time.Minute)}, desired: []Record{api6}, wantConflict: other},
		{name: "released by another owner 2 hours ago: taken",
			observed: []Record{released(api, other, 2*time.Hour)}, desired: []Record{api}, wantConflict: "-",
			want: []string{"UPSERT _securesite-a.api.z.site TXT", "CREATE api.z.site A"}},
		{name: "released by us: taken back at once",
			observed: []Record{released(api, me, time.Minute)}, desired: []Record{api}, wantConflict: "-",
			want: []string{"UPSERT _securesite-a.api.z.site TXT", "CREATE api.z.site A"}},
		{name: "release with a hold: record deleted, registry kept as released",
			observed: []Record{api, reg(api, me)}, desired: nil, wantConflict: "-",
			want: []string{"DELETE api.z.site A", "UPSERT _securesite-a.api.z.site TXT"}},
		{name: "our release still held: nothing",
			observed: []Record{released(api, me, time.Minute)}, desired: nil, wantConflict: "-"},
		{name: "our release past its hold: registry removed",
			observed: []Record{released(api, me, 2*time.Hour)}, desired: nil, wantConflict: "-",
			want: []string{"DELETE _securesite-a.api.z.site TXT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := DiffWithHold(NewSnapshot(tc.observed...), me, tc.desired, hold)
			g.Expect(written(p)).To(Equal(tc.want))
			if tc.wantConflict == "-" {
				g.Expect(p.Conflicts).To(BeEmpty())
				return
			}
			g.Expect(p.Conflicts).To(HaveLen(1))
			g.Expect(p.Conflicts[0].Owner).To(Equal(tc.wantConflict))
			if !tc.heldUntil.IsZero() {
				g.Expect(p.Conflicts[0].HeldUntil).To(BeTemporally("==", tc.heldUntil))
			}
		})
	}
}

// TestDiffWithoutHoldDeletesRegistry: with no hold (TXT challenges, or --name-hold=0) a release
// deletes the registry record as before.
func TestDiffWithoutHoldDeletesRegistry(t *testing.T) {
	g := NewWithT(t)
	txt := Record{Name: "_acme-challenge.z.site", Type: "TXT", TTL: 60, Values: []string{"v"}}
	p := DiffWithHold(NewSnapshot(txt, reg(txt, "o")), "o", nil, Hold{Duration: time.Hour, Now: time.Now()})
	g.Expect(written(p)).To(Equal([]string{"DELETE _acme-challenge.z.site TXT", "DELETE _securesite-txt._acme-challenge.z.site TXT"}))
}

func TestClaimOfName(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hold := Hold{Duration: time.Hour, Now: now}
	api := a("api.z.site", "203.0.113.10")
	snap := NewSnapshot(api, reg(api, "o/web/a"), releasedRecord(a("old.z.site", "192.0.2.1"), "o/web/b", now.Add(-10*time.Minute)),
		releasedRecord(a("gone.z.site", "192.0.2.1"), "o/web/b", now.Add(-2*time.Hour)))
	for _, tc := range []struct {
		owner, name, want string
		held              bool
	}{
		{"o/web/b", "api.z.site", "o/web/a", false},
		{"o/web/a", "api.z.site", "", false},
		{"o/web/a", "API.z.site.", "", false},
		{"o/web/a", "old.z.site", "o/web/b", true},
		{"o/web/a", "gone.z.site", "", false},
		{"o/web/a", "free.z.site", "", false},
	} {
		got := claimOfName(snap, tc.owner, tc.name, hold)
		if got.Owner != tc.want || got.HeldUntil.IsZero() == tc.held {
			t.Errorf("claimOfName(%s, %s) = %+v, want owner %q held %v", tc.owner, tc.name, got, tc.want, tc.held)
		}
	}
}
