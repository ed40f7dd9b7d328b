package dnsserver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/miekg/dns"

	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/dnsserver"
)

type fixture struct {
	r53    *route53.Client
	zoneID string
	addr   string
	srv    *dnsserver.Server
}

func setup(t *testing.T) fixture { return setupWith(t, 0) }

func setupWith(t *testing.T, zoneMaxAge time.Duration) fixture {
	t.Helper()
	ctx := context.Background()
	kumo, err := testworld.StartEmulator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kumo.Stop)
	cfg, err := kumo.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r53 := route53.NewFromConfig(cfg.AWS)
	zone, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String("Example.test"), CallerReference: aws.String(t.Name()),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dnsserver.StartWith(kumo.URL, "127.0.0.1:0", zoneMaxAge)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return fixture{r53: r53, zoneID: aws.ToString(zone.HostedZone.Id), addr: srv.Addr(), srv: srv}
}

func (f fixture) upsert(t *testing.T, name string, rrtype r53types.RRType, values ...string) {
	t.Helper()
	var rrs []r53types.ResourceRecord
	for _, v := range values {
		rrs = append(rrs, r53types.ResourceRecord{Value: aws.String(v)})
	}
	_, err := f.r53.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(f.zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{
			Action:            r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(name), Type: rrtype, TTL: aws.Int64(60), ResourceRecords: rrs},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f fixture) query(t *testing.T, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, f.addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

func txtValues(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, fmt.Sprint(txt.Txt))
		}
	}
	return out
}

func TestAnswersFromRoute53(t *testing.T) {
	f := setup(t)
	// kumo keeps names as sent: no trailing dot, mixed case. DNS matching is case-insensitive.
	f.upsert(t, "_acme-challenge.WWW.example.test", r53types.RRTypeTxt, `"token-1"`)
	f.upsert(t, "infra.example.test.", r53types.RRTypeA, "203.0.113.10")
	f.upsert(t, "api.example.test.", r53types.RRTypeCname, "infra.example.test.")
	f.upsert(t, `\052.apps.example.test.`, r53types.RRTypeAaaa, "2001:db8::1")

	for _, network := range []string{"udp", "tcp"} {
		r := f.query(t, network, "_acme-challenge.www.example.test", dns.TypeTXT)
		if got := txtValues(r); len(got) != 1 || got[0] != "[token-1]" {
			t.Errorf("%s TXT: got %v, want [[token-1]]", network, got)
		}
		if !r.Authoritative {
			t.Errorf("%s: answer not authoritative", network)
		}
	}

	// A challenge value replaced a moment ago must be seen at once: pebble validates right after
	// the controller writes it.
	f.upsert(t, "_acme-challenge.WWW.example.test", r53types.RRTypeTxt, `"token-2"`, `"token-3"`)
	if got := txtValues(f.query(t, "tcp", "_acme-challenge.www.example.test", dns.TypeTXT)); len(got) != 2 {
		t.Errorf("after UPSERT: got %v, want both new values", got)
	}

	r := f.query(t, "udp", "api.example.test", dns.TypeA)
	if len(r.Answer) != 2 || r.Answer[0].(*dns.CNAME).Target != "infra.example.test." || r.Answer[1].(*dns.A).A.String() != "203.0.113.10" {
		t.Errorf("CNAME chase: got %v", r.Answer)
	}
	r = f.query(t, "udp", "x.apps.example.test", dns.TypeAAAA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Name != "x.apps.example.test." {
		t.Errorf("wildcard: got %v", r.Answer)
	}
}

func TestNegativeAnswers(t *testing.T) {
	f := setup(t)
	f.upsert(t, "a.b.example.test", r53types.RRTypeA, "192.0.2.1")

	cases := []struct {
		name     string
		qtype    uint16
		rcode    int
		soaInNs  bool
		comments string
	}{
		{"missing.example.test", dns.TypeTXT, dns.RcodeNameError, true, "absent name"},
		{"a.b.example.test", dns.TypeTXT, dns.RcodeSuccess, true, "name exists, no TXT"},
		{"b.example.test", dns.TypeA, dns.RcodeSuccess, true, "empty non-terminal"},
		{"example.other", dns.TypeA, dns.RcodeRefused, false, "not in any hosted zone"},
	}
	for _, c := range cases {
		r := f.query(t, "udp", c.name, c.qtype)
		if r.Rcode != c.rcode || len(r.Answer) != 0 {
			t.Errorf("%s: rcode %s with %d answers, want %s and none", c.comments, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[c.rcode])
		}
		gotSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA && r.Ns[0].Header().Name == "example.test."
		if gotSOA != c.soaInNs {
			t.Errorf("%s: authority %v, want zone SOA: %v", c.comments, r.Ns, c.soaInNs)
		}
	}
}

// lego finds the zone of a challenge by walking up the labels until a SOA answers; kumo's new zones
// have no SOA (AWS creates one), so the server supplies it.
func TestLegoFindsZone(t *testing.T) {
	f := setup(t)
	client := dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{f.addr}, Timeout: 2 * time.Second})
	zone, err := client.FindZoneByFqdn(context.Background(), "_acme-challenge.deep.www.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if zone != "example.test." {
		t.Errorf("zone %q, want example.test.", zone)
	}
}

