package acme

import (
	"context"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
)

// TXTValue is one DNS-01 challenge record value: fqdn is "_acme-challenge.<domain>" (or the
// target of a CNAME placed there) without trailing dot.
type TXTValue struct {
	FQDN  string
	Value string
}

// ChallengeDNS writes and removes DNS-01 TXT records; the controller implements it on top of its
// Route53 layer so that challenge records go through the same ownership and batching rules as
// every other record.
//
// The values of one order come in one call, so the DNS layer can write them in one change.
// Several values can be live on one name at once (a name and its wildcard are two authorizations
// with one TXT name), so PresentTXT adds each value to its record set and CleanupTXT removes only
// the values given.
type ChallengeDNS interface {
	PresentTXT(ctx context.Context, values []TXTValue) error
	CleanupTXT(ctx context.Context, values []TXTValue) error
}

// dnsProvider adapts ChallengeDNS to lego's challenge.ProviderTimeout. The order's values are
// written by orderSolver in one call; Present and CleanUp serve lego's per-name interface.
type dnsProvider struct {
	dns      ChallengeDNS
	timeout  time.Duration
	interval time.Duration
}

func (d *dnsProvider) Present(ctx context.Context, domain, _, keyAuth string) error {
	return d.dns.PresentTXT(ctx, []TXTValue{challengeValue(ctx, domain, keyAuth)})
}

func (d *dnsProvider) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	return d.dns.CleanupTXT(ctx, []TXTValue{challengeValue(ctx, domain, keyAuth)})
}

func challengeValue(ctx context.Context, domain, keyAuth string) TXTValue {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	return TXTValue{FQDN: strings.TrimSuffix(info.EffectiveFQDN, "."), Value: info.Value}
}

// Timeout bounds lego's wait for the TXT record to be visible at the nameservers before it asks
// the CA to validate; asking too early burns one of the CA's failed-validation allowances.
func (d *dnsProvider) Timeout() (time.Duration, time.Duration) {
	return d.timeout, d.interval
}
