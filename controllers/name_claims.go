package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/securesite-io/securesite/internal/records"
)

// namesClaimedElsewhere says which certificate name another site holds ("" when none): a site may
// not get a certificate for, nor write DNS-01 records at, a name another site owns or released
// within the hold. Its class may grant the name (two teams sharing a subtree); the first site to
// claim it keeps it.
func (r *SecureSiteReconciler) namesClaimedElsewhere(ctx context.Context, s *scope) (string, error) {
	for _, n := range certificateNames(s.site) {
		base := strings.TrimPrefix(n, "*.")
		// The site's own zone for names inside it (two public zones of one name are ambiguous by
		// name alone), else the zone found by name.
		zone, err := r.DNS.FindZone(ctx, base, s.zone.zone.ID)
		if s.zone.zone.ID != "" && errors.Is(err, records.ErrZoneNotFound) {
			zone, err = r.DNS.FindZone(ctx, base, "")
		}
		if errors.Is(err, records.ErrZoneNotFound) {
			continue // no zone, no DNS-01: the order fails on its own and says so
		}
		if err != nil {
			return "", fmt.Errorf("finding the zone of %s: %w", base, err)
		}
		c, err := r.DNS.ClaimOf(ctx, zone, s.owner, base)
		if err != nil {
			return "", fmt.Errorf("reading the claims on %s: %w", base, err)
		}
		switch {
		case c.Owner == "":
		case !c.HeldUntil.IsZero():
			return fmt.Sprintf("not ordering a certificate: %s was released by SecureSite %s and is held for it until %s", base, c.Owner, c.HeldUntil.UTC().Format(time.RFC3339)), nil
		default:
			return fmt.Sprintf("not ordering a certificate: %s is owned by SecureSite %s", base, c.Owner), nil
		}
	}
	return "", nil
}
