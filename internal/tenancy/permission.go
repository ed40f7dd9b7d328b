// Package tenancy decides what a SecureSite may claim on a shared cluster: the SecureSiteClass
// that applies to it, and whether that class (and the controller-wide fences) allow every name,
// zone, bucket and export the site asks for. The decision is a pure function of the site, its
// namespace's labels, the classes and the zone, so it is table-tested without a cluster; the
// reconciler calls it before any AWS write.
package tenancy

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// Fences are the controller's own limits, set by flags, that no class can widen (as external-dns's
// --domain-filter and --zone-id-filter).
type Fences struct {
	// DomainFilter, when set, are the only names (and names below them) the controller writes.
	DomainFilter []string
	// ZoneIDFilter, when set, are the only hosted zones the controller writes.
	ZoneIDFilter []string
	// ReservedNames need an explicit class entry (a domains entry equal to the name, not one
	// above it). An entry is "@" (the apex of the name's hosted zone), a single label such as
	// "www" (that label directly below the zone apex) or a full DNS name.
	ReservedNames []string
}

// Zone is the hosted zone a site's records go to, as far as the decision needs it.
type Zone struct {
	ID      string // without /hostedzone/
	Name    string // lowercase, no trailing dot
	Private bool
}

// Input is everything the decision looks at.
type Input struct {
	Site *v1alpha1.SecureSite
	// NamespaceLabels are the labels of the site's namespace (what namespaceSelector matches).
	NamespaceLabels map[string]string
	Classes         []v1alpha1.SecureSiteClass
	// Zone is the hosted zone the site's records go to; nil when not known (yet).
	Zone *Zone
	// Bucket is the site's bucket name after defaults ("" without a static site).
	Bucket string
	Fences Fences
}

// NotPermitted says which field, which name and which class (or fence) refused the site.
type NotPermitted struct {
	Field   string // e.g. spec.certificate.additionalDNSNames[0]
	Value   string // the name, zone id, bucket or secret name refused
	Class   string // the class that refused ("" when no class applies or a fence refused)
	Message string
}

func (e *NotPermitted) Error() string { return e.Message }

// SelectClass returns the class that applies to the site: the one it names, else the one
// annotated as default. It returns NotPermitted when there is none (no class, no AWS writes).
func SelectClass(site *v1alpha1.SecureSite, classes []v1alpha1.SecureSiteClass) (*v1alpha1.SecureSiteClass, *NotPermitted) {
	if name := site.Spec.ClassName; name != "" {
		for i := range classes {
			if classes[i].Name == name {
				return &classes[i], nil
			}
		}
		return nil, &NotPermitted{Field: "spec.className", Value: name,
			Message: fmt.Sprintf("spec.className: SecureSiteClass %q does not exist; nothing is written in AWS until a cluster admin creates it", name)}
	}
	var defaults []string
	var chosen *v1alpha1.SecureSiteClass
	for i := range classes {
		if classes[i].Annotations[v1alpha1.AnnotationDefaultClass] == "true" {
			defaults = append(defaults, classes[i].Name)
			chosen = &classes[i]
		}
	}
	switch len(defaults) {
	case 0:
		return nil, &NotPermitted{Field: "spec.className",
			Message: fmt.Sprintf("no SecureSiteClass applies: spec.className is empty and no class is annotated %s: \"true\"; nothing is written in AWS until a cluster admin grants one", v1alpha1.AnnotationDefaultClass)}
	case 1:
		return chosen, nil
	default:
		slices.Sort(defaults)
		return nil, &NotPermitted{Field: "spec.className",
			Message: fmt.Sprintf("spec.className is empty and several SecureSiteClasses are annotated as default (%s); name one in spec.className", strings.Join(defaults, ", "))}
	}
}

