package controllers

import (
	"context"
	"errors"
	"fmt"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
)

// reconcileZone finds the hosted zone that holds the site's records and its DNS-01 challenges,
// and refuses a spec naming a record outside it before anything is written anywhere.
func (r *SecureSiteReconciler) reconcileZone(ctx context.Context, s *scope) error {
	site := s.site
	zone, err := r.findZone(ctx, site.Spec.Domain, site.Spec.HostedZoneID)
	if errors.Is(err, records.ErrZoneNotFound) {
		s.zone.problem = zoneProblem(site)
		r.forgetDesired(siteRef(site))
		// A zone may be created later; look again, slowly.
		s.waitFor(dnsConflictWait)
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding hosted zone for %s: %w", site.Spec.Domain, err)
	}
	if name, outside := firstOutsideZone(recordNames(site), zone); outside {
		r.forgetDesired(siteRef(site))
		return stalled(v1alpha1.ReasonInvalidSpec, "%s is not inside hosted zone %s (%s); use a name in the zone or set hostedZoneID", name, zone.Name, zone.ID)
	}
	if b := site.Spec.Backend; b != nil {
		if rec := records.DesiredBackendRecord(b.Hostname, b.Address, 0); rec.Type == "CNAME" && rec.Name == zone.Name {
			r.forgetDesired(siteRef(site))
			return stalled(v1alpha1.ReasonCNAMEAtZoneApex, "backend.hostname %s is the apex of hosted zone %s, where DNS allows no CNAME beside the zone's SOA and NS records; give backend.address as an IP address, or use a name below the apex such as api.%s", rec.Name, zone.ID, zone.Name)
		}
	}
	s.zone.zone = zone
	if site.Status.DNS == nil {
		site.Status.DNS = &v1alpha1.DNSStatus{}
	}
	site.Status.DNS.HostedZoneID = zone.ID
	return nil
}

func zoneProblem(site *v1alpha1.SecureSite) string {
	if site.Spec.HostedZoneID != "" {
		return fmt.Sprintf("hosted zone %s does not exist", site.Spec.HostedZoneID)
	}
	return fmt.Sprintf("no Route53 hosted zone found for %s", site.Spec.Domain)
}

// firstOutsideZone returns the first name that is neither the zone's apex nor below it.
func firstOutsideZone(names []string, zone records.Zone) (string, bool) {
	for _, n := range names {
		if !records.InZone(n, zone.Name) {
			return n, true
		}
	}
	return "", false
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
