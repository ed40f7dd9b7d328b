package records

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// DesiredIndex is what every site wants in Route53, as the DNS phase last computed it: zone,
// owner and records per site. The drift check compares whole zones with it, so drift is found
// with one list per zone, whatever the number of sites.
//
// It holds an entry per site for the life of the process, so the entry is compact: the zone is
// shared by its sites, and the records are kept in the snapshot's compact form.
type DesiredIndex struct {
	mu    sync.Mutex
	sites map[string]desiredEntry // site key → entry
	zones map[Zone]*indexedZone
}

type indexedZone struct {
	zone  Zone
	sites int
}

type desiredEntry struct {
	zone    *indexedZone
	owner   string
	desired []desiredSet
}

type desiredSet struct {
	key rrKey
	set rrset
}

// NewDesiredIndex returns an empty index.
func NewDesiredIndex() *DesiredIndex {
	return &DesiredIndex{sites: map[string]desiredEntry{}, zones: map[Zone]*indexedZone{}}
}

// Publish records what the site identified by key wants in zone (replacing what it wanted before,
// in this zone or another).
func (ix *DesiredIndex) Publish(key string, zone Zone, owner string, desired []Record) {
	sets := make([]desiredSet, len(desired))
	for i, r := range desired {
		r = normalizeRecord(r)
		r.raw, r.listedName = nil, ""
		sets[i].key, sets[i].set = compact(r)
	}
	// The owner names the site ("<owner-id>/<namespace>/<name>"): the key is its tail, so the
	// two share one string.
	if strings.HasSuffix(owner, "/"+key) {
		key = owner[len(owner)-len(key):]
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.forget(key)
	z, ok := ix.zones[zone]
	if !ok {
		z = &indexedZone{zone: zone}
		ix.zones[zone] = z
	}
	z.sites++
	ix.sites[key] = desiredEntry{zone: z, owner: owner, desired: sets}
}

// Remove forgets a site (deleted, suspended, or without a zone): the drift check no longer
// repairs its records.
func (ix *DesiredIndex) Remove(key string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.forget(key)
}

func (ix *DesiredIndex) forget(key string) {
	e, ok := ix.sites[key]
	if !ok {
		return
	}
	delete(ix.sites, key)
	if e.zone.sites--; e.zone.sites == 0 {
		delete(ix.zones, e.zone.zone)
	}
}

// Len is the number of sites in the index.
func (ix *DesiredIndex) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.sites)
}

type zoneSites struct {
	zone  Zone
	sites []siteDesire
}

type siteDesire struct {
	key string
	desiredEntry
}

// records are the records the site wants.
func (e desiredEntry) records() []Record {
	out := make([]Record, len(e.desired))
	for i, d := range e.desired {
		out[i] = record(d.key, d.set)
	}
	return out
}

// byZone groups the index by zone, sorted by zone ID and site key (a stable order of work).
func (ix *DesiredIndex) byZone() []zoneSites {
	ix.mu.Lock()
	m := map[string]*zoneSites{}
	for key, e := range ix.sites {
		z, ok := m[e.zone.zone.ID]
		if !ok {
			z = &zoneSites{zone: e.zone.zone}
			m[e.zone.zone.ID] = z
		}
		z.sites = append(z.sites, siteDesire{key: key, desiredEntry: e})
	}
	ix.mu.Unlock()
	out := make([]zoneSites, 0, len(m))
	for _, z := range m {
		slices.SortFunc(z.sites, func(a, b siteDesire) int { return cmp.Compare(a.key, b.key) })
		out = append(out, *z)
	}
	slices.SortFunc(out, func(a, b zoneSites) int { return cmp.Compare(a.zone.ID, b.zone.ID) })
	return out
}

// DriftCheck reads every zone that holds records of indexed sites once per Interval and hands
// the sites whose records differ from what they want (changed, deleted, or a conflict gone) to
// Drifted. The listing becomes the zone's shared snapshot, so the reconciles it starts, and the
// sites' periodic resyncs, need no Route53 read of their own.
type DriftCheck struct {
	DNS      *Service
	Index    *DesiredIndex
	Interval time.Duration
	// Drifted is called for each drifted site's key; it may block (the check waits).
	Drifted func(ctx context.Context, key string)
	// Failed is told when a zone could not be read (optional); the next interval tries again.
	Failed func(zone Zone, err error)
}

// Start runs the check every Interval until ctx is done (a manager Runnable).
func (d *DriftCheck) Start(ctx context.Context) error {
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.CheckOnce(ctx)
		}
	}
}

// NeedLeaderElection: only the replica that writes repairs drift.
func (d *DriftCheck) NeedLeaderElection() bool { return true }

// CheckOnce lists each indexed zone once and reports the drifted sites; it returns their keys.
func (d *DriftCheck) CheckOnce(ctx context.Context) []string {
	start := time.Now()
	defer func() { DriftCheckDuration.Observe(time.Since(start).Seconds()) }()
	var drifted []string
	for _, z := range d.Index.byZone() {
		snap, err := d.DNS.Refresh(ctx, z.zone)
		if err != nil {
			if d.Failed != nil {
				d.Failed(z.zone, err)
			}
			continue
		}
		for _, s := range z.sites {
			if Diff(snap, s.owner, s.records()).InSync() {
				continue
			}
			drifted = append(drifted, s.key)
			DriftRepairs.Inc()
			if d.Drifted != nil {
				d.Drifted(ctx, s.key)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	DriftChecks.Inc()
	return drifted
}

// Refresh lists the zone now, whatever the age of its snapshot, and makes the listing the shared
// snapshot. A list already running for the zone is joined instead.
func (s *Service) Refresh(ctx context.Context, zone Zone) (*Snapshot, error) {
	zs := s.zoneState(zone.ID)
	zs.mu.Lock()
	gen := zs.gen
	zs.mu.Unlock()
	return s.snapshot(ctx, zs, gen)
}

var (
	// DriftChecks counts passes of the zone-level drift check.
	DriftChecks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "securesite_dns_drift_checks_total",
		Help: "Passes of the zone-level drift check (each lists every zone holding owned records once).",
	})
	// DriftCheckDuration is how long a drift check takes. A hand edit made just after a check read
	// the zone is seen by the next check: it is repaired within the interval plus this plus the
	// repair's own write.
	DriftCheckDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "securesite_dns_drift_check_duration_seconds",
		Help:    "Time one drift check takes: listing every zone that holds owned records and comparing it with every site.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	// DriftRepairs counts sites the drift check found drifted and handed to the reconciler.
	DriftRepairs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "securesite_dns_drifted_sites_total",
		Help: "Sites whose Route53 records differed from their spec at a drift check (queued for repair).",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(DriftChecks, DriftCheckDuration, DriftRepairs)
}
