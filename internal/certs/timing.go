package certs

import (
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// Window is an ACME Renewal Information (RFC 9773) suggested renewal window.
type Window struct {
	Start, End time.Time
}

// RenewalTime is when the certificate should be renewed. With an ARI window it is a point inside
// the window chosen from the certificate's serial: RFC 9773 asks clients to spread renewals over
// the window, and a hash keeps the point stable across reconciles and restarts (status does not
// churn) while sites renewing together still spread out. Without ARI it is when one third of the
// lifetime is left, as Let's Encrypt recommends.
//
// The result may lie before now; the caller renews at once then (RFC 9773 §4.2: a window in the
// past, e.g. after a revocation, means "renew now"). now only stands in for certificates without
// a lifetime.
func RenewalTime(p *Parsed, ari *Window, now time.Time) time.Time {
	if ari != nil && ari.End.After(ari.Start) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(p.SerialHex))
		span := ari.End.Sub(ari.Start)
		return ari.Start.Add(time.Duration(h.Sum64() % uint64(span)))
	}
	lifetime := p.NotAfter.Sub(p.NotBefore)
	if lifetime <= 0 {
		return now
	}
	return p.NotAfter.Add(-lifetime / 3)
}

// NeedsReissue reports whether the stored certificate no longer matches the spec: its names or
// its key. Renewal keeps both, so these are the changes only a new order fixes.
func NeedsReissue(p *Parsed, wantNames []string, key KeySpec) (bool, string) {
	have, want := normalizedNames(p.DNSNames), normalizedNames(wantNames)
	if !slices.Equal(have, want) {
		return true, "DNS names changed from " + strings.Join(have, ",") + " to " + strings.Join(want, ",")
	}
	wantKey := key.Normalized()
	haveKey := KeySpec{Algorithm: p.KeyAlgorithm, Size: p.KeySize}.Normalized()
	if haveKey != wantKey {
		return true, "private key changed from " + haveKey.String() + " to " + wantKey.String()
	}
	return false, ""
}

// DNS names are case-insensitive and a certificate's SAN order carries no meaning.
func normalizedNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimSuffix(strings.ToLower(n), "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

const (
	backoffBase = time.Hour
	backoffCap  = 24 * time.Hour
)

// NextAttempt is when an order may be tried again after failedAttempts consecutive failures, the
// last at lastFailure: 1h, 2h, 4h ... capped at 24h. Let's Encrypt allows 5 failed validations per
// name per hour, and the attempt count lives in status, so a restarted controller keeps waiting.
func NextAttempt(failedAttempts int32, lastFailure time.Time) time.Time {
	if failedAttempts <= 0 {
		return lastFailure
	}
	wait := backoffBase
	for i := int32(1); i < failedAttempts && wait < backoffCap; i++ {
		wait *= 2
	}
	return lastFailure.Add(min(wait, backoffCap))
}
