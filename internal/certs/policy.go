package certs

import "time"

// The certificate decision: a pure function from what was observed (the certificate in the
// Secret, what status remembers, what the spec asks, the clock, the issuance pool) to what to do
// next. The controller gathers the Situation, calls Decide and acts on the Decision; the table
// in policy_test.go covers every branch without a cluster.

// Want is what the spec asks for.
type Want struct {
	Names []string
	Key   KeySpec
	// Fingerprint identifies the whole request (names, key, CA, account), so a failure recorded
	// for one request does not hold back a different one.
	Fingerprint string
	SelfSigned  bool
}

// Memory is what status remembers about the stored certificate and about failed orders.
type Memory struct {
	Serial         string
	RenewalTime    time.Time // zero: unknown
	FailedAttempts int32
	NextAttempt    time.Time // zero: none scheduled
	FailedRequest  string    // Fingerprint of the request that failed
}

// Situation is everything the decision depends on.
type Situation struct {
	Now     time.Time
	Current *Parsed // the certificate in the Secret; nil when there is none (or it is unreadable)
	Want    Want
	Memory  Memory
	// OrderInFlight: the issuance pool has an order for the site queued or running.
	OrderInFlight bool
	// ZoneKnown: a hosted zone for the DNS-01 records was found.
	ZoneKnown bool
}

// Action is what the controller does next.
type Action string

const (
	// Keep: the current certificate matches the spec and is not due for renewal.
	Keep Action = "Keep"
	// AwaitOrder: an order is already running in the pool; its result wakes the site.
	AwaitOrder Action = "AwaitOrder"
	// BackOff: the last order for this request failed; wait until Memory.NextAttempt.
	BackOff Action = "BackOff"
	// IssueSelfSigned: make a self-signed certificate now.
	IssueSelfSigned Action = "IssueSelfSigned"
	// AwaitZone: an ACME order needs a hosted zone for its DNS-01 records.
	AwaitZone Action = "AwaitZone"
	// Order: submit an ACME order to the pool.
	Order Action = "Order"
)

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	// Why a new certificate is wanted ("" with Keep).
	Why string
	// RenewalTime of the current certificate (zero without one).
	RenewalTime time.Time
	// MemoryStale: status does not describe the current certificate (lost, or written by an older
	// version); it is rewritten from the certificate.
	MemoryStale bool
	// CurrentServes: the current certificate matches the spec and has not expired, so it keeps
	// serving while its renewal is issued. A certificate for other names or another key does not.
	CurrentServes bool
	// LiftBackoff: the request changed since the last failure, so the failure state is cleared
	// and the new request goes ahead at once.
	LiftBackoff bool
}

// Decide says what to do about the site's certificate.
func Decide(s Situation) Decision {
	d := Decision{Why: "no certificate yet"}
	if s.Current != nil {
		var specChanged bool
		specChanged, d.Why = NeedsReissue(s.Current, s.Want.Names, s.Want.Key)
		if !specChanged {
			d.RenewalTime, d.MemoryStale = renewalTime(s)
			if d.MemoryStale {
				// Rewriting status from the certificate starts its record afresh, failures included.
				s.Memory = Memory{Serial: s.Current.SerialHex, RenewalTime: d.RenewalTime}
			}
			d.CurrentServes = s.Now.Before(s.Current.NotAfter)
			if s.Now.Before(d.RenewalTime) {
				d.Action = Keep
				return d
			}
			d.Why = "renewal time reached"
		}
	}
	d.Action = nextStep(s, &d)
	return d
}

// renewalTime is the stored certificate's renewal time: the one status remembers when status
// describes this certificate, else recomputed from the certificate (without ARI, which only the
// order's result carries).
func renewalTime(s Situation) (time.Time, bool) {
	if s.Memory.Serial == s.Current.SerialHex && !s.Memory.RenewalTime.IsZero() {
		return s.Memory.RenewalTime, false
	}
	return RenewalTime(s.Current, nil, s.Now), true
}

// nextStep picks how a wanted certificate comes: wait for the order in flight, honour the backoff
// of a failed order (unless the request changed since), or issue.
func nextStep(s Situation, d *Decision) Action {
	m := s.Memory
	switch {
	case s.OrderInFlight:
		return AwaitOrder
	case m.FailedAttempts > 0 && m.FailedRequest != "" && m.FailedRequest != s.Want.Fingerprint:
		d.LiftBackoff = true
	case m.FailedAttempts > 0 && !m.NextAttempt.IsZero() && s.Now.Before(m.NextAttempt):
		return BackOff
	}
	switch {
	case s.Want.SelfSigned:
		return IssueSelfSigned
	case !s.ZoneKnown:
		return AwaitZone
	default:
		return Order
	}
}
