package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/testworld"
)

// crashingManager runs the real manager binary with hack/demo.sh's flags, so that kill -9 loses
// everything a crash loses: memory, in-flight AWS calls, half-written status.
type crashingManager struct {
	t   *testing.T
	w   *testworld.World
	cur *testworld.ManagerProcess
}

// crashOwnerID is the controller's --owner-id in the crash suite, so ownership records can be
// matched to live sites.
const crashOwnerID = "crash"

func (m *crashingManager) start() {
	m.t.Helper()
	m.cur = m.w.StartManager(m.t, testworld.ManagerOptions{Args: []string{"--acme-email=crash@crash.test", "--owner-id=" + crashOwnerID}, NoWait: true})
}

// kill is kill -9: no shutdown hooks, no deferred status writes.
func (m *crashingManager) kill() {
	if m.cur == nil {
		return
	}
	m.cur.Kill()
	m.t.Logf("killed manager pid %d (SIGKILL)", m.cur.Cmd.Process.Pid)
	m.cur = nil
}

// TestCrashSafety kills the manager with SIGKILL at random moments (0.3–3 s after each start)
// while sites are created, a bucket with objects is renamed and sites are deleted, then lets it
// run: every site must converge (Ready, or gone when deleted), the AWS emulator must hold no object that
// no live site's status names (apart from buckets kept under Retain), and no object may be lost.
// 20 kills and 6 sites in `make test`; SECURESITE_CRASH_KILLS=100 runs 100 kills over 12 sites.
func TestCrashSafety(t *testing.T) {
	kills, nSites := 20, 6
	if v, _ := strconv.Atoi(os.Getenv("SECURESITE_CRASH_KILLS")); v > 0 {
		kills = v
		if v >= 50 {
			nSites = 12
		}
	}
	start := time.Now()
	c := newCrashRun(t, kills, nSites)
	rng := killTimingRNG(t)
	c.createStaticSitesAndTheirObjectsThenTheRest()
	uptimes := c.killRepeatedlyWhileRenamingAndDeleting(rng)
	t.Logf("%d kills (SIGKILL); uptimes before each kill: %v", kills, roundAll(uptimes))

	got := c.restartAndWaitConverged()
	inv := c.r.inventory()
	orphans, dists, oacs := c.checkEveryAWSObjectAccountedFor(got, inv)
	orphans += c.checkNoRecordOfADeletedSite(inv)
	counts := c.checkNoObjectLost()
	t.Logf("\n%d sites (%d live, 2 deleted), %d kills, %d restarts (the last one left running)\n"+
		"%s holds: %d distributions, %d OACs, %d ACM certificates, %d buckets, %d records\n"+
		"objects: %s %d, %s %d, %s %d\norphans or duplicates found: %d\ntest duration %s",
		nSites, len(c.live), kills, kills, c.r.w.AWS.Name, dists, oacs, len(inv.certs), len(inv.buckets), len(inv.records),
		c.oldBucket, counts[c.oldBucket], c.newBucket, counts[c.newBucket], c.retainedBucket, counts[c.retainedBucket],
		orphans, time.Since(start).Round(time.Second))
}

const (
	crashZone, crashNS              = "crash.test", "crash"
	renamedObjects, retainedObjects = 300, 20
)

// crashRun is the plan of the crash test: its sites, the one whose bucket is renamed, the two
// that are deleted, and the buckets whose objects must survive.
type crashRun struct {
	t     *testing.T
	r     *rig
	m     *crashingManager
	kills int
	sites map[string]*v1alpha1.SecureSite
	// renamed gets its bucket renamed; retained (static, Retain) and deletedBackend are deleted.
	renamed, retained, deletedBackend    *v1alpha1.SecureSite
	oldBucket, newBucket, retainedBucket string
	live                                 []string // the sites not deleted, sorted
}

func newCrashRun(t *testing.T, kills, nSites int) *crashRun {
	r := startRig(t, crashZone)
	r.createNamespace(crashNS)
	c := &crashRun{t: t, r: r, m: &crashingManager{t: t, w: r.w}, kills: kills, sites: map[string]*v1alpha1.SecureSite{}}
	// Sites 0, 1 and every third are static; 0 gets its bucket renamed, 1 is deleted under
	// Retain, and the last backend-only site is deleted too.
	static := func(i int) bool { return i%3 == 0 || i == 1 }
	for i := range nSites {
		s := site(crashNS, crashZone, i, static(i))
		c.sites[s.Name] = s
	}
	c.renamed, c.retained = c.sites["site-000"], c.sites["site-001"]
	c.deletedBackend = c.sites[fmt.Sprintf("site-%03d", nSites-1)]
	if static(nSites - 1) {
		c.deletedBackend = c.sites[fmt.Sprintf("site-%03d", nSites-2)]
	}
	c.oldBucket = naming.DefaultBucketName(c.renamed.Spec.Domain)
	c.newBucket = "crash-renamed-" + strings.ReplaceAll(c.renamed.Spec.Domain, ".", "-")
	c.retainedBucket = naming.DefaultBucketName(c.retained.Spec.Domain)
	for name := range c.sites {
		if name != c.retained.Name && name != c.deletedBackend.Name {
			c.live = append(c.live, name)
		}
	}
	sort.Strings(c.live)
	return c
}

