// Package faultproxy is a test-only reverse proxy in front of kumo that fails a share of AWS
// requests the way AWS does under load: Route53 and CloudFront Throttling, Route53
// PriorRequestNotComplete, S3 SlowDown, JSON-protocol ThrottlingException (ACM, Secrets Manager),
// bare 500 and 503 answers, and requests that hang and then lose their connection.
//
// It is a fake, and the only one in the test world: kumo answers every request at once and has
// no rate limits, so the controller's retry and idempotency paths could not be reached otherwise.
// The error bodies follow AWS's documented wire shapes, so the real SDK parses them as it would
// parse AWS's own.
package faultproxy

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is one injected fault; its value is the AWS error code the SDK reports for it ("error" for
// a lost connection, which has none), i.e. the result label of awsclient.Calls.
type Kind string

const (
	// Throttling is Route53's and CloudFront's rate limit (HTTP 400, Sender, code Throttling).
	Throttling Kind = "Throttling"
	// PriorRequestNotComplete is Route53 refusing a change while the previous one for the zone is
	// still being applied (HTTP 400).
	PriorRequestNotComplete Kind = "PriorRequestNotComplete"
	// SlowDown is S3's rate limit (HTTP 503).
	SlowDown Kind = "SlowDown"
	// ThrottlingException is the JSON-protocol services' rate limit (ACM, Secrets Manager; HTTP 400).
	ThrottlingException Kind = "ThrottlingException"
	// InternalError is an HTTP 500 with the service's error body.
	InternalError Kind = "InternalError"
	// ServiceUnavailable is an HTTP 503 with the service's error body.
	ServiceUnavailable Kind = "ServiceUnavailable"
	// ConnectionLost hangs for Options.Hang and then closes the connection without an answer: what
	// a client sees when its request times out. The SDK's default HTTP client has no overall
	// timeout, so the proxy ends the hang itself.
	ConnectionLost Kind = "error"
	// ResponseLost forwards the request to kumo and then closes the connection instead of
	// answering: the call took effect but the client cannot know, as when AWS answers after the
	// client gave up. Opt-in (Options.Kinds), because a retried create without an idempotency
	// token (ACM ImportCertificate) then makes a second object, on AWS as here.
	ResponseLost Kind = "response-lost"
)

// Service is the AWS service a request is for, as the proxy tells it from the request.
type Service string

const (
	Route53    Service = "route53"
	CloudFront Service = "cloudfront"
	S3         Service = "s3"
	JSON       Service = "json" // X-Amz-Target services: ACM, Secrets Manager
	Other      Service = "other"
)

// kindsFor lists the faults that make sense for a service: AWS never answers S3 with
// PriorRequestNotComplete, for example.
var kindsFor = map[Service][]Kind{
	Route53:    {Throttling, PriorRequestNotComplete, InternalError, ServiceUnavailable, ConnectionLost},
	CloudFront: {Throttling, InternalError, ServiceUnavailable, ConnectionLost},
	S3:         {SlowDown, InternalError, ServiceUnavailable, ConnectionLost},
	JSON:       {ThrottlingException, InternalError, ServiceUnavailable, ConnectionLost},
}

// Options configures a Proxy.
type Options struct {
	// Rate is the share of requests that fail, 0 to 1.
	Rate float64
	// Seed makes the sequence of decisions repeatable: the n-th request gets the same verdict
	// on every run (which request is n-th depends on the caller's concurrency).
	Seed uint64
	// Kinds, when set, restricts the faults to these (each still only where its service allows);
	// ResponseLost is only injected when listed here.
	Kinds []Kind
	// Hang is how long a ConnectionLost request hangs before its connection is closed; default 500ms.
	Hang time.Duration
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is where clients send AWS requests instead of kumo.
	URL string

	srv   *httptest.Server
	proxy *httputil.ReverseProxy
	opts  Options

	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64
	injected map[Service]map[Kind]int
	passed   int
}

// Start starts a proxy in front of target (kumo's URL). Stop it with Close.
func Start(target string, o Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("fault proxy target: %w", err)
	}
	if o.Hang == 0 {
		o.Hang = 500 * time.Millisecond
	}
	p := &Proxy{
		opts:     o,
		rate:     o.Rate,
		rng:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed)),
		proxy:    httputil.NewSingleHostReverseProxy(u),
		injected: map[Service]map[Kind]int{},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Handler is the proxy's handler, for serving it elsewhere or calling it directly.
