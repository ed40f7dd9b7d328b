package records

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld"
)

// One AWS emulator (kumo or moto, one run each) serves the package; each test works in zones of
// its own.
var (
	awsCfg   aws.Config
	emulator *testworld.Emulator
)

func TestMain(m *testing.M) {
	os.Exit(testworld.RunWithEmulator(m, func(e *testworld.Emulator, c awsclient.Config) { emulator, awsCfg = e, c.AWS }))
}

// fakeClock lets tests age snapshots and caches without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

// world gives a test a zone of its own and a plain SDK client for the changes a human makes.
type world struct {
	t      *testing.T
	ctx    context.Context
	client *r53.Client
	zone   Zone
}

func newWorld(t *testing.T, zoneName string) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), client: r53.NewFromConfig(awsCfg)}
	out, err := w.client.CreateHostedZone(w.ctx, &r53.CreateHostedZoneInput{
		Name: aws.String(zoneName), CallerReference: aws.String(fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatalf("creating zone: %v", err)
	}
	w.zone = zoneFromSDK(*out.HostedZone)
	return w
}

// byHand writes a change the way a person in the console would, bypassing the service.
func (w *world) byHand(action types.ChangeAction, r Record) {
	w.t.Helper()
	_, err := w.client.ChangeResourceRecordSets(w.ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(w.zone.ID),
		ChangeBatch:  &types.ChangeBatch{Changes: []types.Change{{Action: action, ResourceRecordSet: new(recordToSDK(r))}}},
	})
	if err != nil {
		w.t.Fatalf("changing %s by hand: %v", r, err)
	}
}

// records lists the zone as it really is, every page, leaving out the NS and SOA records that
// Route53 creates at the apex of every new zone (moto does too; kumo creates none).
func (w *world) records() map[string]Record {
	w.t.Helper()
	m := map[string]Record{}
	p := r53.NewListResourceRecordSetsPaginator(w.client, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(w.zone.ID)})
	for p.HasMorePages() {
		out, err := p.NextPage(w.ctx)
		if err != nil {
			w.t.Fatalf("listing: %v", err)
		}
		for _, rs := range out.ResourceRecordSets {
			r := recordFromSDK(rs)
			r.raw, r.listedName = nil, ""
			if r.Name == w.zone.Name && (r.Type == "NS" || r.Type == "SOA") {
				continue
			}
			m[r.key()] = r
		}
	}
	return m
}

// calls counts Route53 calls of one operation made while fn runs.
func calls(op string, fn func()) int {
	before := awsclient.CallCount("Route 53", op)
	fn()
	return int(awsclient.CallCount("Route 53", op) - before)
}

func counted(fn func()) (lists, writes int) {
	lb := awsclient.CallCount("Route 53", "ListResourceRecordSets")
	writes = calls("ChangeResourceRecordSets", fn)
	return int(awsclient.CallCount("Route 53", "ListResourceRecordSets") - lb), writes
}

