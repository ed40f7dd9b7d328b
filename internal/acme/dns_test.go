package acme_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/securesite-io/securesite/internal/acme"
)

// route53TXT writes challenge records straight into kumo's Route53 with the SDK. The controller's
// own adapter goes through internal/route53 (ownership, batching); this one only has to be a real
// writer so that pebble validates against what Route53 holds.
type route53TXT struct {
	mu sync.Mutex // read-modify-write of one record set
	// mangle, when set, changes the value written (a broken DNS layer).
	mangle func(string) string
	// presented records every fqdn/value pair handed to PresentTXT.
	presented map[string]string
}

func (r *route53TXT) PresentTXT(ctx context.Context, values []acme.TXTValue) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.presented == nil {
		r.presented = map[string]string{}
	}
	for _, v := range values {
		r.presented[v.FQDN] = v.Value
	}
	return r.editTXT(ctx, values, func(have []string, value string) []string {
		if slices.Contains(have, value) {
			return have
		}
		return append(have, value)
	})
}

func (r *route53TXT) CleanupTXT(ctx context.Context, values []acme.TXTValue) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.editTXT(ctx, values, func(have []string, value string) []string {
		return slices.DeleteFunc(have, func(x string) bool { return x == value })
	})
}

// editTXT is a read-modify-write of each value's TXT record set (the value mangled first, when
// the test says so). r.mu is held.
func (r *route53TXT) editTXT(ctx context.Context, values []acme.TXTValue, edit func(have []string, value string) []string) error {
	for _, v := range values {
		value := v.Value
		if r.mangle != nil {
			value = r.mangle(value)
		}
		have, err := txtValues(ctx, v.FQDN)
		if err != nil {
			return err
		}
		if err := writeTXT(ctx, v.FQDN, edit(have, value)); err != nil {
			return err
		}
	}
	return nil
}

// txtValues reads the unquoted values of the TXT record set at fqdn.
func txtValues(ctx context.Context, fqdn string) ([]string, error) {
	out, err := world.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(world.zoneID), StartRecordName: aws.String(fqdn), StartRecordType: r53types.RRTypeTxt,
	})
	if err != nil {
		return nil, err
	}
	var values []string
	for _, set := range out.ResourceRecordSets {
		if !sameName(aws.ToString(set.Name), fqdn) || set.Type != r53types.RRTypeTxt {
			continue
		}
		for _, rr := range set.ResourceRecords {
			values = append(values, strings.Trim(aws.ToString(rr.Value), `"`))
		}
	}
	return values, nil
}

func writeTXT(ctx context.Context, fqdn string, values []string) error {
	change := r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
		Name: aws.String(fqdn), Type: r53types.RRTypeTxt, TTL: aws.Int64(60),
	}}
	if len(values) == 0 {
		// Route53 DELETE must repeat the current set; kumo matches name and type only, which a
		// set with the old values also satisfies on AWS.
		change.Action = r53types.ChangeActionDelete
		cur, err := txtValues(ctx, fqdn)
		if err != nil {
			return err
		}
		if len(cur) == 0 {
			return nil
		}
		values = cur
	}
	for _, v := range values {
		change.ResourceRecordSet.ResourceRecords = append(change.ResourceRecordSet.ResourceRecords,
			r53types.ResourceRecord{Value: aws.String(`"` + v + `"`)})
	}
	_, err := world.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(world.zoneID), ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{change}},
	})
	return err
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// challengeRecords lists the _acme-challenge TXT records left in the zone.
func challengeRecords(ctx context.Context) ([]string, error) {
	out, err := world.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(world.zoneID)})
	if err != nil {
		return nil, err
	}
	var left []string
	for _, set := range out.ResourceRecordSets {
		if strings.HasPrefix(aws.ToString(set.Name), "_acme-challenge.") {
			left = append(left, fmt.Sprintf("%s %s", aws.ToString(set.Name), set.Type))
		}
	}
	return left, nil
}

// challengeRecordsRemoved waits for the removal of the challenge records, which runs after the
// order's result is delivered (bounded by 10 s in the pool), and returns those still left then.
func challengeRecordsRemoved(ctx context.Context) ([]string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		left, err := challengeRecords(ctx)
		if err != nil || len(left) == 0 || time.Now().After(deadline) {
			return left, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agreeingResolver is a fake recursive resolver that answers lego's propagation check with exactly
// the value lego expects (taken from the adapter), whatever Route53 holds. It stands for a resolver
// whose view differs from the CA's (split horizon, a stale cache) — a case the emulator cannot
// produce — so that the order reaches the CA and the CA's own validation fails.
type agreeingResolver struct {
	srv *dns.Server
	dns *route53TXT
}

func startAgreeingResolver(txt *route53TXT) (*agreeingResolver, string, error) {
	r := &agreeingResolver{dns: txt}
	pc, err := netListenUDP()
	if err != nil {
		return nil, "", err
	}
	r.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(r.serve)}
	started := make(chan struct{})
	r.srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = r.srv.ActivateAndServe() }()
	<-started
	return r, pc.LocalAddr().String(), nil
}

func (r *agreeingResolver) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	for _, q := range req.Question {
		if q.Qtype != dns.TypeTXT {
			continue
		}
		r.dns.mu.Lock()
		v, ok := r.dns.presented[strings.TrimSuffix(q.Name, ".")]
		r.dns.mu.Unlock()
		if ok {
			resp.Answer = append(resp.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v},
			})
		}
	}
	_ = w.WriteMsg(resp)
}

func (r *agreeingResolver) stop() { _ = r.srv.Shutdown() }

func netListenUDP() (net.PacketConn, error) { return net.ListenPacket("udp", "127.0.0.1:0") }
