package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	legolog "github.com/go-acme/lego/v5/log"
)

// How the CA is asked whether it has validated a challenge. Neither Let's Encrypt nor pebble sends
// a Retry-After with the challenge, and lego then waits 5 s (±50%) before its first look, name
// after name: most of a certificate's issuance time once DNS is in sync. Let's Encrypt validates
// from several network perspectives in about one to two seconds, a CA next to the controller in
// well under a second, so look early and then back off: after 0.05 s, then waits of 0.1 s, 0.2 s,
// 0.4 s, … up to every 8 s (looks at 0.05 s, 0.15 s, 0.35 s, 0.75 s, 1.55 s, …). A validation of
// one to two seconds then costs 5 or 6 looks per name, as with the looks at 0.1 s, 0.2 s, 0.4 s, …
// before, which made every order of a CA that decides within tens of milliseconds wait a tenth of
// a second on the issuance worker; a name costs at most 10 looks in its first 30 s and one per 8 s
// after that, until validationTimeout. The looks are authorization reads, which count under Let's
// Encrypt's overall per-IP request limits of its API (250 a second for /acme/*), not under any
// issuance limit.
const (
	firstValidationPoll = 50 * time.Millisecond
	maxValidationPoll   = 8 * time.Second
	// validationTimeout gives up on a CA that never decides (lego: 100 × its 5 s first wait).
	validationTimeout = 8 * time.Minute
	// cleanupTimeout bounds the removal of an order's challenge records, which runs even when
	// the order's context has ended (order timeout, shutdown), without holding a shutdown up for
	// long: the reconciler removes what is left.
	cleanupTimeout = 10 * time.Second
)

// orderSolver answers every DNS-01 challenge of an order together: the TXT values of all names
// are written in one call to the DNS layer (one Route53 change), each name's propagation check
// and validation run side by side, and the values are removed in one call. lego's own resolver
// writes, validates and removes name after name. The removal runs beside the rest of the order
// (finalize, download) and does not hold the issuance worker: the CA has decided once Solve
// returns, so the records are of no more use to the order.
type orderSolver struct {
	dns ChallengeDNS
	// later runs the removal of the challenge records once Solve has returned (Pool.removeLater).
	later func(ctx context.Context, remove func() error)
	// challenge is lego's DNS-01 solver with validateChallenge in place of lego's validation:
	// it computes the record values and runs the propagation check.
	challenge *dns01.Challenge
	core      *api.Core
}

func newOrderSolver(core *api.Core, dns ChallengeDNS, later func(context.Context, func() error), provider challenge.Provider,
	opts ...dns01.ChallengeOption) *orderSolver {
	return &orderSolver{dns: dns, core: core, later: later,
		challenge: dns01.NewChallenge(core, validateChallenge, provider, opts...)}
}