func TestEnsureCreatesRecordsWithRegistryAndThenWritesNothing(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "create.site")
	svc := New(awsCfg, Options{})
	desired := []Record{
		DesiredBackendRecord("api.create.site", "203.0.113.10", 60),
		DesiredBackendRecord("api.create.site", "2001:db8::10", 60),
		DesiredBackendRecord("www.create.site", "lb.example.net", 60),
		{Name: "create.site", Type: "A", Alias: &AliasTarget{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111111abcdef8.cloudfront.net"}},
	}
	res, err := svc.Ensure(w.ctx, w.zone, "web/a", desired)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Conflicts).To(BeEmpty())
	g.Expect(res.Changed).To(HaveLen(4))
	g.Expect(res.ChangeID).NotTo(BeEmpty())
	g.Expect(svc.ChangeInSync(w.ctx, res.ChangeID)).To(BeTrue())

	got := w.records()
	for _, d := range desired {
		d = normalizeRecord(d)
		g.Expect(got).To(HaveKeyWithValue(d.key(), d))
		regKey := RegistryName(d) + "|TXT"
		g.Expect(got).To(HaveKey(regKey))
		g.Expect(got[regKey].Values).To(Equal([]string{"heritage=securesite,owner=web/a"}))
	}
	raw, _ := w.client.ListResourceRecordSets(w.ctx, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(w.zone.ID)})
	for _, rs := range raw.ResourceRecordSets {
		if rs.Type == types.RRTypeTxt {
			g.Expect(aws.ToString(rs.ResourceRecords[0].Value)).To(Equal(`"heritage=securesite,owner=web/a"`), "TXT stored quoted")
		}
	}

	lists, writes := counted(func() {
		res, err = svc.Ensure(w.ctx, w.zone, "web/a", desired)
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(EnsureResult{InSync: true}))
	g.Expect([]int{lists, writes}).To(Equal([]int{0, 0}), "same service: snapshot already holds our writes")

	lists, writes = counted(func() {
		res, err = New(awsCfg, Options{}).Ensure(w.ctx, w.zone, "web/a", desired)
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.InSync && len(res.Changed) == 0).To(BeTrue())
	g.Expect([]int{lists, writes}).To(Equal([]int{1, 0}), "fresh service: one list, no write")
}

func TestEnsureRepairsHandModifiedRecord(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "drift.site")
	clock := newClock()
	svc := New(awsCfg, Options{Now: clock.Now})
	want := DesiredBackendRecord("api.drift.site", "203.0.113.10", 60)
	_, err := svc.Ensure(w.ctx, w.zone, "web/a", []Record{want})
	g.Expect(err).NotTo(HaveOccurred())

	w.byHand(types.ChangeActionUpsert, DesiredBackendRecord("api.drift.site", "198.51.100.66", 300))
	clock.Advance(31 * time.Second) // the snapshot expires; the drift becomes visible

	res, err := svc.Ensure(w.ctx, w.zone, "web/a", []Record{want})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Changed).To(ConsistOf(HaveField("Values", []string{"203.0.113.10"})))
	g.Expect(w.records()).To(HaveKeyWithValue(want.key(), want))
}

