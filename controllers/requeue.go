package controllers

import (
	"math/rand/v2"
	"time"
)

// How long a site waits before it is looked at again, by what it waits for. A wait is a requeue
// without an error: the rate limiter's backoff is for failures.
const (
	// dnsPendingWait: Route53 reports INSYNC within seconds.
	dnsPendingWait = 5 * time.Second
	// dnsConflictWait: a conflict or a missing zone needs a person; look again slowly.
	dnsConflictWait = 5 * time.Minute
	// ownedElsewhereWait: a bucket or secret someone else owns does not change by itself.
	ownedElsewhereWait = 5 * time.Minute
	// deployWait: CloudFront takes minutes to deploy a distribution.
	deployWait = 30 * time.Second
	// inUseRetryWait: after a distribution is deleted, AWS counts its OAC and certificate as in use
	// for minutes.
	inUseRetryWait = time.Minute
	// issuingRecheck is a safety net in case a wake-up from the issuance pool is lost.
	issuingRecheck = time.Minute
	// maxValidWait caps the requeue of a valid certificate, so renewal is re-checked at least daily.
	maxValidWait = 24 * time.Hour
	// defaultResyncPeriod re-checks a Ready site for drift when ResyncPeriod is not set.
	defaultResyncPeriod = 10 * time.Minute
)

func (r *SecureSiteReconciler) resyncPeriod() time.Duration {
	if r.ResyncPeriod > 0 {
		return r.ResyncPeriod
	}
	return defaultResyncPeriod
}

// jitter spreads requeues of many sites so they do not hit AWS in step: d ± 10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread == 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}
