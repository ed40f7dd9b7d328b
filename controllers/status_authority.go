package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/naming"
)

// Status is a cache, not authority: whoever may write securesites/status (a tenant's CI, a
// careless kubectl edit) could name another team's bucket, distribution or ACM certificate there,
// and the phases copy from, write policies to, update, re-import over and delete what status
// names. Before any of that, the AWS owner tag of each object status names is read back; an object
// tagged for another owner stops the site (Stalled, NotPermitted) with nothing written.

// statusObject is an AWS object a site's status names.
type statusObject struct {
	field, kind, name string
	owner             func(ctx context.Context) (owner string, found bool, err error)
	// forget drops the object from status, so a deletion leaves it alone.
	forget func()
}

func (r *SecureSiteReconciler) statusObjects(site *v1alpha1.SecureSite) []statusObject {
	out := r.bucketStatusObjects(site)
	if d := site.Status.Distribution; d != nil && d.ID != "" {
		out = append(out, statusObject{field: "status.distribution.id", kind: "distribution", name: d.ID,
			owner: func(ctx context.Context) (string, bool, error) {
				return r.Distributions.Owner(ctx, d.ID, naming.TagOwner)
			},
			forget: func() { site.Status.Distribution = nil }})
	}
	return append(out, r.certificateStatusObjects(site)...)
}

func (r *SecureSiteReconciler) bucketStatusObjects(site *v1alpha1.SecureSite) []statusObject {
	b := site.Status.Bucket
	if b == nil {
		return nil
	}
	region := b.Region
	if region == "" && site.Spec.StaticSite != nil {
		_, region = r.desiredBucket(site)
	}
	names := []struct{ field, name string }{{"status.bucket.name", b.Name}}
	if m := b.Migration; m != nil {
		names = append(names, struct{ field, name string }{"status.bucket.migration.from", m.From}, struct{ field, name string }{"status.bucket.migration.to", m.To})
	}
	var out []statusObject
	for _, n := range names {
		if n.name == "" {
			continue
		}
		out = append(out, statusObject{field: n.field, kind: "bucket", name: n.name,
			owner: func(ctx context.Context) (string, bool, error) {
				return r.Buckets.Owner(ctx, n.name, region)
			},
			forget: func() { site.Status.Bucket = nil }})
	}
	return out
}

// certificateStatusObjects are the ACM certificates status names: the one the ACM phase re-imports
// to, and the ones key changes replaced, which are deleted once the distribution left them (and
// the one an earlier version kept in the single field).
func (r *SecureSiteReconciler) certificateStatusObjects(site *v1alpha1.SecureSite) []statusObject {
	c := site.Status.Certificate
	if c == nil {
		return nil
	}
	acmObject := func(field, arn string, forget func()) statusObject {
		return statusObject{field: field, kind: "ACM certificate", name: arn,
			owner: func(ctx context.Context) (string, bool, error) {
				return r.ACM.Owner(ctx, arn, naming.TagOwner)
			},
			forget: forget}
	}
	var out []statusObject
	if c.ACMCertificateARN != "" {
		out = append(out, acmObject("status.certificate.acmCertificateARN", c.ACMCertificateARN, func() { c.ACMCertificateARN = "" }))
	}
	if c.ACMRetiredCertificateARN != "" {
		out = append(out, acmObject("status.certificate.acmRetiredCertificateARN", c.ACMRetiredCertificateARN, func() { c.ACMRetiredCertificateARN = "" }))
	}
	for i, arn := range c.ACMRetiredCertificateARNs {
		out = append(out, acmObject(fmt.Sprintf("status.certificate.acmRetiredCertificateARNs[%d]", i), arn, func() {
			c.ACMRetiredCertificateARNs = slices.DeleteFunc(c.ACMRetiredCertificateARNs, func(a string) bool { return a == arn })
		}))
	}
	return out
}

// foreignStatusObject returns the first object status names whose owner tag names someone else
// ("" when all are the site's or gone). Status this controller wrote itself and nobody changed
// since (same resourceVersion as our last patch) is not re-checked: that costs no AWS call in
// the steady state.
func (r *SecureSiteReconciler) foreignStatusObject(ctx context.Context, site *v1alpha1.SecureSite, owner string) (string, error) {
	if rec, ok := r.sites.load(types.NamespacedName{Namespace: site.Namespace, Name: site.Name}); ok && rec.written == site.ResourceVersion {
		return "", nil
	}
	for _, o := range r.statusObjects(site) {
		got, found, err := o.owner(ctx)
		if err != nil {
			return "", fmt.Errorf("checking the owner of %s %s named in %s: %w", o.kind, o.name, o.field, err)
		}
		if found && got != owner {
			return fmt.Sprintf("%s names %s %s, whose %s tag is %q, not %s: status is not proof of ownership, so nothing is written to it (restore the status or delete the site)",
				o.field, o.kind, o.name, naming.TagOwner, got, owner), nil
		}
	}
	return "", nil
}

// reconcileStatusAuthority stops the site before any AWS write when its status names an object
// of another owner.
func (r *SecureSiteReconciler) reconcileStatusAuthority(ctx context.Context, s *scope) error {
	msg, err := r.foreignStatusObject(ctx, s.site, s.owner)
	if err != nil {
		return err
	}
	if msg != "" {
		return stalled(v1alpha1.ReasonNotPermitted, "%s", msg)
	}
	s.ownersChecked = true
	return nil
}

// forgetForeignStatusObjects drops from status, before a deletion, the objects whose owner tag
// names someone else, so the deletion never touches them; the site's own are deleted as usual.
func (r *SecureSiteReconciler) forgetForeignStatusObjects(ctx context.Context, site *v1alpha1.SecureSite, owner string) error {
	for _, o := range r.statusObjects(site) {
		got, found, err := o.owner(ctx)
		if err != nil {
			return fmt.Errorf("checking the owner of %s %s named in %s: %w", o.kind, o.name, o.field, err)
		}
		if !found || got == owner {
			continue
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonNotPermitted, "Delete",
			"%s names %s %s, tagged for %q: left alone", o.field, o.kind, o.name, got)
		o.forget()
	}
	return nil
}