// killTimingRNG: SECURESITE_CRASH_SEED replays a failed run's kill timings.
func killTimingRNG(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("SECURESITE_CRASH_SEED"), 10, 64); err == nil {
		seed = v // replays a failed run's kill timings
	}
	t.Logf("kill timing seed %d", seed)
	return rand.New(rand.NewPCG(uint64(seed), 1))
}

// createStaticSitesAndTheirObjectsThenTheRest: the objects are put by hand into the first
// buckets, as a deploy pipeline would; the manager runs undisturbed until the buckets exist.
func (c *crashRun) createStaticSitesAndTheirObjectsThenTheRest() {
	r := c.r
	r.mustCreate(c.renamed.DeepCopy())
	r.mustCreate(c.retained.DeepCopy())
	c.m.start()
	r.waitBucket(c.oldBucket)
	r.waitBucket(c.retainedBucket)
	r.putObjects(c.oldBucket, "site", renamedObjects)
	r.putObjects(c.retainedBucket, "keep", retainedObjects)
	for i := 2; i < len(c.sites); i++ {
		r.mustCreate(c.sites[fmt.Sprintf("site-%03d", i)].DeepCopy())
	}
}

// killRepeatedlyWhileRenamingAndDeleting restarts and kills the manager c.kills times; a quarter
// of the way in the bucket is renamed, half way the two sites are deleted. It returns the uptimes.
func (c *crashRun) killRepeatedlyWhileRenamingAndDeleting(rng *rand.Rand) []time.Duration {
	t, r, m := c.t, c.r, c.m
	var uptimes []time.Duration
	for k := range c.kills {
		if k > 0 {
			m.start()
		}
		switch k {
		case c.kills / 4:
			r.update(crashNS, c.renamed.Name, func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = c.newBucket })
			t.Logf("kill %d: bucket of %s renamed %s → %s", k, c.renamed.Name, c.oldBucket, c.newBucket)
		case c.kills / 2:
			r.deleteSite(crashNS, c.retained.Name)
			r.deleteSite(crashNS, c.deletedBackend.Name)
			t.Logf("kill %d: deleted %s (static, Retain) and %s", k, c.retained.Name, c.deletedBackend.Name)
		}
		up := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
		time.Sleep(up)
		m.kill()
		uptimes = append(uptimes, up)
	}
	return uptimes
}

// restartAndWaitConverged starts the manager once more and waits for every live site Ready and
// the deleted ones gone, twice, then kills it so nothing changes under the inventory.
func (c *crashRun) restartAndWaitConverged() map[string]v1alpha1.SecureSite {
	c.m.start()
	settled := time.Now()
	c.r.waitConverged(crashNS, c.live, 5*time.Minute)
	c.t.Logf("all %d live sites Ready and 2 deleted sites gone %s after the last restart", len(c.live), time.Since(settled).Round(time.Second))
	// The Ready conditions may be a killed process's last words: give the surviving manager a
	// full pass over every site (it reconciles all of them on start) before taking stock.
	time.Sleep(10 * time.Second)
	got := c.r.waitConverged(crashNS, c.live, time.Minute)
	c.m.kill() // nothing may change under the inventory
	return got
}

// checkEveryAWSObjectAccountedFor: every AWS object must be named by a live site's status (or be
// a bucket kept under Retain), and the renamed site serves the new bucket. It returns the orphans
// found and the distributions and OACs the emulator holds.
func (c *crashRun) checkEveryAWSObjectAccountedFor(got map[string]v1alpha1.SecureSite, inv inventory) (orphans, nDists, nOACs int) {
	t := c.t
	var wantDists, wantOACs, wantCerts, wantBuckets []string
	for _, name := range c.live {
		s := got[name]
		if s.Spec.StaticSite == nil {
			continue
		}
		if s.Status.Distribution == nil || s.Status.Certificate == nil || s.Status.Bucket == nil {
			t.Fatalf("%s: Ready without distribution, certificate or bucket status: %+v", name, s.Status)
		}
		wantDists = append(wantDists, s.Status.Distribution.ID)
		wantOACs = append(wantOACs, s.Status.Distribution.OriginAccessControlID)
		wantCerts = append(wantCerts, s.Status.Certificate.ACMCertificateARN)
		wantBuckets = append(wantBuckets, s.Status.Bucket.Name)
	}
	wantBuckets = append(wantBuckets, c.oldBucket, c.retainedBucket)
	var dists, oacs []string
	for _, ids := range inv.distributions {
		dists = append(dists, ids...)
	}
	for _, ids := range inv.oacs {
		oacs = append(oacs, ids...)
	}
	orphans += compare(t, "distributions", dists, wantDists)
	orphans += compare(t, "origin access controls", oacs, wantOACs)
	orphans += compare(t, "ACM certificates", inv.certs, wantCerts)
	orphans += compare(t, "buckets", inv.buckets, wantBuckets)
	if got[c.renamed.Name].Status.Bucket.Name != c.newBucket {
		t.Errorf("%s serves bucket %s, want %s", c.renamed.Name, got[c.renamed.Name].Status.Bucket.Name, c.newBucket)
	}
	return orphans, len(dists), len(oacs)
}

