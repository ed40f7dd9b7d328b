// Package records keeps the records SecureSite owns in Route53 hosted zones as declared, and
// never touches anyone else's. Ownership lives in the zone (a TXT registry record per owned
// record set, external-dns style). Observation costs one paginated list per zone shared by all
// callers, and writes from many sites are merged into few ChangeResourceRecordSets calls.
package records

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// ErrZoneNotFound means no hosted zone holds the domain (or the named zone does not exist).
var ErrZoneNotFound = errors.New("hosted zone not found")

// ErrZoneAmbiguous means several public hosted zones have the same name, so the zone must be
// named by ID.
var ErrZoneAmbiguous = errors.New("several public hosted zones match")

// Options tunes the service; zero values take the defaults.
type Options struct {
	// BatchWindow is how long a change that starts a zone's sender waits for others before the
	// first call. Default 0: sent at once; changes that come while a call is in flight go
	// together in the next one (batch.go), so batching needs no fixed wait.
	BatchWindow time.Duration
	// ChangeRate bounds ChangeResourceRecordSets calls per second, all zones together, with bursts
	// of as many. Default 4: Route53 allows five API requests per second per account, and the
	// fifth is left to the reads (GetChange polls, zone listings) and to other tools in the
	// account. Changes that wait for a call's turn travel together in it.
	ChangeRate float64
	// SnapshotTTL is how long a listed zone is trusted before it is listed again. Default 30s.
	SnapshotTTL time.Duration
	// ZoneListTTL is how long the hosted zone list (and zones looked up by ID) are cached.
	// Default 5m.
	ZoneListTTL time.Duration
	// NameHold keeps a released name (A, AAAA, CNAME) claimed by its last owner for this long,
	// so no other owner can capture its traffic in the gap. 0: no hold.
	NameHold time.Duration
	// HoldNow is the clock of name holds (the controller's injected clock); default Now.
	HoldNow func() time.Time
	// Now is the clock (tests move it). Default time.Now.
	Now func() time.Time
}

// EnsureResult says what Ensure found and did.
type EnsureResult struct {
	Conflicts []Conflict // desired names owned by someone else: not written
	Changed   []Record   // what this call created/updated/deleted (registry records excluded)
	InSync    bool       // true when nothing had to change, or the change is already INSYNC
	ChangeID  string     // Route53 change to poll when !InSync
	// Queued: the change waits for the zone's next call (EnsureQueued); InSync is false and
	// the owner's next EnsureQueued reports the answer.
	Queued bool
}

// Service is the Route53 layer. It is safe for concurrent use, and meant to be shared by
// every reconciler in the process: sharing is what makes snapshots and batches pay off.
type Service struct {
	client     *r53.Client
	opts       Options
	changeRate *rate.Limiter // ChangeResourceRecordSets calls, all zones (Options.ChangeRate)

	mu    sync.Mutex
	zones map[string]*zoneState
	loads singleflight.Group

	zoneCache zoneCache
	insync    seenChanges // changes seen INSYNC lately (they never go back)
	sent      sentChanges // changes sent lately and not yet seen INSYNC, with their zone (insync.go)
	waiters   sync.Map    // change ID → *inSyncWaiter, one poll loop per change not sent here (insync.go)
	waitMu    sync.Mutex
	zoneWaits map[string]*zoneWaits // zone ID → waiters of its changes, one poll loop per zone (insync.go)
	pollRate  *rate.Limiter         // GetChange calls of the wait loops, all zones (insync.go)

	ownerLocks keyedLocks // zone|owner, for read-modify-write edits (txt.go)
}

