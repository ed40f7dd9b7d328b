package records

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// listPageSize is the largest page ListResourceRecordSets returns (AWS caps MaxItems at 300).
const listPageSize = 300

// journalKeep bounds how long applied writes are remembered for replay onto a newer list.
const journalKeep = 10 * time.Minute

// zoneState is what the service keeps per hosted zone: the shared snapshot and the queue of
// changes waiting for the zone's next call.
type zoneState struct {
	id string

	mu       sync.Mutex
	snap     *Snapshot
	loadedAt time.Time // when the list behind snap started
	gen      uint64    // number of lists started
	journal  []journalEntry

	pending []*changeRequest
	sending bool // a sender runs for the zone (batch.go)

	queued map[string]*queuedChange // owner → its change handed over by EnsureQueued (queued.go)
}

// journalEntry is a write that succeeded, kept so that a list which started before it finished
// cannot hide it.
type journalEntry struct {
	at      time.Time
	changes []types.Change
}

func (s *Service) zoneState(id string) *zoneState {
	s.mu.Lock()
	defer s.mu.Unlock()
	zs, ok := s.zones[id]
	if !ok {
		zs = &zoneState{id: id}
		s.zones[id] = zs
	}
	return zs
}

// snapshot returns the zone's shared snapshot, listing the zone again when the snapshot is older
// than SnapshotTTL or not newer than generation after (0: any). Concurrent callers share one
// list.
func (s *Service) snapshot(ctx context.Context, zs *zoneState, after uint64) (*Snapshot, error) {
	zs.mu.Lock()
	snap, loadedAt := zs.snap, zs.loadedAt
	zs.mu.Unlock()
	if snap != nil && s.now().Sub(loadedAt) < s.opts.SnapshotTTL && snap.gen > after {
		return snap, nil
	}
	// The list runs for every caller waiting on it, so one caller's cancellation must not
	// fail the others; it is still bounded.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	ch := s.loads.DoChan(zs.id, func() (any, error) { return s.loadSnapshot(lctx, zs) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Snapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loadSnapshot lists every record set in the zone and installs the result as the shared
// snapshot, replaying writes that finished after the list began.
func (s *Service) loadSnapshot(ctx context.Context, zs *zoneState) (*Snapshot, error) {
	zs.mu.Lock()
	zs.gen++
	gen := zs.gen
	size := 0
	if zs.snap != nil {
		size = zs.snap.Len()
	}
	zs.mu.Unlock()
	start := s.now()
	// Each page goes into the table as it arrives, so only one page of the SDK's record sets is
	// held at a time.
	table := newTableBuilder(size)
	if err := s.listRecordSets(ctx, zs.id, table.addListed); err != nil {
		return nil, err
	}
	snap := table.table().snapshot(gen)

	zs.mu.Lock()
	defer zs.mu.Unlock()
	keep := zs.journal[:0]
	for _, j := range zs.journal {
		if j.at.Before(start) {
			continue
		}
		keep = append(keep, j)
		snap = snap.withChanges(j.changes)
	}
	// The dropped entries' change sets would otherwise stay reachable from the array's tail.
	clear(zs.journal[len(keep):])
	zs.journal = keep
	zs.snap, zs.loadedAt = snap, start
	return snap, nil
}

// applyWrites records a successful write in the shared snapshot, so the next callers see it
// without listing the zone again.
func (s *Service) applyWrites(zs *zoneState, changes []types.Change) {
	now := s.now()
	zs.mu.Lock()
	defer zs.mu.Unlock()
	zs.journal = append(zs.journal, journalEntry{at: now, changes: changes})
	for len(zs.journal) > 0 && now.Sub(zs.journal[0].at) > journalKeep {
		zs.journal[0] = journalEntry{}
		zs.journal = zs.journal[1:]
	}
	if zs.snap != nil {
		zs.snap = zs.snap.withChanges(changes)
	}
}

// listRecordSets pages through ListResourceRecordSets, handing each page to add. AWS returns at
// most 300 record sets per page and continues from NextRecordName/Type/Identifier.
func (s *Service) listRecordSets(ctx context.Context, zoneID string, add func([]types.ResourceRecordSet)) error {
	in := &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(listPageSize)}
	for {
		out, err := s.client.ListResourceRecordSets(ctx, in)
		if err != nil {
			return fmt.Errorf("listing records of hosted zone %s: %w", zoneID, err)
		}
		add(out.ResourceRecordSets)
		if !out.IsTruncated || out.NextRecordName == nil {
			return nil
		}
		in.StartRecordName = out.NextRecordName
		in.StartRecordType = out.NextRecordType
		in.StartRecordIdentifier = out.NextRecordIdentifier
	}
}
