package faultproxy

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// ACMEOptions configures an ACME proxy.
type ACMEOptions struct {
	// RateLimitOrders is how many newOrder requests are answered rateLimited (the first ones).
	RateLimitOrders int
	// RetryAfter is the Retry-After of those answers.
	RetryAfter time.Duration
}

// OrderRequest is one newOrder request the proxy saw.
type OrderRequest struct {
	At      time.Time
	Limited bool // answered rateLimited by the proxy
}

// ACMEProxy sits in front of pebble and answers newOrder with Let's Encrypt's rateLimited
// problem and a Retry-After, as a CA at its limit does. A fake, like the AWS proxy: pebble has no
// order rate limits. Everything else passes through; the Host header is kept, so pebble writes
// the proxy's address into every URL it returns and checks the JWS "url" against it.
type ACMEProxy struct {
	// DirectoryURL is the ACME directory through the proxy.
	DirectoryURL string

	srv *httptest.Server
	o   ACMEOptions

	mu       sync.Mutex
	orders   []OrderRequest
	newOrder string // pebble's newOrder path
}

// StartACME starts a proxy for the pebble directory at directoryURL, serving TLS with pebble's
// own certificate files.
func StartACME(directoryURL, certFile, keyFile string, o ACMEOptions) (*ACMEProxy, error) {
	target, err := url.Parse(directoryURL)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("ACME proxy TLS: %w", err)
	}
	// The proxy trusts pebble without checking: both are the test world's, on loopback.
	upstream := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test world only
	dir, err := (&http.Client{Transport: upstream, Timeout: 10 * time.Second}).Get(directoryURL)
	if err != nil {
		return nil, fmt.Errorf("reading pebble's directory: %w", err)
	}
	var d struct {
		NewOrder string `json:"newOrder"`
	}
	err = json.NewDecoder(dir.Body).Decode(&d)
	dir.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading pebble's directory: %w", err)
	}
	no, err := url.Parse(d.NewOrder)
	if err != nil {
		return nil, err
	}
	p := &ACMEProxy{o: o, newOrder: no.Path}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	rp.Transport = upstream
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == p.newOrder && p.limitThis() {
			// RFC 8555 §6.6 and Let's Encrypt: 429, a rateLimited problem, Retry-After.
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", strconv.Itoa(int(p.o.RetryAfter.Seconds())))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new orders (faultproxy)","status":429}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	p.srv.StartTLS()
	p.DirectoryURL = p.srv.URL + target.Path
	return p, nil
}

// limitThis records a newOrder and says whether to answer it rateLimited.
func (p *ACMEProxy) limitThis() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	limited := 0
	for _, o := range p.orders {
		if o.Limited {
			limited++
		}
	}
	req := OrderRequest{At: time.Now(), Limited: limited < p.o.RateLimitOrders}
	p.orders = append(p.orders, req)
	return req.Limited
}

// Orders returns the newOrder requests seen so far.
func (p *ACMEProxy) Orders() []OrderRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]OrderRequest(nil), p.orders...)
}

// Close stops the proxy.
func (p *ACMEProxy) Close() { p.srv.Close() }
