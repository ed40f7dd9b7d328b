package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/registration"
)

const userAgent = "securesite"

// user is lego's view of an ACME account.
type user struct {
	email string
	key   crypto.Signer
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

// clientEntry is one ACME client per server+email, built once; concurrent first orders wait on
// ready instead of each registering an account.
type clientEntry struct {
	ready  chan struct{}
	client *acmeClient
	err    error
}

// acmeClient is an ACME account's connection to its CA: lego's order, finalization and download,
// with orderSolver answering the challenges.
type acmeClient struct {
	certifier *certificate.Certifier
}

type accountKey struct{ server, email string }

// clientKey is one lego client: an account, reached through the TLS trust of one CA bundle.
type clientKey struct {
	accountKey
	ca string
}

func bundleID(caBundle []byte) string {
	if len(caBundle) == 0 {
		return ""
	}
	sum := sha256.Sum256(caBundle)
	return hex.EncodeToString(sum[:])
}

// httpClientFor returns the HTTP client trusting caBundle (the pool's own for an empty one).
func (p *Pool) httpClientFor(caBundle []byte) (*http.Client, error) {
	id := bundleID(caBundle)
	if id == "" {
		return p.httpClient, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.httpClients[id]; ok {
		return c, nil
	}
	c, err := newHTTPClient(caBundle)
	if err != nil {
		return nil, err
	}
	p.httpClients[id] = c
	return c, nil
}

// clientFor returns the cached lego client of server+email, registering the account on first use.
func (p *Pool) clientFor(ctx context.Context, server, email string, caBundle []byte) (*acmeClient, error) {
	k := clientKey{accountKey{server, email}, bundleID(caBundle)}
	p.mu.Lock()
	e, ok := p.clients[k]
	if !ok {
		e = &clientEntry{ready: make(chan struct{})}
		p.clients[k] = e
	}
	p.mu.Unlock()
	if !ok {
		e.client, e.err = p.newAccountClient(ctx, server, email, caBundle)
		if e.err != nil {
			// Not cached: the next order retries (the store or the CA may be back by then).
			p.mu.Lock()
			delete(p.clients, k)
			p.mu.Unlock()
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
		return e.client, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forgetClient drops a cached client, e.g. when the CA no longer knows its account.
func (p *Pool) forgetClient(server, email string, caBundle []byte) {
	p.mu.Lock()
	delete(p.clients, clientKey{accountKey{server, email}, bundleID(caBundle)})
	p.mu.Unlock()
}

func (p *Pool) newAccountClient(ctx context.Context, server, email string, caBundle []byte) (*acmeClient, error) {
	httpClient, err := p.httpClientFor(caBundle)
	if err != nil {
		return nil, err
	}
	key, uri, found, err := p.accounts.Load(ctx, server, email)
	if err != nil {
		return nil, err
	}
	if !found {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	u := &user{email: email, key: key}
	if found && uri != "" {
		u.reg = &legoacme.ExtendedAccount{Location: uri}
	}
	// The account URL is the key id of every signed request; registering sets it on core.
	core, err := api.New(httpClient, userAgent, server, uri, key)
	if err != nil {
		return nil, fmt.Errorf("ACME directory %s: %w", server, err)
	}
	reg := registration.NewRegistrar(core, u)
	if u.reg != nil {
		_, err := reg.QueryRegistration(ctx)
		if err == nil {
			return p.newClient(core), nil
		}
		if !isProblem(err, legoacme.AccountDoesNotExistErrorType) {
			return nil, fmt.Errorf("ACME account %s: %w", uri, err)
		}
		// The CA forgot the account (a test CA restarted, or the account was deactivated by
		// hand): register again with the stored key rather than failing every order.
	}
	acc, err := reg.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, fmt.Errorf("registering ACME account for %q at %s: %w", email, server, err)
	}
	AccountRegistrations.Inc()
	u.reg = acc
	if err := p.accounts.Save(ctx, server, email, key, acc.Location); err != nil {
		return nil, err
	}
	return p.newClient(core), nil
}

// certificateTimeout bounds the wait for a finalized order's certificate (lego's default).
const certificateTimeout = 30 * time.Second

// authorizationReadRate is lego's OverallRequestLimit: lego reads an order's authorizations one
// after the other with 1/limit between them. Its default of 18 per second cost a two-name order
// 110 ms before its challenges were even looked at. Authorization reads fall under Let's
// Encrypt's limit for /acme/* (250 requests per second per IP, burst 125), not under the
// new-nonce (20/s) or new-account limits lego's default stays under; 100 per second is well
// inside it for one order, and the pool's orders together make far fewer against Let's Encrypt,
// whose validations take one to two seconds each.
const authorizationReadRate = 100

func (p *Pool) newClient(core *api.Core) *acmeClient {
	provider := &dnsProvider{dns: p.opts.DNS, timeout: p.opts.PropagationTimeout, interval: p.opts.PollInterval}
	opts := []dns01.ChallengeOption{
		dns01.CondOptions(p.opts.SkipAuthoritativeNSCheck, dns01.DisableAuthoritativeNssPropagationRequirement()),
	}
	if w, ok := p.opts.DNS.(PropagationWaiter); ok {
		// The DNS layer knows when the value is on every authoritative server, so one check
		// follows at once. That check asks the authoritative servers; only when they cannot be
		// reached (SkipAuthoritativeNSCheck) is it the recursive resolvers' instead.
		provider.interval = firstLook
		pc := &propagationCheck{waiter: w, interval: p.opts.PollInterval, tries: map[string]checkTries{}}
		opts = append(opts, dns01.WrapPreCheck(pc.check),
			dns01.CondOptions(!p.opts.SkipAuthoritativeNSCheck, dns01.DisableRecursiveNSsPropagationRequirement()))
	}
	solver := newOrderSolver(core, p.opts.DNS, p.removeLater, provider, opts...)
	return &acmeClient{certifier: certificate.NewCertifier(core, solver, certificate.CertifierOptions{
		Timeout: certificateTimeout, OverallRequestLimit: authorizationReadRate})}
}

func isProblem(err error, problemType string) bool {
	var pd *legoacme.ProblemDetails
	return errors.As(err, &pd) && pd.Type == problemType
}

// directoryFor returns an unauthenticated ACME core for server, for renewal information, which
// needs no account (RFC 9773 §4.1: a plain GET).
func (p *Pool) directoryFor(server string, caBundle []byte) (*api.Core, error) {
	httpClient, err := p.httpClientFor(caBundle)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	dirKey := server + "|" + bundleID(caBundle)
	if c, ok := p.directories[dirKey]; ok {
		return c, nil
	}
	// api.New wants a key to sign with; renewalInfo requests are never signed.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c, err := api.New(httpClient, userAgent, server, "", key)
	if err != nil {
		return nil, fmt.Errorf("ACME directory %s: %w", server, err)
	}
	p.directories[dirKey] = c
	return c, nil
}

func newHTTPClient(caBundle []byte) (*http.Client, error) {
	var roots *x509.CertPool
	if len(caBundle) > 0 {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("ACME CA bundle holds no PEM certificate")
		}
	}
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: limitBodies{next: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 30 * time.Second,
			// A CA answers in well under a second; a request that hangs is given up after 10 s
			// so that lego's polls (the finished order: 30 s in all) ask again instead of
			// spending their whole time on one unanswered request, which failed the order
			// (one of 1,000 in a benchmark run against pebble).
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   16,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

// memoryAccounts keeps accounts for the life of the process only; used when Options.Accounts is
// nil (tests of other packages, one-shot tools).
type memoryAccounts struct {
	mu sync.Mutex
	m  map[accountKey]memoryAccount
}

type memoryAccount struct {
	key crypto.Signer
	uri string
}

func (m *memoryAccounts) Load(_ context.Context, server, email string) (crypto.Signer, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.m[accountKey{server, email}]
	return a.key, a.uri, ok, nil
}

func (m *memoryAccounts) Save(_ context.Context, server, email string, key crypto.Signer, uri string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[accountKey]memoryAccount{}
	}
	m.m[accountKey{server, email}] = memoryAccount{key, uri}
	return nil
}
