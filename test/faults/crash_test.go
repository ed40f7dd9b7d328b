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
// run: every site must converge (Ready, or gone when deleted), kumo must hold no AWS object that
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
	const zone, ns = "crash.test", "crash"
	const renamedObjects, retainedObjects = 300, 20
	start := time.Now()
	r := startRig(t, zone)
	r.createNamespace(ns)
	m := &crashingManager{t: t, w: r.w}
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("SECURESITE_CRASH_SEED"), 10, 64); err == nil {
		seed = v // replays a failed run's kill timings
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("kill timing seed %d", seed)

	// Sites 0, 1 and every third are static; 0 gets its bucket renamed, 1 is deleted under
	// Retain, and the last backend-only site is deleted too.
	static := func(i int) bool { return i%3 == 0 || i == 1 }
	sites := map[string]*v1alpha1.SecureSite{}
	for i := range nSites {
		s := site(ns, zone, i, static(i))
		sites[s.Name] = s
	}
	renamed, retained := sites["site-000"], sites["site-001"]
	deletedBackend := sites[fmt.Sprintf("site-%03d", nSites-1)]
	if static(nSites - 1) {
		deletedBackend = sites[fmt.Sprintf("site-%03d", nSites-2)]
	}
	oldBucket := naming.DefaultBucketName(renamed.Spec.Domain)
	newBucket := "crash-renamed-" + strings.ReplaceAll(renamed.Spec.Domain, ".", "-")
	retainedBucket := naming.DefaultBucketName(retained.Spec.Domain)

	// The objects are put by hand into the first buckets, as a deploy pipeline would; the
	// manager runs undisturbed until the buckets exist.
	r.mustCreate(renamed.DeepCopy())
	r.mustCreate(retained.DeepCopy())
	m.start()
	r.waitBucket(oldBucket)
	r.waitBucket(retainedBucket)
	r.putObjects(oldBucket, "site", renamedObjects)
	r.putObjects(retainedBucket, "keep", retainedObjects)
	for i := 2; i < nSites; i++ {
		r.mustCreate(sites[fmt.Sprintf("site-%03d", i)].DeepCopy())
	}

	var uptimes []time.Duration
	for k := range kills {
		if k > 0 {
			m.start()
		}
		switch k {
		case kills / 4:
			r.update(ns, renamed.Name, func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = newBucket })
			t.Logf("kill %d: bucket of %s renamed %s → %s", k, renamed.Name, oldBucket, newBucket)
		case kills / 2:
			r.deleteSite(ns, retained.Name)
			r.deleteSite(ns, deletedBackend.Name)
			t.Logf("kill %d: deleted %s (static, Retain) and %s", k, retained.Name, deletedBackend.Name)
		}
		up := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
		time.Sleep(up)
		m.kill()
		uptimes = append(uptimes, up)
	}
	t.Logf("%d kills (SIGKILL); uptimes before each kill: %v", kills, roundAll(uptimes))

	m.start()
	var live []string
	for name := range sites {
		if name != retained.Name && name != deletedBackend.Name {
			live = append(live, name)
		}
	}
	sort.Strings(live)
	settled := time.Now()
	r.waitConverged(ns, live, 5*time.Minute)
	t.Logf("all %d live sites Ready and 2 deleted sites gone %s after the last restart", len(live), time.Since(settled).Round(time.Second))
	// The Ready conditions may be a killed process's last words: give the surviving manager a
	// full pass over every site (it reconciles all of them on start) before taking stock.
	time.Sleep(10 * time.Second)
	got := r.waitConverged(ns, live, time.Minute)
	m.kill() // nothing may change under the inventory
	inv := r.inventory()

	// Every AWS object must be named by a live site's status (or be a bucket kept under Retain).
	var wantDists, wantOACs, wantCerts, wantBuckets []string
	for _, name := range live {
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
	wantBuckets = append(wantBuckets, oldBucket, retainedBucket)
	var dists, oacs []string
	for _, ids := range inv.distributions {
		dists = append(dists, ids...)
	}
	for _, ids := range inv.oacs {
		oacs = append(oacs, ids...)
	}
	orphans := 0
	orphans += compare(t, "distributions", dists, wantDists)
	orphans += compare(t, "origin access controls", oacs, wantOACs)
	orphans += compare(t, "ACM certificates", inv.certs, wantCerts)
	orphans += compare(t, "buckets", inv.buckets, wantBuckets)
	if got[renamed.Name].Status.Bucket.Name != newBucket {
		t.Errorf("%s serves bucket %s, want %s", renamed.Name, got[renamed.Name].Status.Bucket.Name, newBucket)
	}

	// Records: registry entries must name live owners; nothing may remain for the deleted sites,
	// and no DNS-01 challenge record may outlive its order.
	liveOwners := map[string]bool{}
	for _, name := range live {
		liveOwners[naming.Owner(crashOwnerID, ns, name)] = true
	}
	deletedDomains := []string{retained.Spec.Domain, deletedBackend.Spec.Domain}
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
			for _, d := range deletedDomains {
				if name == d || strings.HasSuffix(name, "."+d) {
					t.Errorf("record of deleted site left behind: %s", rec)
					orphans++
				}
			}
		}
	}

	// No data lost: the old bucket (Retain) and the new one both hold every object; the deleted
	// site's bucket (Retain) keeps its objects.
	counts := map[string]int{oldBucket: r.countObjects(oldBucket), newBucket: r.countObjects(newBucket), retainedBucket: r.countObjects(retainedBucket)}
	for bucket, want := range map[string]int{oldBucket: renamedObjects, newBucket: renamedObjects, retainedBucket: retainedObjects} {
		if counts[bucket] != want {
			t.Errorf("bucket %s holds %d objects, want %d", bucket, counts[bucket], want)
		}
	}
	t.Logf("\n%d sites (%d live, 2 deleted), %d kills, %d restarts (the last one left running)\n"+
		"kumo holds: %d distributions, %d OACs, %d ACM certificates, %d buckets, %d records\n"+
		"objects: %s %d, %s %d, %s %d\norphans or duplicates found: %d\ntest duration %s",
		nSites, len(live), kills, kills, len(dists), len(oacs), len(inv.certs), len(inv.buckets), len(inv.records),
		oldBucket, counts[oldBucket], newBucket, counts[newBucket], retainedBucket, counts[retainedBucket],
		orphans, time.Since(start).Round(time.Second))
}

// compare reports the difference between what kumo holds and what the sites account for, and
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
		t.Errorf("%s: kumo has %d %v, sites account for %d %v; not accounted for %v, missing %v",
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

// waitBucket waits until kumo has the bucket.
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