// checkNoRecordOfADeletedSite: registry entries must name live owners; nothing may remain for the
// deleted sites, and no DNS-01 challenge record may outlive its order. It returns the orphans.
func (c *crashRun) checkNoRecordOfADeletedSite(inv inventory) int {
	t := c.t
	orphans := 0
	liveOwners := map[string]bool{}
	for _, name := range c.live {
		liveOwners[naming.Owner(crashOwnerID, crashNS, name)] = true
	}
	deletedDomains := []string{c.retained.Spec.Domain, c.deletedBackend.Spec.Domain}
	for _, rec := range inv.records {
		typ, rest, _ := strings.Cut(rec, " ")
		name, value, _ := strings.Cut(rest, " ")
		switch {
		case strings.HasPrefix(name, "_acme-challenge."):
			t.Errorf("challenge record left behind: %s", rec)
			orphans++
		case strings.HasPrefix(name, "_securesite-") && typ == "TXT":
			// Challenge records have their own owner, "<site>/acme".
			// A deleted site's address names stay held for it (--name-hold): those registry records
			// are marked released, and are meant to be there.
			if owner, ok := records.ParseOwner(value); ok && !liveOwners[strings.TrimSuffix(owner, "/acme")] && !strings.Contains(value, "released=") {
				t.Errorf("registry record of a deleted site: %s", rec)
				orphans++
			}
		default:
			orphans += recordsOfDeletedDomains(t, rec, name, deletedDomains)
		}
	}
	return orphans
}

func recordsOfDeletedDomains(t *testing.T, rec, name string, deletedDomains []string) int {
	t.Helper()
	orphans := 0
	for _, d := range deletedDomains {
		if name == d || strings.HasSuffix(name, "."+d) {
			t.Errorf("record of deleted site left behind: %s", rec)
			orphans++
		}
	}
	return orphans
}

// checkNoObjectLost: the old bucket (Retain) and the new one both hold every object; the deleted
// site's bucket (Retain) keeps its objects. It returns the counts.
func (c *crashRun) checkNoObjectLost() map[string]int {
	r := c.r
	counts := map[string]int{c.oldBucket: r.countObjects(c.oldBucket), c.newBucket: r.countObjects(c.newBucket), c.retainedBucket: r.countObjects(c.retainedBucket)}
	for bucket, want := range map[string]int{c.oldBucket: renamedObjects, c.newBucket: renamedObjects, c.retainedBucket: retainedObjects} {
		if counts[bucket] != want {
			c.t.Errorf("bucket %s holds %d objects, want %d", bucket, counts[bucket], want)
		}
	}
	return counts
}

// compare reports the difference between what the emulator holds and what the sites account for, and
// returns the number of extra objects.
func compare(t *testing.T, what string, have, want []string) int {
	t.Helper()
	var extra, missing []string
	for _, h := range have {
		if !slices.Contains(want, h) {
			extra = append(extra, h)
		}
	}
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	if len(have) != len(want) || len(extra) > 0 || len(missing) > 0 {
		t.Errorf("%s: the emulator has %d %v, sites account for %d %v; not accounted for %v, missing %v",
			what, len(have), have, len(want), want, extra, missing)
	}
	return len(have) - len(want) + len(missing)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Millisecond)
	}
	return out
}

// waitBucket waits until the emulator has the bucket.
func (r *rig) waitBucket(name string) {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		inv := r.inventory()
		if slices.Contains(inv.buckets, name) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("bucket %s not created after 2 minutes", name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// update re-reads the site and applies mutate, retrying on conflicts.
func (r *rig) update(ns, name string, mutate func(*v1alpha1.SecureSite)) {
	r.t.Helper()
	for range 10 {
		s := &v1alpha1.SecureSite{}
		if err := r.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			r.t.Fatal(err)
		}
		mutate(s)
		err := r.k8s.Update(context.Background(), s)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "modified") {
			r.t.Fatalf("updating %s: %v", name, err)
		}
	}
	r.t.Fatalf("updating %s: too many conflicts", name)
}