// New builds the service on an SDK configuration (retries and call counting come from it).
func New(cfg aws.Config, opts Options) *Service {
	if opts.ChangeRate <= 0 {
		opts.ChangeRate = 4
	}
	if opts.SnapshotTTL <= 0 {
		opts.SnapshotTTL = 30 * time.Second
	}
	if opts.ZoneListTTL <= 0 {
		opts.ZoneListTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{client: r53.NewFromConfig(cfg), opts: opts, zones: map[string]*zoneState{},
		changeRate: rate.NewLimiter(rate.Limit(opts.ChangeRate), max(int(opts.ChangeRate), 1)),
		pollRate:   rate.NewLimiter(pollRate, 1)}
}

func (s *Service) now() time.Time { return s.opts.Now() }

func (s *Service) hold() Hold {
	now := s.opts.Now
	if s.opts.HoldNow != nil {
		now = s.opts.HoldNow
	}
	return Hold{Duration: s.opts.NameHold, Now: now()}
}

// Plan observes the zone and returns what Ensure would write, writing nothing (suspend, and
// status reports).
func (s *Service) Plan(ctx context.Context, zone Zone, owner string, desired []Record) (Plan, error) {
	if err := validate(zone, owner, desired); err != nil {
		return Plan{}, err
	}
	snap, err := s.snapshot(ctx, s.zoneState(zone.ID), 0)
	if err != nil {
		return Plan{}, err
	}
	return DiffWithHold(snap, owner, desired, s.hold()), nil
}

// Ensure makes the records owner owns in the zone exactly the desired ones: missing records
// are created with their registry entry, drifted ones are upserted, ones no longer desired are
// deleted with their registry entry. Records owned by others or by nobody are never touched;
// desired records in their way come back as conflicts. owner ("<namespace>/<name>") is the
// unit of ownership: callers managing separate sets of records for one object (site records,
// ACME challenges) use distinct owners, because Ensure deletes whatever the owner owns and
// does not desire.
func (s *Service) Ensure(ctx context.Context, zone Zone, owner string, desired []Record) (EnsureResult, error) {
	if err := validate(zone, owner, desired); err != nil {
		return EnsureResult{}, err
	}
	zs := s.zoneState(zone.ID)
	// A change EnsureQueued handed over for the owner lands first: planned without it, this
	// call could miss records it is about to create (a Release would leave them behind).
	if err := s.waitQueued(ctx, zs, owner); err != nil {
		return EnsureResult{}, err
	}
	var after uint64
	for attempt := 0; ; attempt++ {
		snap, err := s.snapshot(ctx, zs, after)
		if err != nil {
			return EnsureResult{}, err
		}
		plan := DiffWithHold(snap, owner, desired, s.hold())
		res := EnsureResult{Conflicts: plan.Conflicts, InSync: true}
		if plan.InSync() {
			return res, nil
		}
		out, err := s.submit(ctx, zs, plan.changes)
		if err != nil {
			if isRejection(err) && attempt == 0 {
				// The snapshot was stale: someone wrote to the zone since it was listed (a
				// record now exists, or is gone). Look again and decide again; what was a
				// create may now be a conflict.
				after = snap.gen
				continue
			}
			return res, err
		}
		res.Changed = plan.Changed()
		res.ChangeID, res.InSync = out.changeID, out.insync
		return res, nil
	}
}

// Release deletes every record owner owns in the zone, with its registry entries.
func (s *Service) Release(ctx context.Context, zone Zone, owner string) (EnsureResult, error) {
	return s.Ensure(ctx, zone, owner, nil)
}

// ChangeInSync reports whether a change has reached every Route53 name server. The answer is
// remembered for a while once true, so requeued reconciles polling it cost nothing after that.
func (s *Service) ChangeInSync(ctx context.Context, changeID string) (bool, error) {
	id := strings.TrimPrefix(changeID, "/change/")
	if id == "" {
		return true, nil
	}
	if s.insync.has(id, s.now()) {
		return true, nil
	}
	out, err := s.client.GetChange(ctx, &r53.GetChangeInput{Id: aws.String(id)})
	if err != nil {
		return false, fmt.Errorf("reading Route53 change %s: %w", id, err)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Status != types.ChangeStatusInsync {
		return false, nil
	}
	s.insync.add(id, s.now())
	if sc, ok := s.sent.get(id); ok {
		// Route53 applies a zone's changes in order: those sent to the zone before are INSYNC too.
		s.zoneSyncedUpTo(sc.zone, sc.seq)
	}
	return true, nil
}

// validate refuses input that would make AWS reject the whole batch (and with it the changes
// of other sites merged into it).
func validate(zone Zone, owner string, desired []Record) error {
	if zone.ID == "" || zone.Name == "" {
		return fmt.Errorf("hosted zone without ID or name: %+v", zone)
	}
	if owner == "" || strings.ContainsAny(owner, `,"\`) {
		return fmt.Errorf("invalid record owner %q", owner)
	}
	zoneName := normalizeName(zone.Name)
	for _, r := range desired {
		name := normalizeName(r.Name)
		if !InZone(name, zoneName) {
			return fmt.Errorf("record %s is outside hosted zone %s", name, zoneName)
		}
		switch strings.ToUpper(r.Type) {
		case "A", "AAAA", "CNAME", "TXT":
		default:
			return fmt.Errorf("record %s: unsupported type %q", name, r.Type)
		}
		if r.Alias == nil && len(r.Values) == 0 {
			return fmt.Errorf("record %s %s has no value", name, r.Type)
		}
	}
	return nil
}

// ClaimOf reports whether another owner holds name in the zone (a record of any type, or a
// released name still held). The certificate phase asks before it orders a certificate: a site
// may not get a certificate, nor write DNS-01 records, for a name another site holds.
func (s *Service) ClaimOf(ctx context.Context, zone Zone, owner, name string) (NameClaim, error) {
	snap, err := s.snapshot(ctx, s.zoneState(zone.ID), 0)
	if err != nil {
		return NameClaim{}, err
	}
	return claimOfName(snap, owner, name, s.hold()), nil
}
