// Package dnsserver is the test world's authoritative DNS server: it answers every query from the AWS emulator's
// Route53, read at the moment of the query, so that pebble validates DNS-01 challenges and lego checks
// their propagation against the records the controller has just written.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/miekg/dns"
)

// queryTimeout bounds the Route53 reads behind one DNS answer; clients (lego, pebble) time out after
// a few seconds, so a slower answer is useless anyway.
const queryTimeout = 3 * time.Second

// Server answers DNS over UDP and TCP on one loopback port.
type Server struct {
	addr  string
	udp   *dns.Server
	tcp   *dns.Server
	zones *zoneReader
}

// Start serves on a free loopback port.
func Start(awsURL string) (*Server, error) {
	return StartAt(awsURL, "127.0.0.1:0")
}

// StartAt serves on addr (host:port, port 0 for a free one), on both UDP and TCP. Every query
// reads the zone from the emulator, so a record is visible the moment it is written.
func StartAt(awsURL, addr string) (*Server, error) {
	return StartWith(awsURL, addr, 0)
}

// StartWith is StartAt with reads of a zone shared by every query that comes within zoneMaxAge
// of the read's start, including queries that come while it runs (0: none). Benchmarks use it:
// with thousands of records in a zone and hundreds of lookups at once, a read per query piles
// up until pebble's DNS-01 lookups time out. A resolver still never sees a record older than one
// it has already seen (see zoneReader).
func StartWith(awsURL, addr string, zoneMaxAge time.Duration) (*Server, error) {
	tcpL, udpC, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	// Deliberately not awsclient.Load: its call counter would count these reads as the
	// controller's Route53 calls and skew the benchmarks.
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(awsURL),
	}
	s := &Server{
		addr:  tcpL.Addr().String(),
		zones: &zoneReader{r53: route53.NewFromConfig(cfg), maxAge: zoneMaxAge},
	}
	handler := dns.HandlerFunc(s.serveDNS)
	s.tcp = &dns.Server{Listener: tcpL, Handler: handler}
	s.udp = &dns.Server{PacketConn: udpC, Handler: handler}
	started := make(chan error, 2)
	for _, srv := range []*dns.Server{s.tcp, s.udp} {
		srv.NotifyStartedFunc = func() { started <- nil }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				started <- err
			}
		}()
	}
	for range 2 {
		if err := <-started; err != nil {
			s.Stop()
			return nil, fmt.Errorf("dns server: %w", err)
		}
	}
	return s, nil
}

// listenBoth binds TCP and UDP on the same port; with port 0 the TCP port may be taken on UDP, so
// it retries a few times.
func listenBoth(addr string) (net.Listener, net.PacketConn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for range 10 {
		tcpL, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns server: listen tcp %s: %w", addr, err)
		}
		udpC, err := net.ListenPacket("udp", tcpL.Addr().String())
		if err == nil {
			return tcpL, udpC, nil
		}
		tcpL.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dns server: listen udp: %w", lastErr)
}

// Addr is "127.0.0.1:port", the same port for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Stop shuts both listeners down.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	// A handler stuck on a slow emulator must not hang a test's cleanup.
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	for _, srv := range []*dns.Server{s.tcp, s.udp} {
		if srv != nil {
			_ = srv.ShutdownContext(ctx)
		}
	}
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = false
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		resp.Rcode = dns.RcodeNotImplemented
		_ = w.WriteMsg(resp)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if err := s.answer(ctx, req.Question[0], resp); err != nil {
		resp.Answer, resp.Ns = nil, nil
		if errors.Is(err, errNotOurs) {
			resp.Rcode = dns.RcodeRefused
			resp.Authoritative = false
		} else {
			resp.Rcode = dns.RcodeServerFailure
		}
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		resp.SetEdns0(opt.UDPSize(), false)
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

// maxChain bounds CNAME and alias chasing, as resolvers do, so a loop in the data cannot hang a query.
const maxChain = 8

// answer fills resp for q following RFC 1034 4.3.2 for an authoritative server: CNAMEs (and Route53
// alias records pointing into our zones) are followed, a name with no data of the type gets
// NOERROR with the zone SOA in the authority section, an absent name NXDOMAIN with the SOA.
func (s *Server) answer(ctx context.Context, q dns.Question, resp *dns.Msg) error {
	owner, name := q.Name, normalizeName(q.Name)
	for range maxChain {
		z, err := s.zones.zoneFor(ctx, name)
		if err != nil {
			if len(resp.Answer) > 0 && errors.Is(err, errNotOurs) {
				return nil // a CNAME out of our zones: the client follows it elsewhere
			}
			return err
		}
		sets, found := z.lookup(name)
		if !found {
			if len(resp.Answer) == 0 {
				resp.Rcode = dns.RcodeNameError
			}
			resp.Ns = append(resp.Ns, z.soa())
			return nil
		}
		if cname := sets.first(dns.TypeCNAME); cname != nil && q.Qtype != dns.TypeCNAME {
			rr := withOwner(cname, owner)
			resp.Answer = append(resp.Answer, rr)
			owner = rr.(*dns.CNAME).Target
			name = normalizeName(owner)
			continue
		}
		s.answerFrom(ctx, q, z, sets, owner, resp)
		return nil
	}
	return nil
}

// answerFrom answers q from the record sets of one name: an alias's target records, else the
// name's own; with nothing to answer, the zone's SOA says so.
func (s *Server) answerFrom(ctx context.Context, q dns.Question, z *zone, sets *rrsets, owner string, resp *dns.Msg) {
	empty := false
	if target, ok := sets.aliasTarget(q.Qtype); ok && len(sets.records(q.Qtype)) == 0 {
		s.answerAlias(ctx, q, target, owner, resp)
		empty = len(resp.Answer) == 0
	} else {
		empty = answerRecords(q, sets, owner, resp) == 0
	}
	if empty {
		resp.Ns = append(resp.Ns, z.soa())
	}
}

// answerAlias answers with the alias target's records under the alias's own name.
func (s *Server) answerAlias(ctx context.Context, q dns.Question, target, owner string, resp *dns.Msg) {
	aliased := new(dns.Msg)
	if err := s.answer(ctx, dns.Question{Name: target, Qtype: q.Qtype, Qclass: q.Qclass}, aliased); err != nil {
		return
	}
	for _, rr := range aliased.Answer {
		if rr.Header().Rrtype == q.Qtype {
			resp.Answer = append(resp.Answer, withOwner(rr, owner))
		}
	}
}

// answerRecords answers with the name's own records of the type; it returns how many.
func answerRecords(q dns.Question, sets *rrsets, owner string, resp *dns.Msg) int {
	rrs := sets.records(q.Qtype)
	if q.Qtype == dns.TypeANY {
		rrs = sets.all()
	}
	for _, rr := range rrs {
		resp.Answer = append(resp.Answer, withOwner(rr, owner))
	}
	return len(rrs)
}

func withOwner(rr dns.RR, owner string) dns.RR {
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}
