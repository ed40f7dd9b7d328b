package acme

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]Limit{"": {}, "300/3h": {300, 3 * time.Hour}, " 50/168h ": {50, 168 * time.Hour}} { //nolint:gocritic // the spaces are the case: flags may carry them
		got, err := ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"300", "0/1h", "-1/1h", "x/1h", "5/", "5/0s", "5/soon"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) accepted", bad)
		}
	}
}

func TestEarliest(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s ...int) []time.Time {
		var out []time.Time
		for _, x := range s {
			out = append(out, t0.Add(time.Duration(x)*time.Second))
		}
		return out
	}
	l := Limit{Count: 2, Window: 10 * time.Second}
	for _, tc := range []struct {
		name   string
		events []time.Time
		from   int
		want   int
	}{
		{"empty", nil, 0, 0},
		{"room left", at(0), 1, 1},
		{"full: the oldest must leave", at(0, 3), 5, 10},
		{"full with a future reservation", at(0, 12), 5, 10},
		{"old events do not count", at(-20, -15), 0, 0},
		{"boundary event has left", at(-10, 0), 0, 0},
		{"three in window, limit two", at(1, 2, 3), 4, 12},
	} {
		if got := earliest(tc.events, l, t0.Add(time.Duration(tc.from)*time.Second)); !got.Equal(t0.Add(time.Duration(tc.want) * time.Second)) {
			t.Errorf("%s: earliest = %s, want +%ds", tc.name, got.Sub(t0), tc.want)
		}
	}
	if got := earliest(at(0, 1, 2), Limit{}, t0); !got.Equal(t0) {
		t.Errorf("no limit: %s", got)
	}
}

func TestRegisteredDomains(t *testing.T) {
	got := registeredDomains([]string{"duckhoo.site", "infra.duckhoo.site", "*.api.example.co.uk", "a.b.bench.test"})
	want := []string{"bench.test", "duckhoo.site", "example.co.uk"}
	if !slices.Equal(got, want) {
		t.Errorf("registeredDomains = %v, want %v", got, want)
	}
}

// plan: renewals go first by expiry, new certificates in arrival order; each planned send
// counts before the next is planned, so the queue gets times one window apart; a Retry-After
// hold delays everything of that account; exempt renewals pass the budgets.
func TestPlanOrdersAndSpacesSends(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const server = "https://ca.test/dir"
	p := NewPool(Options{DNS: nopDNS{}, Now: func() time.Time { return now },
		Limits: Limits{OrdersPerAccount: Limit{1, time.Hour}}})
	site := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	add := func(name string, renewBy time.Time, exempt bool) {
		p.seq++
		q := &queued{req: Request{Site: site(name), Server: server, Email: "e", Names: []string{name + ".example.com"}}, seq: p.seq, renewBy: renewBy, exempt: exempt}
		if !renewBy.IsZero() {
			q.req.Replaces = &x509.Certificate{NotAfter: renewBy}
		}
		p.queue = append(p.queue, q)
	}
	add("new1", time.Time{}, false)
	add("new2", time.Time{}, false)
	add("renew-later", now.Add(20*24*time.Hour), false)
	add("renew-soon", now.Add(5*24*time.Hour), false)

	i, waits, next := p.plan(now)
	if got := p.queue[i].req.Site.Name; got != "renew-soon" {
		t.Fatalf("first to go: %s, want renew-soon", got)
	}
	for name, want := range map[string]time.Duration{"renew-later": time.Hour, "new1": 2 * time.Hour, "new2": 3 * time.Hour} {
		if w := waits[site(name)]; !w.Until.Equal(now.Add(want)) || w.Reason == "" {
			t.Errorf("%s: wait %+v, want until +%s with a reason", name, w, want)
		}
	}
	if !next.Equal(now.Add(time.Hour)) {
		t.Errorf("next wake %s", next.Sub(now))
	}

	// A hold from a Retry-After delays the whole account; an exempt renewal still waits for it.
	p.ledger.Holds[accountBudget(server, "e")] = now.Add(30 * time.Minute)
	p.queue = nil
	add("exempt", now.Add(24*time.Hour), true)
	i, waits, _ = p.plan(now)
	if i >= 0 || !waits[site("exempt")].Until.Equal(now.Add(30*time.Minute)) {
		t.Errorf("held account: runnable %d, waits %+v", i, waits)
	}
	delete(p.ledger.Holds, accountBudget(server, "e"))
	p.ledger.Orders[accountBudget(server, "e")] = []time.Time{now}
	if i, _, _ = p.plan(now); i != 0 {
		t.Errorf("exempt renewal held back by a full budget")
	}
}

type nopDNS struct{}

func (nopDNS) PresentTXT(context.Context, []TXTValue) error { return nil }
func (nopDNS) CleanupTXT(context.Context, []TXTValue) error { return nil }