// With a zone cache, a new value shows within the cache's age, and once a resolver has seen it no
// later answer goes back to the old one (what DNS-01 needs: pebble asks after lego saw the value).
func TestZoneCacheIsMonotonic(t *testing.T) {
	const maxAge = 250 * time.Millisecond
	f := setupWith(t, maxAge)
	f.upsert(t, "_acme-challenge.cache.example.test", r53types.RRTypeTxt, `"old"`)
	if got := txtValues(f.query(t, "udp", "_acme-challenge.cache.example.test", dns.TypeTXT)); len(got) != 1 || got[0] != "[old]" {
		t.Fatalf("first answer %v", got)
	}
	f.upsert(t, "_acme-challenge.cache.example.test", r53types.RRTypeTxt, `"new"`)
	written := time.Now()
	for {
		got := txtValues(f.query(t, "udp", "_acme-challenge.cache.example.test", dns.TypeTXT))
		if len(got) == 1 && got[0] == "[new]" {
			break
		}
		if time.Since(written) > maxAge+200*time.Millisecond {
			t.Fatalf("new value not seen %v after the write (cache age %v): %v", time.Since(written), maxAge, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 20 {
		if got := txtValues(f.query(t, "tcp", "_acme-challenge.cache.example.test", dns.TypeTXT)); len(got) != 1 || got[0] != "[new]" {
			t.Fatalf("went back to %v after the new value was seen", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Under load: many resolvers asking at once for different names of one big zone (pebble
// validating hundreds of DNS-01 challenges in a benchmark) share reads of the zone, and every
// answer comes within pebble's DNS timeout (2 s, miekg/dns's default read timeout, no retry).
// When each name started its own read of the zone, the reads piled up on the emulator and on
// the CPU, and answers came after pebble had given up: failed orders at N = 1,000.
func TestConcurrentQueriesShareZoneReads(t *testing.T) {
	const (
		records = 3000
		queries = 200
		maxAge  = 250 * time.Millisecond
	)
	f := setupWith(t, maxAge)
	f.bulkTXT(t, records)
	var wg sync.WaitGroup
	var slow, failed atomic.Int32
	start := make(chan struct{})
	for i := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("_acme-challenge.s%04d.example.test.", i*(records/queries)), dns.TypeTXT)
			c := &dns.Client{Net: "tcp"} // pebble's client: TCP, default 2 s timeouts
			began := time.Now()
			r, _, err := c.Exchange(m, f.addr)
			switch {
			case err != nil:
				failed.Add(1)
			case len(txtValues(r)) != 1:
				failed.Add(1)
			case time.Since(began) > time.Second:
				slow.Add(1)
			}
		}()
	}
	before := f.srv.ZoneReads()
	close(start)
	wg.Wait()
	reads := f.srv.ZoneReads() - before
	t.Logf("%d concurrent queries: %d zone reads, %d failed or timed out, %d slower than 1s", queries, reads, failed.Load(), slow.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d queries failed or timed out", failed.Load(), queries)
	}
	if reads > 5 {
		t.Errorf("%d zone reads for %d concurrent queries of one zone: each query read the zone", reads, queries)
	}
}

// bulkTXT writes n TXT records, one per _acme-challenge.sNNNN name.
func (f fixture) bulkTXT(t *testing.T, n int) {
	t.Helper()
	for lo := 0; lo < n; lo += 500 {
		var changes []r53types.Change
		for i := lo; i < min(lo+500, n); i++ {
			changes = append(changes, r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(fmt.Sprintf("_acme-challenge.s%04d.example.test.", i)), Type: r53types.RRTypeTxt, TTL: aws.Int64(60),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(fmt.Sprintf(`"token-%d"`, i))}},
			}})
		}
		if _, err := f.r53.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(f.zoneID), ChangeBatch: &r53types.ChangeBatch{Changes: changes},
		}); err != nil {
			t.Fatal(err)
		}
	}
}
