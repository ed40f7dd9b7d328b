package records

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// batchLimits are the ChangeResourceRecordSets request quotas (Route53 Developer Guide,
// "Quotas on API requests"): at most 1,000 ResourceRecord elements and 32,000 characters of
// Value text per request, where every element and character of an UPSERT counts twice.
type batchLimits struct {
	maxRecords    int
	maxValueChars int
}

var awsLimits = batchLimits{maxRecords: 1000, maxValueChars: 32000}

// sendTimeout bounds one shared batch; it runs detached from any single caller's context,
// because one caller giving up must not cancel the changes of the others in the batch.
const sendTimeout = 2 * time.Minute

// changeRequest is one caller's changes: they always travel in the same request, so that a
// record and its registry entry are written (or rejected) together.
type changeRequest struct {
	changes []types.Change
	done    chan batchResult
}

type batchResult struct {
	changeID string
	insync   bool
	err      error
}

// changeCost is what a change counts against the request quotas. An alias record has no
// ResourceRecord elements; it is counted as one to stay on the safe side.
func changeCost(c types.Change) (records, chars int) {
	rs := c.ResourceRecordSet
	records = max(len(rs.ResourceRecords), 1)
	for _, rr := range rs.ResourceRecords {
		chars += len(aws.ToString(rr.Value))
	}
	if c.Action == types.ChangeActionUpsert {
		records, chars = 2*records, 2*chars
	}
	return records, chars
}

func requestCost(r *changeRequest) (records, chars int) {
	for _, c := range r.changes {
		n, ch := changeCost(c)
		records, chars = records+n, chars+ch
	}
	return records, chars
}

func changeKey(c types.Change) string {
	return normalizeName(aws.ToString(c.ResourceRecordSet.Name)) + "|" + string(c.ResourceRecordSet.Type)
}

// packBatches groups requests into as few ChangeResourceRecordSets calls as the limits allow,
// keeping each request whole and in arrival order. Two requests touching the same record set
// never share a batch: AWS rejects the whole batch for that, and sending them one after the
// other lets the second see the first's result (a conflict) instead of failing both.
func packBatches(reqs []*changeRequest, limits batchLimits) [][]*changeRequest {
	type open struct {
		reqs           []*changeRequest
		records, chars int
		keys           map[string]bool
	}
	var batches []*open
	for _, r := range reqs {
		n, ch := requestCost(r)
		var target *open
		for _, b := range batches {
			if b.records+n > limits.maxRecords || b.chars+ch > limits.maxValueChars {
				continue
			}
			if slices.ContainsFunc(r.changes, func(c types.Change) bool { return b.keys[changeKey(c)] }) {
				continue
			}
			target = b
			break
		}
		if target == nil {
			// A request over the limits on its own still goes alone: AWS then tells its
			// caller what is wrong, and nobody else is held back by it.
			target = &open{keys: map[string]bool{}}
			batches = append(batches, target)
		}
		target.reqs = append(target.reqs, r)
		target.records, target.chars = target.records+n, target.chars+ch
		for _, c := range r.changes {
			target.keys[changeKey(c)] = true
		}
	}
	out := make([][]*changeRequest, len(batches))
	for i, b := range batches {
		out[i] = b.reqs
	}
	return out
}

