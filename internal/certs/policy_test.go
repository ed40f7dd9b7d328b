package certs

import (
	"testing"
	"time"
)

type decideCase struct {
	name string
	s    Situation
	want Decision
}

func TestDecide(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range decideCases(now) {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Now.IsZero() {
				tt.s.Now = now
			}
			got := Decide(tt.s)
			if got != tt.want {
				t.Errorf("Decide =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

// decideCases: a 90-day certificate issued 30 days before now (renewal, at a third left, in 30 days).
func decideCases(now time.Time) []decideCase {
	names := []string{"duckhoo.site", "infra.duckhoo.site"}
	key := KeySpec{Algorithm: AlgorithmECDSA, Size: 256}
	cert := &Parsed{SerialHex: "0a", DNSNames: names, NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(60 * 24 * time.Hour),
		KeyAlgorithm: AlgorithmECDSA, KeySize: 256}
	renewal := now.Add(30 * 24 * time.Hour)
	remembered := Memory{Serial: "0a", RenewalTime: renewal}
	want := Want{Names: names, Key: key, Fingerprint: "fp1"}
	failed := func(attempts int32, next time.Time, fingerprint string) Memory {
		return Memory{FailedAttempts: attempts, NextAttempt: next, FailedRequest: fingerprint}
	}

	return []decideCase{
		{"no certificate: order", Situation{Want: want, ZoneKnown: true},
			Decision{Action: Order, Why: "no certificate yet"}},
		{"no certificate, no zone: wait for the zone", Situation{Want: want},
			Decision{Action: AwaitZone, Why: "no certificate yet"}},
		{"no certificate, self-signed: issue now (no zone needed)", Situation{Want: Want{Names: names, Key: key, SelfSigned: true}},
			Decision{Action: IssueSelfSigned, Why: "no certificate yet"}},
		{"valid and remembered: keep", Situation{Current: cert, Want: want, Memory: remembered, ZoneKnown: true},
			Decision{Action: Keep, Why: "", RenewalTime: renewal, CurrentServes: true}},
		{"valid but status lost: keep and rewrite status", Situation{Current: cert, Want: want, ZoneKnown: true},
			Decision{Action: Keep, RenewalTime: renewal, MemoryStale: true, CurrentServes: true}},
		{"status describes another serial: recomputed", Situation{Current: cert, Want: want, Memory: Memory{Serial: "0b", RenewalTime: now}, ZoneKnown: true},
			Decision{Action: Keep, RenewalTime: renewal, MemoryStale: true, CurrentServes: true}},
		{"renewal time reached: order, current keeps serving", Situation{Now: renewal, Current: cert, Want: want, Memory: remembered, ZoneKnown: true},
			Decision{Action: Order, Why: "renewal time reached", RenewalTime: renewal, CurrentServes: true}},
		{"expired: order, nothing serves", Situation{Now: cert.NotAfter, Current: cert, Want: want, Memory: remembered, ZoneKnown: true},
			Decision{Action: Order, Why: "renewal time reached", RenewalTime: renewal}},
		{"names changed: reissue, the old certificate does not count", Situation{Current: cert, Want: Want{Names: []string{"duckhoo.site"}, Key: key}, Memory: remembered, ZoneKnown: true},
			Decision{Action: Order, Why: "DNS names changed from duckhoo.site,infra.duckhoo.site to duckhoo.site"}},
		{"key changed: reissue", Situation{Current: cert, Want: Want{Names: names, Key: KeySpec{Algorithm: AlgorithmRSA, Size: 2048}}, Memory: remembered, ZoneKnown: true},
			Decision{Action: Order, Why: "private key changed from ECDSA-256 to RSA-2048"}},
		{"order in flight: wait for it", Situation{Want: want, OrderInFlight: true, ZoneKnown: true},
			Decision{Action: AwaitOrder, Why: "no certificate yet"}},
		{"in flight wins over a backoff", Situation{Want: want, OrderInFlight: true, Memory: failed(2, now.Add(time.Hour), "fp1")},
			Decision{Action: AwaitOrder, Why: "no certificate yet"}},
		{"failed, next attempt later: back off", Situation{Now: now, Want: want, Memory: failed(2, now.Add(time.Hour), "fp1"), ZoneKnown: true},
			Decision{Action: BackOff, Why: "no certificate yet"}},
		{"failed, next attempt reached: order", Situation{Now: now.Add(time.Hour), Want: want, Memory: failed(2, now.Add(time.Hour), "fp1"), ZoneKnown: true},
			Decision{Action: Order, Why: "no certificate yet"}},
		{"failed for another request: backoff lifted, order now", Situation{Now: now, Want: want, Memory: failed(3, now.Add(time.Hour), "fp0"), ZoneKnown: true},
			Decision{Action: Order, Why: "no certificate yet", LiftBackoff: true}},
		{"failed without a recorded request (older status): back off", Situation{Now: now, Want: want, Memory: failed(1, now.Add(time.Hour), ""), ZoneKnown: true},
			Decision{Action: BackOff, Why: "no certificate yet"}},
		{"stale status after a failure: rewritten, the backoff goes with it", Situation{Now: renewal, Current: cert, Want: want,
			Memory: Memory{Serial: "0b", FailedAttempts: 2, NextAttempt: renewal.Add(time.Hour), FailedRequest: "fp1"}, ZoneKnown: true},
			Decision{Action: Order, Why: "renewal time reached", RenewalTime: renewal, MemoryStale: true, CurrentServes: true}},
	}
}
