package records

import "context"

// queuedChange is an owner's change handed to the zone's sender by EnsureQueued, then its answer.
type queuedChange struct {
	answered chan struct{} // closed once Route53 has answered
	res      EnsureResult  // Changed, ChangeID and InSync of the call
	err      error
	// rejections counts the zone's refusals of this owner's changes in a row: the first is taken
	// as a stale snapshot and planned again against a newer listing, as Ensure does.
	rejections int
	gen        uint64 // the snapshot the change was planned on
}

// EnsureQueued is Ensure for callers that must not wait for the zone's next call: a reconcile
// worker. Under load a zone's calls come every 1/ChangeRate seconds (the account's quota), and a
// worker waiting for the next one serves no other site meanwhile, so a call carried at most one
// change per worker and the workers, not the quota, bounded how fast sites got their records.
// EnsureQueued plans as Ensure does; when something must change it hands the change to the
// zone's sender and returns at once with Queued set, and done runs once Route53 has answered.
// The owner's next EnsureQueued reports that answer (what changed, the change to poll, or the
// error). While the owner's change waits or is in flight it returns Queued again and adds
// nothing.
func (s *Service) EnsureQueued(ctx context.Context, zone Zone, owner string, desired []Record, done func()) (EnsureResult, error) {
	if err := validate(zone, owner, desired); err != nil {
		return EnsureResult{}, err
	}
	zs := s.zoneState(zone.ID)
	prev, waiting := zs.takeAnswer(owner)
	after, rejections, err := prev.replan()
	if err != nil {
		return EnsureResult{}, err
	}
	snap, err := s.snapshot(ctx, zs, after)
	if err != nil {
		return EnsureResult{}, err
	}
	plan := DiffWithHold(snap, owner, desired, s.hold())
	res := EnsureResult{Conflicts: plan.Conflicts, InSync: true}
	if waiting {
		res.InSync, res.Queued = false, true
		return res, nil
	}
	if plan.InSync() {
		if prev != nil {
			res.Changed, res.ChangeID, res.InSync = prev.res.Changed, prev.res.ChangeID, prev.res.InSync
		}
		return res, nil
	}
	q := &queuedChange{answered: make(chan struct{}), rejections: rejections, gen: snap.gen}
	zs.mu.Lock()
	if zs.queued == nil {
		zs.queued = map[string]*queuedChange{}
	}
	zs.queued[owner] = q
	zs.mu.Unlock()
	go s.awaitAnswer(s.enqueue(zs, plan.changes), q, plan.Changed(), done)
	res.InSync, res.Queued = false, true
	return res, nil
}

// replan says how the owner's next plan follows the answer to its last queued change (nil: none):
// on a listing newer than gen after a first refusal (the snapshot was stale: someone wrote to the
// zone since it was listed, and what was a create may now be a conflict, as Ensure does); any
// other error, or a second refusal, is reported.
func (q *queuedChange) replan() (after uint64, rejections int, err error) {
	if q == nil || q.err == nil {
		return 0, 0, nil
	}
	if !isRejection(q.err) || q.rejections > 1 {
		return 0, 0, q.err
	}
	return q.gen, q.rejections, nil
}

// awaitAnswer keeps Route53's answer to a queued change for its owner and runs done.
func (s *Service) awaitAnswer(req *changeRequest, q *queuedChange, changed []Record, done func()) {
	out := <-req.done
	if out.err != nil {
		q.err = out.err
		if isRejection(out.err) {
			q.rejections++
		}
	} else {
		q.res = EnsureResult{Changed: changed, ChangeID: out.changeID, InSync: out.insync}
	}
	close(q.answered)
	if done != nil {
		done()
	}
}

// takeAnswer takes the answer to the owner's queued change, if there is one; waiting is true
// while the change has not been answered yet.
func (zs *zoneState) takeAnswer(owner string) (q *queuedChange, waiting bool) {
	zs.mu.Lock()
	defer zs.mu.Unlock()
	q = zs.queued[owner]
	if q == nil {
		return nil, false
	}
	select {
	case <-q.answered:
		delete(zs.queued, owner)
		return q, false
	default:
		return nil, true
	}
}

// waitQueued waits until the owner's queued change, if any, has been answered, and drops the
// answer: the caller plans on a snapshot that holds it.
func (s *Service) waitQueued(ctx context.Context, zs *zoneState, owner string) error {
	zs.mu.Lock()
	q := zs.queued[owner]
	zs.mu.Unlock()
	if q == nil {
		return nil
	}
	select {
	case <-q.answered:
	case <-ctx.Done():
		return ctx.Err()
	}
	zs.mu.Lock()
	if zs.queued[owner] == q {
		delete(zs.queued, owner)
	}
	zs.mu.Unlock()
	return nil
}