// orderChanges puts a batch in the order it is sent. AWS validates and applies a batch as a
// whole, but its documented way to replace a record by one of another type at the same name (a
// CNAME by an A) is DELETE before CREATE in the same batch, so such deletes go first; everything
// else keeps its order.
func orderChanges(changes []types.Change) []types.Change {
	written := map[string]bool{}
	for _, c := range changes {
		if c.Action != types.ChangeActionDelete {
			written[normalizeName(aws.ToString(c.ResourceRecordSet.Name))] = true
		}
	}
	replacing := func(c types.Change) bool {
		return c.Action == types.ChangeActionDelete && written[normalizeName(aws.ToString(c.ResourceRecordSet.Name))]
	}
	out := slices.Clone(changes)
	slices.SortStableFunc(out, func(a, b types.Change) int {
		switch ra, rb := replacing(a), replacing(b); {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	return out
}

// isRejection reports whether Route53 refused a change batch for its content (as opposed to a
// transport or permission failure): then the batch is worth splitting and the caller's view
// of the zone worth refreshing.
func isRejection(err error) bool {
	switch awsclient.ErrorCode(err) {
	case "InvalidChangeBatch", "InvalidInput":
		return true
	}
	return false
}

// submit hands changes to the zone's sender and waits for their outcome. The zone sends as a
// group commit: a change that finds no call in flight for its zone is sent at once; changes that
// come while a call is in flight wait for it and go together in the next call. At low load a
// change costs no wait; under load each call carries everything that came during the previous
// one, so batches grow with the load instead of with a fixed window.
func (s *Service) submit(ctx context.Context, zs *zoneState, changes []types.Change) (batchResult, error) {
	req := s.enqueue(zs, changes)
	select {
	case res := <-req.done:
		return res, res.err
	case <-ctx.Done():
		return batchResult{}, ctx.Err()
	}
}

// enqueue hands changes to the zone's sender; their outcome comes on the request's done channel.
func (s *Service) enqueue(zs *zoneState, changes []types.Change) *changeRequest {
	req := &changeRequest{changes: changes, done: make(chan batchResult, 1)}
	zs.mu.Lock()
	zs.pending = append(zs.pending, req)
	start := !zs.sending
	zs.sending = true
	zs.mu.Unlock()
	if start {
		go s.sendPending(zs)
	}
	return req
}

// sendPending is the zone's one sender while changes are pending: sends for one zone are
// serialized, because Route53 answers concurrent changes to a zone with PriorRequestNotComplete.
// It waits for its turn in the account's call rate before taking what is pending, so that what
// comes during the wait travels in the same call.
func (s *Service) sendPending(zs *zoneState) {
	if s.opts.BatchWindow > 0 {
		time.Sleep(s.opts.BatchWindow)
	}
	for {
		zs.mu.Lock()
		if len(zs.pending) == 0 {
			zs.sending = false
			zs.mu.Unlock()
			return
		}
		zs.mu.Unlock()
		s.pace()
		zs.mu.Lock()
		reqs := zs.pending
		zs.pending = nil
		zs.mu.Unlock()
		for i, batch := range packBatches(reqs, awsLimits) {
			if i > 0 {
				s.pace()
			}
			s.sendBatch(zs, batch)
		}
	}
}

// pace waits until the account's change rate allows one more ChangeResourceRecordSets call
// (Options.ChangeRate).
func (s *Service) pace() {
	time.Sleep(s.changeRate.Reserve().Delay())
}

func (s *Service) sendBatch(zs *zoneState, reqs []*changeRequest) {
	var changes []types.Change
	for _, r := range reqs {
		changes = append(changes, r.changes...)
	}
	changes = orderChanges(changes)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	out, err := s.client.ChangeResourceRecordSets(ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zs.id),
		ChangeBatch:  &types.ChangeBatch{Changes: changes, Comment: aws.String(batchComment(len(reqs)))},
	})
	if err == nil {
		s.applyWrites(zs, changes)
		res := batchResult{}
		if out.ChangeInfo != nil {
			res.changeID = strings.TrimPrefix(aws.ToString(out.ChangeInfo.Id), "/change/")
			res.insync = out.ChangeInfo.Status == types.ChangeStatusInsync
			s.recordSent(zs.id, res.changeID, res.insync)
		}
		for _, r := range reqs {
			r.done <- res
		}
		return
	}
	if len(reqs) > 1 && isRejection(err) {
		// One caller's change spoiled the batch; AWS does not say which, so each caller is
		// sent alone and only the one at fault sees the error.
		for _, r := range reqs {
			s.pace()
			s.sendBatch(zs, []*changeRequest{r})
		}
		return
	}
	err = fmt.Errorf("changing records in hosted zone %s: %w", zs.id, err)
	for _, r := range reqs {
		r.done <- batchResult{err: err}
	}
}

func batchComment(callers int) string {
	if callers == 1 {
		return "securesite"
	}
	return fmt.Sprintf("securesite: %d sites", callers)
}