func TestForeignRecordIsConflictAndUntouched(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "foreign.site")
	foreign := DesiredBackendRecord("api.foreign.site", "198.51.100.1", 300)
	w.byHand(types.ChangeActionCreate, foreign)
	svc := New(awsCfg, Options{})

	var res EnsureResult
	var err error
	writes := calls("ChangeResourceRecordSets", func() {
		res, err = svc.Ensure(w.ctx, w.zone, "web/a", []Record{DesiredBackendRecord("api.foreign.site", "203.0.113.10", 60)})
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(writes).To(BeZero())
	g.Expect(res.Conflicts).To(ConsistOf(HaveField("Owner", "")))
	g.Expect(w.records()).To(HaveKeyWithValue(foreign.key(), foreign))

	// A CNAME cannot live beside the foreign A either.
	res, err = svc.Ensure(w.ctx, w.zone, "web/a", []Record{DesiredBackendRecord("api.foreign.site", "lb.example.net", 60)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Conflicts).To(HaveLen(1))
	g.Expect(w.records()).To(HaveLen(1))
}

func TestSecondOwnerOfANameGetsConflict(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "twoowners.site")
	svc := New(awsCfg, Options{})
	_, err := svc.Ensure(w.ctx, w.zone, "web/a", []Record{DesiredBackendRecord("api.twoowners.site", "203.0.113.10", 60)})
	g.Expect(err).NotTo(HaveOccurred())
	res, err := svc.Ensure(w.ctx, w.zone, "web/b", []Record{DesiredBackendRecord("api.twoowners.site", "203.0.113.99", 60)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Conflicts).To(ConsistOf(HaveField("Owner", "web/a")))
	g.Expect(w.records()["api.twoowners.site|A"].Values).To(Equal([]string{"203.0.113.10"}))

	// Both at once, in the same batch window: exactly one wins, the other sees the winner.
	results := make([]EnsureResult, 2)
	var wg sync.WaitGroup
	for i, owner := range []string{"web/c", "web/d"} {
		wg.Go(func() {
			var err error
			results[i], err = svc.Ensure(w.ctx, w.zone, owner, []Record{DesiredBackendRecord("race.twoowners.site", fmt.Sprintf("192.0.2.%d", i+1), 60)})
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
	wg.Wait()
	winners := 0
	for _, r := range results {
		if len(r.Conflicts) == 0 {
			winners++
		}
	}
	g.Expect(winners).To(Equal(1))
}

func TestReleaseRemovesOnlyWhatTheOwnerOwns(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "release.site")
	foreign := DesiredBackendRecord("old.release.site", "198.51.100.1", 300)
	w.byHand(types.ChangeActionCreate, foreign)
	svc := New(awsCfg, Options{})
	_, err := svc.Ensure(w.ctx, w.zone, "web/a", []Record{
		DesiredBackendRecord("api.release.site", "203.0.113.10", 60),
		DesiredBackendRecord("www.release.site", "lb.example.net", 60),
	})
	g.Expect(err).NotTo(HaveOccurred())
	other := DesiredBackendRecord("b.release.site", "203.0.113.20", 60)
	_, err = svc.Ensure(w.ctx, w.zone, "web/b", []Record{other})
	g.Expect(err).NotTo(HaveOccurred())

	res, err := New(awsCfg, Options{}).Release(w.ctx, w.zone, "web/a")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Changed).To(HaveLen(2))
	g.Expect(w.records()).To(HaveLen(3))
	g.Expect(w.records()).To(HaveKey(foreign.key()))
	g.Expect(w.records()).To(HaveKey(other.key()))
	g.Expect(w.records()).To(HaveKey(RegistryName(other) + "|TXT"))
}

func TestConcurrentOwnersShareListsAndBatches(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "many.site")
	const sites = 50
	desiredFor := func(i int) []Record {
		return []Record{DesiredBackendRecord(fmt.Sprintf("s%d.many.site", i), fmt.Sprintf("192.0.2.%d", i+1), 60)}
	}
	round := func(svc *Service) (lists, writes, changed int) {
		var mu sync.Mutex
		lists, writes = counted(func() {
			var wg sync.WaitGroup
			for i := range sites {
				wg.Go(func() {
					res, err := svc.Ensure(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), desiredFor(i))
					g.Expect(err).NotTo(HaveOccurred())
					mu.Lock()
					changed += len(res.Changed)
					mu.Unlock()
				})
			}
			wg.Wait()
		})
		return lists, writes, changed
	}
	clock := newClock()
	svc := New(awsCfg, Options{Now: clock.Now})
	lists, writes, changed := round(svc)
	t.Logf("first round, %d sites at once: %d ListResourceRecordSets, %d ChangeResourceRecordSets", sites, lists, writes)
	g.Expect(changed).To(Equal(sites))
	g.Expect(lists).To(Equal(1))
	g.Expect(writes).To(BeNumerically("<=", 3))
	g.Expect(w.records()).To(HaveLen(2 * sites))

	clock.Advance(time.Minute)
	lists, writes, changed = round(svc)
	t.Logf("steady state, expired snapshot: %d ListResourceRecordSets, %d ChangeResourceRecordSets", lists, writes)
	g.Expect([]int{lists, writes, changed}).To(Equal([]int{1, 0, 0}))

	lists, writes, changed = round(New(awsCfg, Options{}))
	t.Logf("steady state, fresh service: %d ListResourceRecordSets, %d ChangeResourceRecordSets", lists, writes)
	g.Expect([]int{lists, writes, changed}).To(Equal([]int{1, 0, 0}))
}

func TestRejectedBatchDoesNotFailTheOthers(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "reject.site")
	svc := New(awsCfg, Options{BatchWindow: 300 * time.Millisecond})
	_, err := svc.Plan(w.ctx, w.zone, "web/x", nil) // the service now holds a snapshot of the empty zone
	g.Expect(err).NotTo(HaveOccurred())
	// Someone creates a record the snapshot does not know: our CREATE of it is rejected
	// (InvalidChangeBatch), and with it the batch.
	taken := DesiredBackendRecord("taken.reject.site", "198.51.100.1", 300)
	w.byHand(types.ChangeActionCreate, taken)

	owners := []string{"web/s0", "web/s1", "web/taken", "web/s3", "web/s4"}
	results := make([]EnsureResult, len(owners))
	errs := make([]error, len(owners))
	writes := calls("ChangeResourceRecordSets", func() {
		var wg sync.WaitGroup
		for i, owner := range owners {
			name := fmt.Sprintf("s%d.reject.site", i)
			if owner == "web/taken" {
				name = "taken.reject.site"
			}
			wg.Go(func() {
				results[i], errs[i] = svc.Ensure(w.ctx, w.zone, owner, []Record{DesiredBackendRecord(name, "203.0.113.10", 60)})
			})
		}
		wg.Wait()
	})
	t.Logf("one rejected change among %d callers: %d ChangeResourceRecordSets", len(owners), writes)
	got := w.records()
	for i, owner := range owners {
		g.Expect(errs[i]).NotTo(HaveOccurred(), owner)
		if owner == "web/taken" {
			g.Expect(results[i].Conflicts).To(ConsistOf(HaveField("Owner", "")), "re-decided on a fresh list")
			continue
		}
		g.Expect(results[i].Changed).To(HaveLen(1), owner)
		g.Expect(got).To(HaveKey(fmt.Sprintf("s%d.reject.site|A", i)))
	}
	g.Expect(got).To(HaveKeyWithValue(taken.key(), taken))
	g.Expect(got).NotTo(HaveKey(RegistryName(taken) + "|TXT"))
}

