package tenancy

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

func class(name string, mutate func(*v1alpha1.SecureSiteClass)) v1alpha1.SecureSiteClass {
	c := v1alpha1.SecureSiteClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.SecureSiteClassSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": name}},
			Domains:           []string{name + ".example.com"},
		},
	}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func site(ns, className, domain string, mutate func(*v1alpha1.SecureSite)) *v1alpha1.SecureSite {
	s := &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"},
		Spec: v1alpha1.SecureSiteSpec{Domain: domain, ClassName: className}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// The classes and namespaces the cases of TestDecide are decided against.
var (
	teamA = class("team-a", nil)
	teamB = class("team-b", func(c *v1alpha1.SecureSiteClass) {
		c.Spec.AllowWildcardCertificates = true
		c.Spec.HostedZoneIDs = []string{"ZPUBLIC", "/hostedzone/ZPRIVATE"}
		c.Spec.BucketPrefix = "team-b-"
		c.Spec.SecretsManagerPrefix = "team-b/"
	})
	open = class("open", func(c *v1alpha1.SecureSiteClass) {
		c.Annotations = map[string]string{v1alpha1.AnnotationDefaultClass: "true"}
		c.Spec.NamespaceSelector = &metav1.LabelSelector{}
		c.Spec.Domains = []string{"example.com"}
	})
	none       = class("none", func(c *v1alpha1.SecureSiteClass) { c.Spec.NamespaceSelector = nil })
	all        = []v1alpha1.SecureSiteClass{teamA, teamB, none}
	labelsA    = map[string]string{"team": "team-a"}
	labelsB    = map[string]string{"team": "team-b"}
	publicZone = &Zone{ID: "ZPUBLIC", Name: "example.com"}
)

func TestDecide(t *testing.T) {
	for _, tt := range slices.Concat(classCases(), nameCases(), zoneCases(), prefixCases()) {
		t.Run(tt.name, tt.check)
	}
}

// classCases: which class applies, and whether it selects the site's namespace.
func classCases() []decideCase {
	return []decideCase{
		{name: "own name allowed", in: Input{Site: site("a", "team-a", "app.team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all}},
		{name: "class entry itself allowed", in: Input{Site: site("a", "team-a", "team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all}},
		{name: "no class at all", in: Input{Site: site("a", "", "app.team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all},
			wantErr: "no SecureSiteClass applies", field: "spec.className"},
		{name: "named class missing", in: Input{Site: site("a", "gone", "app.team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all},
			wantErr: `SecureSiteClass "gone" does not exist`, field: "spec.className"},
		{name: "default class applies", in: Input{Site: site("x", "", "www2.example.com", nil), Classes: []v1alpha1.SecureSiteClass{teamA, open}}},
		{name: "two defaults", in: Input{Site: site("x", "", "app.example.com", nil), Classes: []v1alpha1.SecureSiteClass{open, func() v1alpha1.SecureSiteClass {
			c := open.DeepCopy()
			c.Name = "open2"
			return *c
		}()}}, wantErr: "several SecureSiteClasses are annotated as default (open, open2)", field: "spec.className"},
		{name: "namespace not selected", in: Input{Site: site("b", "team-a", "app.team-a.example.com", nil), NamespaceLabels: labelsB, Classes: all},
			wantErr: "namespace b is not selected by SecureSiteClass team-a (namespaceSelector team=team-a)", field: "metadata.namespace", class: "team-a"},
		{name: "unset selector selects none", in: Input{Site: site("a", "none", "app.none.example.com", nil), NamespaceLabels: labelsA, Classes: all},
			wantErr: "has no namespaceSelector", field: "metadata.namespace", class: "none"},
	}
}

// nameCases: the names a site claims: its class's domains, wildcards, the controller's fences and reserved names.
func nameCases() []decideCase {
	return []decideCase{
		{name: "name of another team", in: Input{Site: site("a", "team-a", "app.team-b.example.com", nil), NamespaceLabels: labelsA, Classes: all},
			wantErr: "spec.domain app.team-b.example.com is not in SecureSiteClass team-a's domains (team-a.example.com)", field: "spec.domain", class: "team-a"},
		{name: "suffix is not a parent", in: Input{Site: site("a", "team-a", "evilteam-a.example.com", nil), NamespaceLabels: labelsA, Classes: all},
			wantErr: "is not in SecureSiteClass team-a's domains", field: "spec.domain"},
		{name: "backend outside", in: Input{Site: site("a", "team-a", "app.team-a.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "api.example.com", Address: "203.0.113.1"}
		}), NamespaceLabels: labelsA, Classes: all}, wantErr: "spec.backend.hostname api.example.com", field: "spec.backend.hostname", class: "team-a"},
		{name: "wildcard not allowed", in: Input{Site: site("a", "team-a", "app.team-a.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"*.team-a.example.com"}
		}), NamespaceLabels: labelsA, Classes: all}, wantErr: "does not allow wildcard certificates", field: "spec.certificate.additionalDNSNames[0]", class: "team-a"},
		{name: "wildcard of a parent", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"www.team-b.example.com", "*.example.com"}
		}), NamespaceLabels: labelsB, Classes: all}, wantErr: "spec.certificate.additionalDNSNames[1] *.example.com is not in SecureSiteClass team-b's domains", field: "spec.certificate.additionalDNSNames[1]", class: "team-b"},
		{name: "wildcard inside allowed", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"*.team-b.example.com"}
		}), NamespaceLabels: labelsB, Classes: all, Zone: publicZone}},
		{name: "domain filter fence", in: Input{Site: site("a", "team-a", "app.team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all,
			Fences: Fences{DomainFilter: []string{"other.org"}}}, wantErr: "outside this controller's --domain-filter (other.org)", field: "spec.domain"},
		{name: "reserved label needs exact entry", in: Input{Site: site("o", "open", "www.example.com", nil), Classes: []v1alpha1.SecureSiteClass{open},
			Zone: publicZone, Fences: Fences{ReservedNames: []string{"@", "www", "mail"}}}, wantErr: `reserved name (--reserved-names "www")`, field: "spec.domain", class: "open"},
		{name: "reserved apex needs exact entry", in: Input{Site: site("a", "team-a", "app.team-a.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"team-a.example.com"}
		}), NamespaceLabels: labelsA, Classes: all, Zone: &Zone{ID: "Z1", Name: "team-a.example.com"}, Fences: Fences{ReservedNames: []string{"@"}}}},
		{name: "reserved full name", in: Input{Site: site("o", "open", "status.example.com", nil), Classes: []v1alpha1.SecureSiteClass{open},
			Fences: Fences{ReservedNames: []string{"status.example.com"}}}, wantErr: "reserved name", field: "spec.domain"},
		{name: "reserved apex not listed", in: Input{Site: site("o", "open", "app.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"example.com"}
		}), Classes: []v1alpha1.SecureSiteClass{func() v1alpha1.SecureSiteClass {
			c := open.DeepCopy()
			c.Spec.Domains = []string{"app.example.com", "b.example.com"}
			return *c
		}()},
			Zone: publicZone, Fences: Fences{ReservedNames: []string{"@"}}}, wantErr: "is not in SecureSiteClass open's domains", field: "spec.certificate.additionalDNSNames[0]"},
	}
}

