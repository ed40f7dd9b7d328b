package acme

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Limit is one CA budget: at most Count orders in any Window (a sliding window, as Let's
// Encrypt's limits are). A zero Count means no limit.
type Limit struct {
	Count  int
	Window time.Duration
}

// ParseLimit reads "COUNT/WINDOW", e.g. "300/3h" or "50/168h"; "" is no limit.
func ParseLimit(s string) (Limit, error) {
	if s = strings.TrimSpace(s); s == "" {
		return Limit{}, nil
	}
	count, window, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return Limit{}, fmt.Errorf("limit %q: want COUNT/WINDOW with COUNT ≥ 1, e.g. 300/3h", s)
	}
	d, err := time.ParseDuration(window)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("limit %q: window: want a duration such as 3h or 168h", s)
	}
	return Limit{Count: n, Window: d}, nil
}

func (l Limit) String() string {
	if l.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("%d per %s", l.Count, l.Window)
}

// Limits are the budgets of one CA.
type Limits struct {
	// OrdersPerAccount bounds new orders per ACME account (Let's Encrypt: 300 per 3 hours).
	OrdersPerAccount Limit
	// CertificatesPerDomain bounds new certificates per registered domain, across accounts
	// (Let's Encrypt: 50 per 7 days).
	CertificatesPerDomain Limit
	// DuplicateCertificates bounds new certificates for exactly the same set of names, across
	// accounts (Let's Encrypt: 5 per 7 days). A renewal outside the ARI window is a duplicate
	// and counts; one inside it is exempt, as from every other limit.
	DuplicateCertificates Limit
}

// Let's Encrypt's directory URLs and published limits (letsencrypt.org/docs/rate-limits):
// production 300 new orders per account per 3 hours, 50 certificates per registered domain
// per 7 days and 5 certificates per exact set of names per 7 days; staging 1,500, 30,000 and
// 30,000 for the same windows (letsencrypt.org/docs/staging-environment). Renewals inside the
// ARI window that say which certificate they replace are exempt from all of them (Let's
// Encrypt, "An Engineer's Guide to Integrating ARI", 2024); other renewals are duplicates and
// count against the duplicate limit.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

const week = 7 * 24 * time.Hour

// KnownLimits are the defaults by directory URL.
var KnownLimits = map[string]Limits{
	LetsEncryptProduction: {OrdersPerAccount: Limit{300, 3 * time.Hour}, CertificatesPerDomain: Limit{50, week}, DuplicateCertificates: Limit{5, week}},
	LetsEncryptStaging:    {OrdersPerAccount: Limit{1500, 3 * time.Hour}, CertificatesPerDomain: Limit{30000, week}, DuplicateCertificates: Limit{30000, week}},
}

// limitsFor returns the budgets for server: the configured override when set, else the known
// defaults of that CA, else none (a CA whose limits we do not know is only held back by its
// own rateLimited answers).
func (p *Pool) limitsFor(server string) Limits {
	l := KnownLimits[strings.TrimSuffix(server, "/")]
	if p.opts.Limits.OrdersPerAccount.Count > 0 {
		l.OrdersPerAccount = p.opts.Limits.OrdersPerAccount
	}
	if p.opts.Limits.CertificatesPerDomain.Count > 0 {
		l.CertificatesPerDomain = p.opts.Limits.CertificatesPerDomain
	}
	if p.opts.Limits.DuplicateCertificates.Count > 0 {
		l.DuplicateCertificates = p.opts.Limits.DuplicateCertificates
	}
	return l
}

// registeredDomains are the registered domains (public suffix + 1 label) of the names, sorted,
// once each: Let's Encrypt counts a certificate once against each registered domain it names.
func registeredDomains(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(n, "."), "*."))
		d, err := publicsuffix.EffectiveTLDPlusOne(n)
		if err != nil {
			d = n
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// nameSet is the set of names a certificate covers as Let's Encrypt compares them for the
// duplicate limit: case and order ignored, each name once.
func nameSet(names []string) string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ",")
}

// earliest is the first time at or after from when one more event fits the limit, given the
// events already counted (sorted).
func earliest(events []time.Time, l Limit, from time.Time) time.Time {
	if l.Count == 0 {
		return from
	}
	start := from.Add(-l.Window)
	i, _ := slices.BinarySearchFunc(events, start, func(e, t time.Time) int { return e.Compare(t) })
	// A boundary event exactly at start has left the window.
	for i < len(events) && !events[i].After(start) {
		i++
	}
	inWindow := events[i:]
	if len(inWindow) < l.Count {
		return from
	}
	// The window must lose len-Count+1 events: the (len-Count)-th one leaving frees a slot.
	return inWindow[len(inWindow)-l.Count].Add(l.Window)
}