// Decide returns the class that applies and nil when the site may have everything it asks for,
// or the first thing that is not permitted.
func Decide(in Input) (*v1alpha1.SecureSiteClass, *NotPermitted) {
	class, np := SelectClass(in.Site, in.Classes)
	if np != nil {
		return nil, np
	}
	if np := checkNamespace(in, class); np != nil {
		return class, np
	}
	for _, n := range siteNames(in.Site) {
		if np := checkName(in, class, n.field, n.name); np != nil {
			return class, np
		}
	}
	if np := checkZone(in, class); np != nil {
		return class, np
	}
	if np := checkBucket(in, class); np != nil {
		return class, np
	}
	if np := checkExport(in, class); np != nil {
		return class, np
	}
	return class, nil
}

func refuse(class *v1alpha1.SecureSiteClass, field, value, format string, args ...any) *NotPermitted {
	return &NotPermitted{Field: field, Value: value, Class: class.Name, Message: fmt.Sprintf(format, args...)}
}

func checkNamespace(in Input, class *v1alpha1.SecureSiteClass) *NotPermitted {
	ns := in.Site.Namespace
	if class.Spec.NamespaceSelector == nil {
		return refuse(class, "metadata.namespace", ns, "namespace %s is not selected by SecureSiteClass %s (it has no namespaceSelector, which selects no namespace)", ns, class.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(class.Spec.NamespaceSelector)
	if err != nil {
		return refuse(class, "metadata.namespace", ns, "SecureSiteClass %s has an invalid namespaceSelector (%v); it selects no namespace", class.Name, err)
	}
	if !sel.Matches(labels.Set(in.NamespaceLabels)) {
		return refuse(class, "metadata.namespace", ns, "namespace %s is not selected by SecureSiteClass %s (namespaceSelector %s)", ns, class.Name, sel.String())
	}
	return nil
}

type fieldName struct{ field, name string }

// siteNames lists every DNS name the site claims, with the field it comes from.
func siteNames(site *v1alpha1.SecureSite) []fieldName {
	out := []fieldName{{"spec.domain", site.Spec.Domain}}
	if b := site.Spec.Backend; b != nil {
		out = append(out, fieldName{"spec.backend.hostname", b.Hostname})
	}
	for i, n := range site.Spec.Certificate.AdditionalDNSNames {
		out = append(out, fieldName{fmt.Sprintf("spec.certificate.additionalDNSNames[%d]", i), n})
	}
	return out
}

func checkName(in Input, class *v1alpha1.SecureSiteClass, field, name string) *NotPermitted {
	name = normalize(name)
	base, wildcard := strings.CutPrefix(name, "*.")
	if len(in.Fences.DomainFilter) > 0 && !slices.ContainsFunc(in.Fences.DomainFilter, func(d string) bool { return atOrBelow(base, d) }) {
		return &NotPermitted{Field: field, Value: name,
			Message: fmt.Sprintf("%s %s is outside this controller's --domain-filter (%s)", field, name, strings.Join(in.Fences.DomainFilter, ", "))}
	}
	if wildcard && !class.Spec.AllowWildcardCertificates {
		return refuse(class, field, name, "%s %s is a wildcard, and SecureSiteClass %s does not allow wildcard certificates (allowWildcardCertificates is false)", field, name, class.Name)
	}
	if !slices.ContainsFunc(class.Spec.Domains, func(d string) bool { return atOrBelow(base, d) }) {
		return refuse(class, field, name, "%s %s is not in SecureSiteClass %s's domains (%s)", field, name, class.Name, orNone(class.Spec.Domains))
	}
	if reserved, entry := isReserved(base, in.Zone, in.Fences.ReservedNames); reserved && !slices.ContainsFunc(class.Spec.Domains, func(d string) bool { return normalize(d) == base }) {
		return refuse(class, field, name, "%s %s is a reserved name (--reserved-names %q) and SecureSiteClass %s does not list it exactly in domains", field, name, entry, class.Name)
	}
	return nil
}

// isReserved reports whether name matches a reserved entry, and which.
func isReserved(name string, zone *Zone, reserved []string) (bool, string) {
	for _, e := range reserved {
		e = normalize(e)
		switch {
		case e == "@":
			if zone != nil && name == normalize(zone.Name) {
				return true, e
			}
		case !strings.Contains(e, "."):
			if zone != nil && name == e+"."+normalize(zone.Name) {
				return true, e
			}
		case name == e:
			return true, e
		}
	}
	return false, ""
}

func checkZone(in Input, class *v1alpha1.SecureSiteClass) *NotPermitted {
	type candidate struct {
		field, id string
		private   bool
	}
	var zones []candidate
	if id := zoneID(in.Site.Spec.HostedZoneID); id != "" {
		zones = append(zones, candidate{"spec.hostedZoneID", id, in.Zone != nil && zoneID(in.Zone.ID) == id && in.Zone.Private})
	}
	if in.Zone != nil && (len(zones) == 0 || zones[0].id != zoneID(in.Zone.ID)) {
		zones = append(zones, candidate{"hosted zone of spec.domain", zoneID(in.Zone.ID), in.Zone.Private})
	}
	listed := func(ids []string, id string) bool {
		return slices.ContainsFunc(ids, func(x string) bool { return zoneID(x) == id })
	}
	for _, z := range zones {
		if len(in.Fences.ZoneIDFilter) > 0 && !listed(in.Fences.ZoneIDFilter, z.id) {
			return &NotPermitted{Field: z.field, Value: z.id,
				Message: fmt.Sprintf("%s %s is outside this controller's --zone-id-filter (%s)", z.field, z.id, strings.Join(in.Fences.ZoneIDFilter, ", "))}
		}
		if len(class.Spec.HostedZoneIDs) > 0 && !listed(class.Spec.HostedZoneIDs, z.id) {
			return refuse(class, z.field, z.id, "%s %s is not in SecureSiteClass %s's hostedZoneIDs (%s)", z.field, z.id, class.Name, strings.Join(class.Spec.HostedZoneIDs, ", "))
		}
		if z.private && !listed(class.Spec.HostedZoneIDs, z.id) {
			return refuse(class, z.field, z.id, "%s %s is a private hosted zone, and SecureSiteClass %s does not list it in hostedZoneIDs", z.field, z.id, class.Name)
		}
	}
	return nil
}

func checkBucket(in Input, class *v1alpha1.SecureSiteClass) *NotPermitted {
	p := class.Spec.BucketPrefix
	if in.Site.Spec.StaticSite == nil || p == "" || strings.HasPrefix(in.Bucket, p) {
		return nil
	}
	field := "spec.staticSite.bucket"
	if in.Site.Spec.StaticSite.Bucket == "" {
		field = "spec.staticSite.bucket (default, from spec.domain)"
	}
	return refuse(class, field, in.Bucket, "%s %s does not start with SecureSiteClass %s's bucketPrefix %q", field, in.Bucket, class.Name, p)
}

func checkExport(in Input, class *v1alpha1.SecureSiteClass) *NotPermitted {
	ex := in.Site.Spec.Certificate.Export
	p := class.Spec.SecretsManagerPrefix
	if ex == nil || ex.SecretsManager == nil || p == "" || strings.HasPrefix(ex.SecretsManager.Name, p) {
		return nil
	}
	const field = "spec.certificate.export.secretsManager.name"
	return refuse(class, field, ex.SecretsManager.Name, "%s %s does not start with SecureSiteClass %s's secretsManagerPrefix %q", field, ex.SecretsManager.Name, class.Name, p)
}

// atOrBelow reports whether name equals domain or is below it (label-wise: example.com does not
// allow badexample.com).
func atOrBelow(name, domain string) bool {
	domain = normalize(domain)
	return domain != "" && (name == domain || strings.HasSuffix(name, "."+domain))
}

func normalize(n string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
}

func zoneID(id string) string { return strings.TrimPrefix(strings.TrimSpace(id), "/hostedzone/") }

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