func (p *Proxy) Handler() http.Handler { return http.HandlerFunc(p.serve) }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// SetRate changes the share of failed requests (0 lets a test settle without faults).
func (p *Proxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Injected returns the faults injected so far by service and kind.
func (p *Proxy) Injected() map[Service]map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[Service]map[Kind]int{}
	for svc, kinds := range p.injected {
		out[svc] = map[Kind]int{}
		for k, n := range kinds {
			out[svc][k] = n
		}
	}
	return out
}

// Total returns the number of injected faults and of requests passed through to kumo.
func (p *Proxy) Total() (injected, passed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kinds := range p.injected {
		for _, n := range kinds {
			injected += n
		}
	}
	return injected, p.passed
}

// ServiceOf tells the AWS service of a request the way the SDK addresses it on one endpoint:
// Route53 and CloudFront by their REST API version path, the JSON protocols by X-Amz-Target,
// S3 by elimination. kumo's own paths (/kumo/..., /health) are Other.
func ServiceOf(r *http.Request) Service {
	switch {
	case strings.HasPrefix(r.URL.Path, "/kumo/") || r.URL.Path == "/health":
		return Other
	case strings.HasPrefix(r.URL.Path, "/2013-04-01/"):
		return Route53
	case strings.HasPrefix(r.URL.Path, "/2020-05-31/"):
		return CloudFront
	case r.Header.Get("X-Amz-Target") != "":
		return JSON
	default:
		return S3
	}
}

// decide picks the fault for a request, or "" to pass it through.
func (p *Proxy) decide(svc Service) Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	kinds := kindsFor[svc]
	if len(p.opts.Kinds) > 0 {
		if kinds != nil {
			kinds = append(slices.Clone(kinds), ResponseLost)
		}
		kinds = slices.DeleteFunc(kinds, func(k Kind) bool { return !slices.Contains(p.opts.Kinds, k) })
	}
	// Draw both numbers on every request, so one request's verdict does not shift the next's.
	roll, pick := p.rng.Float64(), p.rng.IntN(1<<30)
	if len(kinds) == 0 || roll >= p.rate {
		p.passed++
		return ""
	}
	k := kinds[pick%len(kinds)]
	if p.injected[svc] == nil {
		p.injected[svc] = map[Kind]int{}
	}
	p.injected[svc][k]++
	return k
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	svc := ServiceOf(r)
	kind := p.decide(svc)
	if kind == "" {
		p.proxy.ServeHTTP(w, r)
		return
	}
	if kind == ResponseLost {
		p.proxy.ServeHTTP(httptest.NewRecorder(), r)
		closeConn(w)
		return
	}
	// Read the request as AWS would before answering, so the client is not cut off mid-upload.
	_, _ = io.Copy(io.Discard, r.Body)
	if kind == ConnectionLost {
		time.Sleep(p.opts.Hang)
		closeConn(w)
		return
	}
	status, contentType, body := errorResponse(svc, kind)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", "faultproxy")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// closeConn drops the client's connection without an answer.
func closeConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the connection without a response
}

// errorResponse is AWS's answer for a fault: REST-XML ErrorResponse for Route53 and CloudFront,
// S3's bare Error document, and the JSON protocols' __type object.
func errorResponse(svc Service, kind Kind) (status int, contentType, body string) {
	status = http.StatusBadRequest
	switch kind {
	case SlowDown, ServiceUnavailable:
		status = http.StatusServiceUnavailable
	case InternalError:
		status = http.StatusInternalServerError
	}
	typ, msg := "Sender", "Rate exceeded"
	if status >= 500 {
		typ, msg = "Receiver", "injected by faultproxy"
	}
	switch svc {
	case Route53:
		return status, "text/xml", fmt.Sprintf(`<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>`, typ, kind, msg)
	case CloudFront:
		return status, "text/xml", fmt.Sprintf(`<?xml version="1.0"?>
<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>`, typ, kind, msg)
	case JSON:
		return status, "application/x-amz-json-1.1", fmt.Sprintf(`{"__type":"%s","message":"%s"}`, kind, msg)
	default:
		return status, "application/xml", fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, kind, msg)
	}
}
