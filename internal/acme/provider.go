package acme

import (
	"context"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
)

// ChallengeDNS writes and removes DNS-01 TXT records; the controller implements it on top of its
// Route53 layer so that challenge records go through the same ownership and batching rules as
// every other record.
//
// fqdn is "_acme-challenge.<domain>" (or the target of a CNAME placed there) without trailing dot.
// Several values can be live on one name at once (a name and its wildcard are two authorizations
// with one TXT name), so PresentTXT adds value to the record set and CleanupTXT removes only value.
type ChallengeDNS interface {
	PresentTXT(ctx context.Context, fqdn, value string) error
	CleanupTXT(ctx context.Context, fqdn, value string) error
}

// dnsProvider adapts ChallengeDNS to lego's challenge.ProviderTimeout.
type dnsProvider struct {
	dns      ChallengeDNS
	timeout  time.Duration
	interval time.Duration
}

func (d *dnsProvider) Present(ctx context.Context, domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	return d.dns.PresentTXT(ctx, strings.TrimSuffix(info.EffectiveFQDN, "."), info.Value)
}

func (d *dnsProvider) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	return d.dns.CleanupTXT(ctx, strings.TrimSuffix(info.EffectiveFQDN, "."), info.Value)
}

// Timeout bounds lego's wait for the TXT record to be visible at the nameservers before it asks
// the CA to validate; asking too early burns one of the CA's failed-validation allowances.
func (d *dnsProvider) Timeout() (time.Duration, time.Duration) {
	return d.timeout, d.interval
}
