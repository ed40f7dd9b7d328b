package acme

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
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

func TestNameSet(t *testing.T) {
	a := nameSet([]string{"WWW.Duckhoo.site.", "duckhoo.site", "www.duckhoo.site"})
	b := nameSet([]string{"duckhoo.site", "www.duckhoo.site"})
	if a != b || a != "duckhoo.site,www.duckhoo.site" {
		t.Errorf("nameSet ignores case, order, trailing dots and repeats: %q vs %q", a, b)
	}
	if nameSet([]string{"duckhoo.site"}) == b {
		t.Error("a smaller set is a different set")
	}
	if duplicateBudget("https://ca.test/dir", []string{"b.test", "a.test"}) != duplicateBudget("https://ca.test/dir", []string{"A.test", "b.test"}) {
		t.Error("the duplicate budget key depends on the order or case of the names")
	}
}

func TestDuplicateCertificateDefaults(t *testing.T) {
	p := NewPool(Options{DNS: nopDNS{}})
	if got := p.limitsFor(LetsEncryptProduction).DuplicateCertificates; got != (Limit{5, week}) {
		t.Errorf("Let's Encrypt production duplicate limit %v, want 5 per week", got)
	}
	if got := p.limitsFor(LetsEncryptStaging + "/").DuplicateCertificates; got != (Limit{30000, week}) {
		t.Errorf("Let's Encrypt staging duplicate limit %v, want 30000 per week", got)
	}
	if got := p.limitsFor("https://ca.test/dir").DuplicateCertificates; got.Count != 0 {
		t.Errorf("an unknown CA got a duplicate limit %v", got)
	}
	p = NewPool(Options{DNS: nopDNS{}, Limits: Limits{DuplicateCertificates: Limit{2, 30 * 24 * time.Hour}}})
	if got := p.limitsFor(LetsEncryptProduction).DuplicateCertificates; got != (Limit{2, 30 * 24 * time.Hour}) {
		t.Errorf("flag override not applied: %v", got)
	}
	if got := LedgerKeep(Limits{DuplicateCertificates: Limit{2, 30 * 24 * time.Hour}}); got != 30*24*time.Hour {
		t.Errorf("ledger keeps %s, want the duplicate window", got)
	}
}

// The duplicate budget counts per exact set of names, across accounts: a second order for the
// same names waits for the window (sent ones from the stored ledger included), another set of
// names does not; a renewal outside the ARI window is a duplicate and waits, one inside it is
// exempt.
func TestPlanSpacesDuplicateCertificates(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const server = "https://ca.test/dir"
	p := NewPool(Options{DNS: nopDNS{}, Now: func() time.Time { return now },
		Limits: Limits{DuplicateCertificates: Limit{1, week}}})
	site := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	add := func(name, email string, names []string, renewBy time.Time, exempt bool) {
		p.seq++
		q := &queued{req: Request{Site: site(name), Server: server, Email: email, Names: names}, seq: p.seq, renewBy: renewBy, exempt: exempt}
		p.queue = append(p.queue, q)
	}
	pair := []string{"duckhoo.site", "www.duckhoo.site"}
	add("first", "a", pair, time.Time{}, false)
	add("same-names-other-account", "b", []string{"WWW.duckhoo.site", "duckhoo.site"}, time.Time{}, false)
	add("other-names", "a", []string{"duckhoo.site"}, time.Time{}, false)

	i, waits, _ := p.plan(now)
	if got := p.queue[i].req.Site.Name; got != "first" {
		t.Fatalf("first to go: %s", got)
	}
	if w := waits[site("same-names-other-account")]; !w.Until.Equal(now.Add(week)) || !strings.Contains(w.Reason, "exactly these names") {
		t.Errorf("same names: wait %+v, want a week with the duplicate reason", w)
	}
	if _, waiting := waits[site("other-names")]; waiting {
		t.Error("another set of names waits for the duplicate budget")
	}

	// A certificate for these names sent two days ago (a restored ledger): a renewal outside
	// the ARI window waits five more days; inside it, it goes now.
	p.queue = nil
	p.ledger.Orders[duplicateBudget(server, pair)] = []time.Time{now.Add(-2 * 24 * time.Hour)}
	add("renewal", "a", pair, now.Add(20*24*time.Hour), false)
	if i, waits, _ = p.plan(now); i >= 0 || !waits[site("renewal")].Until.Equal(now.Add(5*24*time.Hour)) {
		t.Errorf("renewal outside the ARI window: runnable %d, waits %+v; want until +5 days", i, waits)
	}
	p.queue[0].exempt = true
	if i, _, _ = p.plan(now); i != 0 {
		t.Error("a renewal inside the ARI window was held back by the duplicate budget")
	}
}
