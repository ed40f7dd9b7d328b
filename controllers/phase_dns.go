package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
)

// cloudFrontHostedZoneID is the fixed Route53 zone of every CloudFront distribution, the target
// zone of alias records (AWS documents it as Z2FDTNDATAQYW2 in all partitions' commercial regions).
const cloudFrontHostedZoneID = "Z2FDTNDATAQYW2"

// desiredRecords is the record set a site owns, computed from its spec and what the distribution
// phase last recorded in status.
func desiredRecords(site *v1alpha1.SecureSite) []records.Record {
	var out []records.Record
	if b := site.Spec.Backend; b != nil {
		ttl := b.TTL
		if ttl == 0 {
			ttl = 300
		}
		out = append(out, records.DesiredBackendRecord(b.Hostname, b.Address, ttl))
	}
	if site.Spec.StaticSite != nil && site.Status.Distribution != nil && site.Status.Distribution.DomainName != "" {
		for _, name := range siteAliases(site) {
			for _, typ := range []string{"A", "AAAA"} {
				out = append(out, records.Record{Name: name, Type: typ, Alias: &records.AliasTarget{
					HostedZoneID: cloudFrontHostedZoneID, DNSName: site.Status.Distribution.DomainName}})
			}
		}
	}
	return out
}

func (r *SecureSiteReconciler) reconcileDNS(ctx context.Context, s *scope) error {
	site := s.site
	desired := desiredRecords(site)
	zone, err := r.findZone(ctx, site.Spec.Domain, site.Spec.HostedZoneID)
	if errors.Is(err, records.ErrZoneNotFound) {
		s.dns.zoneProblem = fmt.Sprintf("no Route53 hosted zone found for %s", site.Spec.Domain)
		if site.Spec.HostedZoneID != "" {
			s.dns.zoneProblem = fmt.Sprintf("hosted zone %s does not exist", site.Spec.HostedZoneID)
		}
		// A zone may be created later; look again, slowly.
		s.waitFor(dnsConflictWait)
		r.forgetDesired(types.NamespacedName{Namespace: site.Namespace, Name: site.Name})
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding hosted zone for %s: %w", site.Spec.Domain, err)
	}
	s.dns.zone = zone
	if site.Status.DNS == nil {
		site.Status.DNS = &v1alpha1.DNSStatus{}
	}
	site.Status.DNS.HostedZoneID = zone.ID
	for _, rec := range desired {
		if !records.InZone(rec.Name, zone.Name) {
			r.forgetDesired(types.NamespacedName{Namespace: site.Namespace, Name: site.Name})
			return stalled(v1alpha1.ReasonInvalidSpec, "%s is not inside hosted zone %s (%s); use a name in the zone or set hostedZoneID", rec.Name, zone.Name, zone.ID)
		}
	}
	if len(desired) == 0 && len(site.Status.DNS.Records) == 0 {
		s.dns.skipped = site.Spec.Backend == nil && site.Spec.StaticSite == nil
	}

	if site.Spec.Suspend {
		r.forgetDesired(types.NamespacedName{Namespace: site.Namespace, Name: site.Name})
		plan, err := r.DNS.Plan(ctx, zone, s.owner, desired)
		if err != nil {
			return fmt.Errorf("observing zone %s: %w", zone.Name, err)
		}
		s.dns.conflicts = plan.Conflicts
		s.dns.wouldChange = plan.Summary()
		s.dns.records = desired
		return nil
	}

	if id := site.Status.DNS.PendingChangeID; id != "" {
		done, err := r.DNS.ChangeInSync(ctx, id)
		if err != nil {
			return fmt.Errorf("checking Route53 change %s: %w", id, err)
		}
		if done {
			site.Status.DNS.PendingChangeID = ""
		}
	}

	res, err := r.DNS.Ensure(ctx, zone, s.owner, desired)
	if err != nil {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "ChangeRecords", "Route53 zone %s: %v", zone.Name, err)
		return fmt.Errorf("writing records to zone %s: %w", zone.Name, err)
	}
	for _, ch := range res.Changed {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "RecordChanged", "ChangeRecords", "%s", ch.String())
	}
	if len(res.Conflicts) > 0 {
		s.dns.conflicts = res.Conflicts
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonRecordConflict, "ChangeRecords", "%s", dnsReadyCondition(site, s.dns).Message)
		s.waitFor(dnsConflictWait)
	}
	if !res.InSync && res.ChangeID != "" {
		site.Status.DNS.PendingChangeID = res.ChangeID
	}
	s.dns.pending = site.Status.DNS.PendingChangeID != ""
	if s.dns.pending {
		s.waitFor(dnsPendingWait)
	}
	s.dns.records = desired
	site.Status.DNS.Records = recordStatuses(desired, res.Conflicts)
	r.publishDesired(s, desired)
	return nil
}

// findZone looks an explicit zone up by its id alone. The CRD lets hostedZoneID hold records of a
// zone the domain is not in (a backend in another zone), and each record is checked against the
// zone: a record outside it is an invalid spec, not a missing zone.
func (r *SecureSiteReconciler) findZone(ctx context.Context, domain, zoneID string) (records.Zone, error) {
	if zoneID != "" {
		domain = ""
	}
	return r.DNS.FindZone(ctx, domain, zoneID)
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