// Solve is lego's resolver interface (certificate.NewCertifier): it returns once every
// authorization is valid, or with the reasons of those that are not.
func (s *orderSolver) Solve(ctx context.Context, authzs []legoacme.Authorization) error {
	var todo []legoacme.Authorization
	for _, a := range authzs {
		// A CA may reuse a recent validation of the same name for the same account.
		if a.Status != legoacme.StatusValid {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	values, err := s.txtValues(ctx, todo)
	if err != nil {
		return err
	}
	defer s.later(ctx, func() error { return s.cleanup(ctx, values, domainsOf(todo)) })
	if err := s.dns.PresentTXT(ctx, values); err != nil {
		return fmt.Errorf("dns01: writing the challenge records of %s: %w", domainsOf(todo), err)
	}
	legolog.Info("dns01: challenge records written.", slog.String("domains", domainsOf(todo)))
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, a := range todo {
		wg.Go(func() {
			if err := s.challenge.Solve(ctx, a); err != nil {
				errs[i] = fmt.Errorf("%s: %w", challenge.GetTargetedDomain(a), err)
			}
		})
	}
	wg.Wait()
	return joinNames(errs)
}

// nameErrors are the failures of an order's names, on one line for status and events.
type nameErrors []error

func (e nameErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find a CA's problem document (rateLimited, accountDoesNotExist).
func (e nameErrors) Unwrap() []error { return e }

func joinNames(errs []error) error {
	var out nameErrors
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// txtValues are the records the authorizations' DNS-01 challenges need, each once (a name and its
// wildcard share the TXT name, with one value each).
func (s *orderSolver) txtValues(ctx context.Context, authzs []legoacme.Authorization) ([]TXTValue, error) {
	var out []TXTValue
	seen := map[TXTValue]bool{}
	for _, a := range authzs {
		chlg, err := challenge.FindChallenge(challenge.DNS01, a)
		if err != nil {
			return nil, err
		}
		keyAuth, err := s.core.GetKeyAuthorization(chlg.Token)
		if err != nil {
			return nil, err
		}
		v := challengeValue(ctx, a.Identifier.Value, keyAuth)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// cleanup removes the order's challenge records, also after the order's context ended; it runs
// on its own, after Solve returned.
func (s *orderSolver) cleanup(ctx context.Context, values []TXTValue, domains string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.dns.CleanupTXT(ctx, values); err != nil {
		// Not the order's failure: the reconciler removes stale challenge records later.
		legolog.Warn("dns01: removing the challenge records failed.", legolog.ErrorAttr(err))
		return err
	}
	legolog.Info("dns01: challenge records removed.", slog.String("domains", domains))
	return nil
}

func domainsOf(authzs []legoacme.Authorization) string {
	names := make([]string, len(authzs))
	for i, a := range authzs {
		names[i] = challenge.GetTargetedDomain(a)
	}
	return strings.Join(names, ", ")
}

// validateChallenge tells the CA the challenge is ready and waits for its decision (a
// dns01.ValidateFunc): it polls the authorization early and then less often (see
// firstValidationPoll), honouring a Retry-After the CA sends with the challenge.
func validateChallenge(ctx context.Context, core *api.Core, domain string, chlg legoacme.Challenge) error {
	ch, err := core.Challenges.New(ctx, chlg.URL)
	if err != nil {
		return fmt.Errorf("failed to initiate the challenge: %w", err)
	}
	switch ch.Status {
	case legoacme.StatusValid:
		legolog.Info("The server validated our request.", legolog.DomainAttr(domain))
		return nil
	case legoacme.StatusInvalid:
		return fmt.Errorf("invalid challenge: %w", ch.Err())
	}
	wait := max(ch.RetryAfter, firstValidationPoll)
	deadline := time.Now().Add(validationTimeout)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the CA to validate %s: %w", domain, ctx.Err())
		case <-time.After(wait):
		}
		authz, err := core.Authorizations.Get(ctx, ch.AuthorizationURL)
		if err != nil {
			return err
		}
		if done, err := authorizationDecided(authz); done {
			if err == nil {
				legolog.Info("The server validated our request.", legolog.DomainAttr(domain))
			}
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CA has not validated %s after %s (status %s)", domain, validationTimeout, authz.Status)
		}
		wait = nextValidationPoll(wait)
	}
}

// nextValidationPoll is the wait after a look: doubling up to maxValidationPoll.
func nextValidationPoll(wait time.Duration) time.Duration {
	return min(2*wait, maxValidationPoll)
}

// authorizationDecided reports whether the CA is done with the authorization, and its error
// when the answer is no.
func authorizationDecided(authz legoacme.Authorization) (bool, error) {
	switch authz.Status {
	case legoacme.StatusValid:
		return true, nil
	case legoacme.StatusPending, legoacme.StatusProcessing:
		return false, nil
	case legoacme.StatusInvalid:
		for _, c := range authz.Challenges {
			if c.Status == legoacme.StatusInvalid && c.Error != nil {
				return true, fmt.Errorf("invalid authorization: %w", c.Err())
			}
		}
		return true, errors.New("invalid authorization")
	default:
		return true, fmt.Errorf("the authorization is %s", authz.Status)
	}
}