// zoneCases: the hosted zone: listed in the class, private zones, the controller's zone fence.
func zoneCases() []decideCase {
	return []decideCase{
		{name: "zone not listed", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) { s.Spec.HostedZoneID = "ZOTHER" }),
			NamespaceLabels: labelsB, Classes: all}, wantErr: "spec.hostedZoneID ZOTHER is not in SecureSiteClass team-b's hostedZoneIDs", field: "spec.hostedZoneID", class: "team-b"},
		{name: "private zone not listed", in: Input{Site: site("a", "team-a", "app.team-a.example.com", func(s *v1alpha1.SecureSite) { s.Spec.HostedZoneID = "/hostedzone/ZPRIV" }),
			NamespaceLabels: labelsA, Classes: all, Zone: &Zone{ID: "ZPRIV", Name: "team-a.example.com", Private: true}},
			wantErr: "spec.hostedZoneID ZPRIV is a private hosted zone, and SecureSiteClass team-a does not list it", field: "spec.hostedZoneID", class: "team-a"},
		{name: "private zone listed", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) { s.Spec.HostedZoneID = "ZPRIVATE" }),
			NamespaceLabels: labelsB, Classes: all, Zone: &Zone{ID: "ZPRIVATE", Name: "team-b.example.com", Private: true}}},
		{name: "zone id fence", in: Input{Site: site("a", "team-a", "app.team-a.example.com", nil), NamespaceLabels: labelsA, Classes: all,
			Zone: publicZone, Fences: Fences{ZoneIDFilter: []string{"ZONLY"}}}, wantErr: "hosted zone of spec.domain ZPUBLIC is outside this controller's --zone-id-filter", field: "hosted zone of spec.domain"},
	}
}

// prefixCases: the bucket and Secrets Manager name prefixes of the class.
func prefixCases() []decideCase {
	return []decideCase{
		{name: "bucket outside prefix", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{Bucket: "team-a-assets"}
		}), NamespaceLabels: labelsB, Classes: all, Bucket: "team-a-assets"}, wantErr: `spec.staticSite.bucket team-a-assets does not start with SecureSiteClass team-b's bucketPrefix "team-b-"`, field: "spec.staticSite.bucket", class: "team-b"},
		{name: "default bucket outside prefix", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
		}), NamespaceLabels: labelsB, Classes: all, Bucket: "app-team-b-example-com"}, wantErr: "bucketPrefix", field: "spec.staticSite.bucket (default, from spec.domain)"},
		{name: "export outside prefix", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.Export = &v1alpha1.CertificateExport{SecretsManager: &v1alpha1.SecretsManagerExport{Name: "team-a/app"}}
		}), NamespaceLabels: labelsB, Classes: all}, wantErr: `team-a/app does not start with SecureSiteClass team-b's secretsManagerPrefix "team-b/"`, field: "spec.certificate.export.secretsManager.name", class: "team-b"},
		{name: "export inside prefix", in: Input{Site: site("b", "team-b", "app.team-b.example.com", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.Export = &v1alpha1.CertificateExport{SecretsManager: &v1alpha1.SecretsManagerExport{Name: "team-b/app"}}
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{Bucket: "team-b-app"}
		}), NamespaceLabels: labelsB, Classes: all, Bucket: "team-b-app"}},
	}
}

type decideCase struct {
	name    string
	in      Input
	wantErr string // substring of the message; "" = allowed
	field   string
	class   string
}

// check: allowed when no refusal is wanted; else refused with the message, field and class wanted.
func (tt decideCase) check(t *testing.T) {
	_, np := Decide(tt.in)
	if tt.wantErr == "" {
		if np != nil {
			t.Fatalf("refused: %s", np.Message)
		}
		return
	}
	if np == nil {
		t.Fatalf("allowed; want refusal %q", tt.wantErr)
	}
	if !strings.Contains(np.Message, tt.wantErr) {
		t.Errorf("message %q\nwant it to contain %q", np.Message, tt.wantErr)
	}
	if tt.field != "" && np.Field != tt.field {
		t.Errorf("field %q, want %q", np.Field, tt.field)
	}
	if tt.class != "" && np.Class != tt.class {
		t.Errorf("class %q, want %q", np.Class, tt.class)
	}
}
