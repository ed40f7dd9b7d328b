package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
)

// cloudFrontHostedZoneID is the fixed Route53 zone of every CloudFront distribution, the target
// zone of alias records (AWS documents it as Z2FDTNDATAQYW2 in all partitions' commercial regions).
const cloudFrontHostedZoneID = "Z2FDTNDATAQYW2"

// desiredRecords is the record set a site owns: the backend record from the spec, and alias
// records for the site's names once its distribution has a CloudFront name (aliasTarget).
func desiredRecords(site *v1alpha1.SecureSite, aliasTarget string) []records.Record {
	var out []records.Record
	if b := site.Spec.Backend; b != nil {
		// A TTL of 0 (objects made before the CRD default) takes the records layer's default.
		out = append(out, records.DesiredBackendRecord(b.Hostname, b.Address, b.TTL))
	}
	if site.Spec.StaticSite != nil && aliasTarget != "" {
		for _, name := range siteAliases(site) {
			for _, typ := range []string{"A", "AAAA"} {
				out = append(out, records.Record{Name: name, Type: typ, Alias: &records.AliasTarget{
					HostedZoneID: cloudFrontHostedZoneID, DNSName: aliasTarget}})
			}
		}
	}
	return out
}

// recordNames are the names the site's records use, aliases included before the distribution
// exists, so the zone phase can refuse a name outside the zone before anything is made.
func recordNames(site *v1alpha1.SecureSite) []string {
	var out []string
	if b := site.Spec.Backend; b != nil {
		out = append(out, records.DesiredBackendRecord(b.Hostname, b.Address, b.TTL).Name)
	}
	if site.Spec.StaticSite != nil {
		out = append(out, siteAliases(site)...)
	}
	return out
}

// reconcileDNS makes the site's records in its zone exactly the desired ones. It runs last, once
// per pass, after the distribution phase has said where the alias records point.
func (r *SecureSiteReconciler) reconcileDNS(ctx context.Context, s *scope) error {
	site := s.site
	s.dns.zone, s.dns.zoneProblem = s.zone.zone, s.zone.problem
	if !s.zone.found() {
		r.forgetDesired(siteRef(site))
		return nil
	}
	zone := s.zone.zone
	desired := desiredRecords(site, s.distribution.domainName)
	st := site.Status.DNS
	s.dns.skipped = len(desired) == 0 && len(st.Records) == 0 && site.Spec.Backend == nil && site.Spec.StaticSite == nil

	// Gather: what the zone holds against what the site wants.
	plan, err := r.DNS.Plan(ctx, zone, s.owner, desired)
	if err != nil {
		return fmt.Errorf("observing zone %s: %w", zone.Name, err)
	}
	if err := r.checkPendingChange(ctx, st); err != nil {
		return err
	}
	s.dns.records = desired

	// Decide and act: write only what differs, and nothing in a dry run.
	if !s.writesAllowed() {
		// Drift repair is a write too: a suspended site is left as it is.
		r.forgetDesired(siteRef(site))
		s.dns.conflicts, s.dns.wouldChange = plan.Conflicts, plan.Summary()
		return nil
	}
	// The write joins the zone's next Route53 call without holding this worker until then; the
	// site is woken when Route53 has answered (recordsAnswered). Called when the plan is in sync
	// too: the answer to a change queued by an earlier pass (what changed, the change to poll)
	// comes back here.
	key := siteRef(site)
	res, err := r.DNS.EnsureQueued(ctx, zone, s.owner, desired, func() { r.recordsAnswered(key) })
	if err != nil {
		return fmt.Errorf("writing records to zone %s: %w", zone.Name, err)
	}
	r.recordEnsured(s, desired, res)
	r.publishDesired(s, desired)
	return nil
}

// checkPendingChange forgets the change sent earlier once Route53 reports it INSYNC.
func (r *SecureSiteReconciler) checkPendingChange(ctx context.Context, st *v1alpha1.DNSStatus) error {
	id := st.PendingChangeID
	if id == "" {
		return nil
	}
	done, err := r.DNS.ChangeInSync(ctx, id)
	if err != nil {
		return fmt.Errorf("checking Route53 change %s: %w", id, err)
	}
	if done {
		st.PendingChangeID = ""
	}
	return nil
}

// recordEnsured reports what the records layer did and what the site now owns.
func (r *SecureSiteReconciler) recordEnsured(s *scope, desired []records.Record, res records.EnsureResult) {
	site, st := s.site, s.site.Status.DNS
	for _, ch := range res.Changed {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "RecordChanged", "ChangeRecords", "%s", ch.String())
	}
	if len(res.Conflicts) > 0 {
		s.dns.conflicts = res.Conflicts
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonRecordConflict, "ChangeRecords", "%s", conflictMessage(res.Conflicts))
		s.waitFor(dnsConflictWait)
	}
	if !res.InSync && res.ChangeID != "" {
		st.PendingChangeID = res.ChangeID
	}
	st.Records = recordStatuses(desired, res.Conflicts)
	s.dns.queued = res.Queued
	s.dns.pending = st.PendingChangeID != "" || res.Queued
	if s.dns.pending {
		s.waitFor(dnsPendingWait)
	}
}

// conflictMessage says which desired records are not written and whose they are.
func conflictMessage(conflicts []records.Conflict) string {
	parts := make([]string, 0, len(conflicts))
	for _, cf := range conflicts {
		who := "exists and is not managed by SecureSite"
		if cf.Owner != "" {
			who = "is owned by SecureSite " + cf.Owner
		}
		if !cf.HeldUntil.IsZero() {
			who = fmt.Sprintf("was released by SecureSite %s and is held for it until %s", cf.Owner, cf.HeldUntil.UTC().Format(time.RFC3339))
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", cf.Record.Name, cf.Record.Type, who))
	}
	return "not written, to avoid overwriting a record we do not own: " + strings.Join(parts, "; ")
}

// recordStatuses lists the records the site owns (the desired ones minus conflicts).
func recordStatuses(desired []records.Record, conflicts []records.Conflict) []v1alpha1.RecordStatus {
	var out []v1alpha1.RecordStatus
	for _, rec := range desired {
		conflicting := false
		for _, c := range conflicts {
			if c.Record.Name == rec.Name && c.Record.Type == rec.Type {
				conflicting = true
			}
		}
		if conflicting {
			continue
		}
		value := strings.Join(rec.Values, ",")
		if rec.Alias != nil {
			value = "alias:" + rec.Alias.DNSName
		}
		out = append(out, v1alpha1.RecordStatus{Name: rec.Name, Type: rec.Type, Value: value})
	}
	return out
}