func TestFindZone(t *testing.T) {
	g := NewWithT(t)
	parent := newWorld(t, "findme.site").zone
	child := newWorld(t, "api.findme.site").zone
	clock := newClock()
	svc := New(awsCfg, Options{Now: clock.Now})
	ctx := context.Background()

	g.Expect(svc.FindZone(ctx, "v1.API.findme.site.", "")).To(Equal(child))
	g.Expect(svc.FindZone(ctx, "findme.site", "")).To(Equal(parent))
	g.Expect(svc.FindZone(ctx, "www.findme.site", "/hostedzone/"+parent.ID)).To(Equal(parent))

	_, err := svc.FindZone(ctx, "other.example", parent.ID)
	g.Expect(err).To(MatchError(ErrZoneNotFound))
	_, err = svc.FindZone(ctx, "x.findme.site", "00000000-0000-0000-0000-000000000000")
	g.Expect(err).To(MatchError(ErrZoneNotFound))

	// Lookups are cached; a zone created later is found once a miss lists the zones again.
	n := calls("ListHostedZones", func() {
		_, err = svc.FindZone(ctx, "late.site", "")
	})
	g.Expect(err).To(MatchError(ErrZoneNotFound))
	g.Expect(n).To(BeZero(), "a miss right after a list does not list again")
	late := newWorld(t, "late.site").zone
	clock.Advance(relistAfterMiss)
	g.Expect(svc.FindZone(ctx, "www.late.site", "")).To(Equal(late))
	n = calls("ListHostedZones", func() {
		for range 100 {
			_, _ = svc.FindZone(ctx, "www.findme.site", "")
			_, _ = svc.FindZone(ctx, "www.findme.site", parent.ID)
		}
	})
	g.Expect(n).To(BeZero())
}

