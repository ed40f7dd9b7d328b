package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/testworld"
)

// The issuance pool runs for months and orders thousands of certificates: the change each
// challenge value was written in is remembered only until the order's cleanup, also when the
// cleanup itself fails (here Route53 cannot be reached while it runs, so the zone lookup fails).
func TestChallengeChangesForgottenAtCleanup(t *testing.T) {
	ctx := context.Background()
	emu, err := testworld.StartEmulator("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = route53.NewFromConfig(emu.RawAWSConfig()).CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String("cleanup.test"), CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Zones are looked up afresh every time, so the failing cleanup below really calls Route53.
	svc := records.New(cfg.AWS, records.Options{BatchWindow: time.Millisecond, ZoneListTTL: time.Nanosecond})
	c := NewChallengeDNS(svc, "test").(*challengeDNS)
	values := []acme.TXTValue{{FQDN: "_acme-challenge.www.cleanup.test.", Value: "token"}}

	if err := c.PresentTXT(ctx, values); err != nil {
		t.Fatal(err)
	}
	if n := syncMapLen(&c.changes); n != 1 {
		t.Fatalf("%d changes remembered after writing one value, want 1", n)
	}
	if err := c.WaitPropagated(ctx, values[0].FQDN, values[0].Value); err != nil {
		t.Fatal(err)
	}
	unreachable, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.CleanupTXT(unreachable, values); err == nil {
		t.Fatal("cleanup without Route53 succeeded")
	}
	if n := syncMapLen(&c.changes); n != 0 {
		t.Fatalf("%d changes remembered after the order's cleanup, want 0", n)
	}
	// The record is still there; the next order's cleanup, with Route53 back, removes it.
	if err := c.PresentTXT(ctx, values); err != nil {
		t.Fatal(err)
	}
	if err := c.CleanupTXT(ctx, values); err != nil {
		t.Fatal(err)
	}
	if n := syncMapLen(&c.changes); n != 0 {
		t.Fatalf("%d changes remembered after cleanup, want 0", n)
	}
}

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
