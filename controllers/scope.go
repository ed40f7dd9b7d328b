package controllers

import (
	"time"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// scope is what one reconcile pass observed and decided. Phases fill it; the pure functions in
// conditions.go turn it into status conditions.
type scope struct {
	site  *v1alpha1.SecureSite
	now   time.Time
	owner string
	// ownerID is the controller's --owner-id (part of owner).
	ownerID string
	// class is the SecureSiteClass that grants the site (set by the permission phase).
	class *v1alpha1.SecureSiteClass

	// requeueAfter is the shortest wait any phase asked for (0 = none).
	requeueAfter time.Duration
	// stalled is set when a phase hit a problem only the user can fix.
	stalled *stalledError

	dns          dnsObservation
	cert         certObservation
	export       exportObservation
	acm          acmObservation
	bucket       bucketObservation
	distribution distributionObservation
}

func newScope(site *v1alpha1.SecureSite, now time.Time, ownerID string) *scope {
	return &scope{site: site, now: now, owner: naming.Owner(ownerID, site.Namespace, site.Name), ownerID: ownerID}
}

// ownerTags are the tags of every AWS object the site makes; TagOwner is what adoption and
// deletion check.
func (s *scope) ownerTags() map[string]string {
	t := naming.OwnerTags(s.owner, s.site.Spec.Domain)
	if s.ownerID != "" {
		t[naming.TagOwnerID] = s.ownerID
	}
	return t
}

// waitFor asks for the object to be reconciled again after d (the smallest request wins).
func (s *scope) waitFor(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	if s.requeueAfter == 0 || d < s.requeueAfter {
		s.requeueAfter = d
	}
}

// dnsObservation is what the DNS phase saw in Route53.
type dnsObservation struct {
	// skipped: no record to manage (no backend, no static site).
	skipped bool
	// zoneProblem says why no zone could be used ("" when the zone was found).
	zoneProblem string
	zone        records.Zone
	conflicts   []records.Conflict
	// pending: a change was sent and Route53 has not reported INSYNC yet.
	pending bool
	// wouldChange lists what a suspended site would have written.
	wouldChange []string
	records     []records.Record
}

// certState is where the certificate stands.
type certState string

const (
	certUnknown     certState = ""
	certValid       certState = "Valid"
	certIssuing     certState = "Issuing"
	certBackingOff  certState = "BackingOff"
	certConflict    certState = "SecretConflict"
	certSuspended   certState = "Suspended"
	certWaitingZone certState = "WaitingForDNS"
	certNameClaimed certState = "NameClaimed"
	certRateLimited certState = "RateLimited"
)

// certObservation is what the certificate phase saw in the Secret and the issuance pool.
type certObservation struct {
	// parsed is the certificate in the Secret (with its key), when there is one.
	parsed          *certs.Parsed
	certPEM, keyPEM []byte
	state           certState
	message         string
}

type exportObservation struct {
	skipped bool
	ready   bool
	reason  string
	message string
}

type acmObservation struct {
	skipped  bool
	imported bool
	message  string
}

type bucketObservation struct {
	// migrationTarget is the renamed bucket while objects move to it.
	migrationTarget *s3bucket.Bucket
	skipped         bool
	ready           bool
	reason          string
	message         string
}

type distributionObservation struct {
	skipped bool
	ready   bool
	reason  string
	message string
}
