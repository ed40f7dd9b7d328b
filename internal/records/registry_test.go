package records

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestRegistryName(t *testing.T) {
	cases := []struct {
		r    Record
		want string
	}{
		{Record{Name: "infra.duckhoo.site", Type: "A"}, "_securesite-a.infra.duckhoo.site"},
		{Record{Name: "Infra.Duckhoo.Site.", Type: "AAAA"}, "_securesite-aaaa.infra.duckhoo.site"},
		{Record{Name: "duckhoo.site", Type: "CNAME"}, "_securesite-cname.duckhoo.site"},
		{Record{Name: "_acme-challenge.duckhoo.site", Type: "TXT"}, "_securesite-txt._acme-challenge.duckhoo.site"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(RegistryName(c.r)).To(Equal(c.want))
			typ, name, ok := parseRegistryName(c.want)
			g.Expect(ok).To(BeTrue())
			g.Expect(typ).To(Equal(normalizeRecord(c.r).Type))
			g.Expect(name).To(Equal(normalizeName(c.r.Name)))
		})
	}
}

func TestParseOwner(t *testing.T) {
	cases := []struct {
		txt, owner string
		ok         bool
	}{
		{"heritage=securesite,owner=web/duckhoo", "web/duckhoo", true},
		{`"heritage=securesite,owner=web/duckhoo"`, "web/duckhoo", true},
		{"owner=web/duckhoo,heritage=securesite", "web/duckhoo", true},
		{"heritage=securesite,owner=web/duckhoo,resource=site", "web/duckhoo", true},
		{"heritage=external-dns,external-dns/owner=default", "", false},
		{"heritage=securesite", "", false},
		{"owner=web/duckhoo", "", false},
		{"v=spf1 -all", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		t.Run(c.txt, func(t *testing.T) {
			g := NewWithT(t)
			owner, ok := ParseOwner(c.txt)
			g.Expect(ok).To(Equal(c.ok))
			g.Expect(owner).To(Equal(c.owner))
		})
	}
	owner, ok := ParseOwner(registryValue("ns/name"))
	NewWithT(t).Expect([]any{owner, ok}).To(Equal([]any{"ns/name", true}), "registryValue round trip")
}