func TestTXTValuesForDNS01(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "acme.site")
	svc := New(awsCfg, Options{})
	site := DesiredBackendRecord("api.acme.site", "203.0.113.10", 60)
	_, err := svc.Ensure(w.ctx, w.zone, "web/a", []Record{site})
	g.Expect(err).NotTo(HaveOccurred())

	// A name and its wildcard present two challenges on one TXT name at the same time.
	var wg sync.WaitGroup
	for _, v := range []string{"token-name", "token-wildcard"} {
		wg.Go(func() {
			_, err := svc.AddTXTValues(w.ctx, w.zone, "web/a", []TXTValue{{Name: "_acme-challenge.acme.site", Value: v}})
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
	wg.Wait()
	got := w.records()
	g.Expect(got["_acme-challenge.acme.site|TXT"].Values).To(Equal([]string{"token-name", "token-wildcard"}))
	g.Expect(got).To(HaveKeyWithValue(site.key(), site), "the owner's other records are left alone")

	_, err = svc.RemoveTXTValues(w.ctx, w.zone, "web/a", []TXTValue{{Name: "_acme-challenge.acme.site", Value: "token-name"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.records()["_acme-challenge.acme.site|TXT"].Values).To(Equal([]string{"token-wildcard"}))
	_, err = svc.RemoveTXTValues(w.ctx, w.zone, "web/a", []TXTValue{{Name: "_acme-challenge.acme.site", Value: "token-wildcard"}})
	g.Expect(err).NotTo(HaveOccurred())
	got = w.records()
	g.Expect(got).NotTo(HaveKey("_acme-challenge.acme.site|TXT"))
	g.Expect(got).NotTo(HaveKey("_securesite-txt._acme-challenge.acme.site|TXT"))
	g.Expect(got).To(HaveKey(site.key()))

	// Someone else's challenge record is not ours to extend.
	res, err := svc.AddTXTValues(w.ctx, w.zone, "web/b", []TXTValue{{Name: "_acme-challenge.api.acme.site", Value: "x"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Conflicts).To(BeEmpty())
	res, err = svc.AddTXTValues(w.ctx, w.zone, "web/a", []TXTValue{{Name: "_acme-challenge.api.acme.site", Value: "y"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Conflicts).To(ConsistOf(HaveField("Owner", "web/b")))

	// The challenges of one order (two names, one with its wildcard) are written in one change,
	// and removed in one.
	order := []TXTValue{
		{Name: "_acme-challenge.one.acme.site", Value: "n1"},
		{Name: "_acme-challenge.two.acme.site", Value: "n2"},
		{Name: "_acme-challenge.two.acme.site", Value: "n2-wildcard"},
	}
	g.Expect(calls("ChangeResourceRecordSets", func() {
		_, err = svc.AddTXTValues(w.ctx, w.zone, "web/c", order)
	})).To(Equal(1))
	g.Expect(err).NotTo(HaveOccurred())
	got = w.records()
	g.Expect(got["_acme-challenge.one.acme.site|TXT"].Values).To(Equal([]string{"n1"}))
	g.Expect(got["_acme-challenge.two.acme.site|TXT"].Values).To(Equal([]string{"n2", "n2-wildcard"}))
	g.Expect(calls("ChangeResourceRecordSets", func() {
		_, err = svc.RemoveTXTValues(w.ctx, w.zone, "web/c", order)
	})).To(Equal(1))
	g.Expect(err).NotTo(HaveOccurred())
	got = w.records()
	g.Expect(got).NotTo(HaveKey("_acme-challenge.one.acme.site|TXT"))
	g.Expect(got).NotTo(HaveKey("_acme-challenge.two.acme.site|TXT"))
}

// Route53 pages ListHostedZones (100 per page) and ListResourceRecordSets (300 per page); moto does
// too, and the test world's proxy pages kumo's record listings (kumo answers them in one page). A zone on a later page is found, and a zone of more than 300
// record sets is read whole: nothing is recreated and nothing foreign is missed.
func TestPaginationOfZonesAndRecords(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	for i := range 101 {
		newWorld(t, fmt.Sprintf("filler%03d.page.site", i))
	}
	w := newWorld(t, "last.page.site")
	svc := New(awsCfg, Options{})
	zoneLists := calls("ListHostedZones", func() {
		g.Expect(svc.FindZone(ctx, "www.last.page.site", "")).To(Equal(w.zone))
	})
	t.Logf("found a zone among %d+ zones with %d ListHostedZones calls", 102, zoneLists)

	var desired []Record
	for i := range 200 {
		desired = append(desired, DesiredBackendRecord(fmt.Sprintf("h%03d.last.page.site", i), "192.0.2.1", 60))
	}
	// A foreign record that sorts after everything we write, so it sits on the last page.
	foreign := DesiredBackendRecord("zzz.last.page.site", "198.51.100.9", 300)
	w.byHand(types.ChangeActionCreate, foreign)
	res, err := svc.Ensure(ctx, w.zone, "web/many", desired)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Changed).To(HaveLen(200))
	g.Expect(w.records()).To(HaveLen(401), "200 records, 200 registry records and the foreign one")

	fresh := New(awsCfg, Options{})
	var plan Plan
	lists := calls("ListResourceRecordSets", func() {
		plan, err = fresh.Plan(ctx, w.zone, "web/many", append(desired, DesiredBackendRecord("zzz.last.page.site", "203.0.113.1", 60)))
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("%d record sets read in %d ListResourceRecordSets calls", 403, lists)
	g.Expect(plan.Conflicts).To(ConsistOf(HaveField("Owner", "")), "the foreign record on the last page is seen")
	g.Expect(plan.Summary()).To(BeEmpty(), "nothing of ours is planned again")
}
