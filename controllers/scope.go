package controllers

import (
	"context"
	"time"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// scope is what one reconcile pass observed and decided. Each phase fills its own observation;
// facts a later phase needs flow forward through it (never back), and the pure functions in
// conditions.go turn it into status conditions.
type scope struct {
	site  *v1alpha1.SecureSite
	now   time.Time
	owner string
	// ownerID is the controller's --owner-id (part of owner).
	ownerID string
	// class is the SecureSiteClass that grants the site (set by the permission phase).
	class *v1alpha1.SecureSiteClass

	// dryRun is spec.suspend, read here once: phases observe and decide as always, and ask
	// mayWrite before every change, which in a dry run records what would have changed instead.
	dryRun bool

	// requeueAfter is the shortest wait any phase asked for (0 = none).
	requeueAfter time.Duration
	// stalled is set when a phase hit a problem only the user can fix.
	stalled *stalledError
	// failed is the phase whose error ended the pass, with the error.
	failed *phaseFailure
	// saveStatus writes the status as it stands now, for a fact that must survive a crash before
	// the pass ends (see reconcileACM).
	saveStatus func(ctx context.Context) error
	// ownersChecked: every AWS object the site's status names was found to be the site's own, or
	// gone (the status authority phase), so the status as read may be trusted as ours.
	ownersChecked bool

	zone         zoneObservation
	cert         certObservation
	export       phaseObservation
	acm          acmObservation
	bucket       bucketObservation
	distribution distributionObservation
	dns          dnsObservation
}

func newScope(site *v1alpha1.SecureSite, now time.Time, ownerID string) *scope {
	return &scope{site: site, now: now, owner: naming.Owner(ownerID, site.Namespace, site.Name), ownerID: ownerID, dryRun: site.Spec.Suspend}
}

// mayWrite is the suspend switch. It reports whether the phase may make the change it describes;
// in a dry run it answers no and keeps the description for status.
func (s *scope) mayWrite(o *phaseObservation, what string) bool {
	if !s.dryRun {
		return true
	}
	o.reason, o.message = v1alpha1.ReasonSuspended, "suspended; would "+what
	return false
}

// writesAllowed is the same switch for housekeeping that has nothing to report (removing stale
// DNS-01 records).
func (s *scope) writesAllowed() bool { return !s.dryRun }

// skipWithoutStaticSite marks o skipped when the site has no static site (the ACM, bucket and
// distribution phases manage nothing then).
func (s *scope) skipWithoutStaticSite(o *phaseObservation) bool {
	o.skipped = s.site.Spec.StaticSite == nil
	return o.skipped
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

// phaseFailure is a transient error that ended the pass in one phase.
type phaseFailure struct {
	phase string
	err   error
}

// phaseObservation is what a phase saw, in the words its condition uses. A zero value means the
// phase has not observed anything this pass.
type phaseObservation struct {
	// skipped: the spec does not ask for what this phase manages.
	skipped bool
	ready   bool
	reason  string
	message string
}

func (o *phaseObservation) set(ready bool, reason, message string) {
	o.ready, o.reason, o.message = ready, reason, message
}

// zoneObservation is the hosted zone the site's records and DNS-01 challenges go into.
type zoneObservation struct {
	// problem says why no zone could be used ("" when the zone was found).
	problem string
	zone    records.Zone
}

// found reports whether a zone is known.
func (z zoneObservation) found() bool { return z.zone.ID != "" }

// dnsObservation is what the DNS phase saw in Route53.
type dnsObservation struct {
	// skipped: no record to manage (no backend, no static site).
	skipped bool
	// zone and zoneProblem are the zone phase's finding, as the DNS phase used it.
	zone        records.Zone
	zoneProblem string
	conflicts   []records.Conflict
	// pending: a change was sent and Route53 has not reported INSYNC yet, or it is queued.
	pending bool
	// queued: the change waits for the zone's next Route53 call (the site is woken after it).
	queued bool
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

// usable reports whether later phases may copy the certificate (ACM, Secrets Manager).
func (o certObservation) usable() bool { return o.parsed != nil && o.state == certValid }

type acmObservation struct {
	phaseObservation
	imported bool
	// arn of the imported certificate, for the distribution.
	arn string
}

type bucketObservation struct {
	phaseObservation
	// serving is the bucket the distribution serves from (status.bucket).
	serving s3bucket.Bucket
	// migrationTarget is the renamed bucket while objects move to it.
	migrationTarget *s3bucket.Bucket
	// switching: every object is copied, the distribution's origin moves to the target now.
	switching bool
}

// origin is the bucket the distribution should serve from in this pass.
func (o bucketObservation) origin() s3bucket.Bucket {
	if o.switching && o.migrationTarget != nil {
		return *o.migrationTarget
	}
	return o.serving
}

type distributionObservation struct {
	phaseObservation
	// domainName is the distribution's CloudFront name, the target of the alias records: the
	// one status remembers until this pass reads it from CloudFront.
	domainName string
	// arn of the distribution, for the bucket policy ("" until it exists).
	arn string
	// deployed: CloudFront reports the distribution Deployed, serving from origin.
	deployed bool
	origin   string
}
