package records

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"
)

func TestDesiredBackendRecord(t *testing.T) {
	cases := []struct {
		name, host, address string
		ttl                 int64
		want                Record
	}{
		{"ipv4 gives A", "infra.duckhoo.site", "203.0.113.10", 60,
			Record{Name: "infra.duckhoo.site", Type: "A", TTL: 60, Values: []string{"203.0.113.10"}}},
		{"ipv6 gives AAAA in canonical form", "Infra.Duckhoo.Site.", "2001:DB8:0:0::1", 60,
			Record{Name: "infra.duckhoo.site", Type: "AAAA", TTL: 60, Values: []string{"2001:db8::1"}}},
		{"ipv4-mapped ipv6 is an A", "api.duckhoo.site", "::ffff:203.0.113.10", 60,
			Record{Name: "api.duckhoo.site", Type: "A", TTL: 60, Values: []string{"203.0.113.10"}}},
		{"dns name gives CNAME without trailing dot", "api.duckhoo.site", "EC2-203-0-113-10.compute.amazonaws.com.", 60,
			Record{Name: "api.duckhoo.site", Type: "CNAME", TTL: 60, Values: []string{"ec2-203-0-113-10.compute.amazonaws.com"}}},
		{"zero ttl takes the default", "api.duckhoo.site", "203.0.113.10", 0,
			Record{Name: "api.duckhoo.site", Type: "A", TTL: DefaultTTL, Values: []string{"203.0.113.10"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			NewWithT(t).Expect(DesiredBackendRecord(c.host, c.address, c.ttl)).To(Equal(c.want))
		})
	}
}

func TestTXTQuoting(t *testing.T) {
	long := strings.Repeat("a", 300)
	cases := []struct {
		name, text, quoted string
	}{
		{"plain", "heritage=securesite,owner=web/duckhoo", `"heritage=securesite,owner=web/duckhoo"`},
		{"empty", "", `""`},
		{"quotes and backslashes escaped", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"longer than 255 split into strings", long, `"` + long[:255] + `" "` + long[255:] + `"`},
		{"exactly 255 stays one string", long[:255], `"` + long[:255] + `"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(QuoteTXT(c.text)).To(Equal(c.quoted))
			g.Expect(UnquoteTXT(c.quoted)).To(Equal(c.text), "round trip")
		})
	}
}

func TestUnquoteTXTReadsWhatRoute53Returns(t *testing.T) {
	cases := []struct{ name, stored, want string }{
		{"unquoted value as an emulator or the console may store it", "v=spf1 -all", "v=spf1 -all"},
		{"octal escape for a non-printable byte", `"a\010b"`, "a\bb"},
		{"several strings concatenate", `"ab" "cd"`, "abcd"},
		{"a lone quote", `"`, ""},
		{"no closing quote", `"ab`, "ab"},
		{"surrounding spaces", `  "x"  `, "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			NewWithT(t).Expect(UnquoteTXT(c.stored)).To(Equal(c.want))
		})
	}
}

func TestRecordFromSDKNormalizes(t *testing.T) {
	g := NewWithT(t)
	r := recordFromSDK(types.ResourceRecordSet{
		Name: aws.String(`\052.Duckhoo.Site.`), Type: types.RRTypeTxt, TTL: aws.Int64(300),
		ResourceRecords: []types.ResourceRecord{{Value: aws.String(`"b"`)}, {Value: aws.String(`"a"`)}},
	})
	g.Expect(r.Name).To(Equal("*.duckhoo.site"))
	g.Expect(r.Values).To(Equal([]string{"a", "b"}))
	g.Expect(aws.ToString(recordToSDK(r).Name)).To(Equal(`\052.Duckhoo.Site.`), "deletes send the record as stored")
	g.Expect(recordToSDK(Record{Name: "x.duckhoo.site", Type: "TXT", TTL: 60, Values: []string{"hi"}}).ResourceRecords[0].Value).
		To(HaveValue(Equal(`"hi"`)))
}

func recordFromSDKFor(t *testing.T, name, typ, value string) Record {
	t.Helper()
	return recordFromSDK(types.ResourceRecordSet{Name: aws.String(name), Type: types.RRType(typ), TTL: aws.Int64(300),
		ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}})
}

// A DELETE must repeat a record set as Route53 stored it. A listed record keeps a full copy only
// when re-rendering its normalized fields would not give that back.
func TestListedRecordDeletesAsStored(t *testing.T) {
	rrs := func(vs ...string) []types.ResourceRecord {
		var out []types.ResourceRecord
		for _, v := range vs {
			out = append(out, types.ResourceRecord{Value: aws.String(v)})
		}
		return out
	}
	cases := []struct {
		name     string
		rs       types.ResourceRecordSet
		keepsRaw bool
	}{
		{"plain A, trailing dot", types.ResourceRecordSet{Name: aws.String("api.example.com."), Type: "A", TTL: aws.Int64(300), ResourceRecords: rrs("203.0.113.1")}, false},
		{"registry TXT", types.ResourceRecordSet{Name: aws.String("a-api.example.com."), Type: "TXT", TTL: aws.Int64(300), ResourceRecords: rrs(`"heritage=securesite,owner=x"`)}, false},
		{"upper case name", types.ResourceRecordSet{Name: aws.String("API.Example.com."), Type: "A", TTL: aws.Int64(60), ResourceRecords: rrs("203.0.113.1")}, false},
		{"values out of order", types.ResourceRecordSet{Name: aws.String("api.example.com."), Type: "A", TTL: aws.Int64(300), ResourceRecords: rrs("203.0.113.2", "203.0.113.1")}, true},
		{"TXT spelled differently", types.ResourceRecordSet{Name: aws.String("t.example.com."), Type: "TXT", TTL: aws.Int64(300), ResourceRecords: rrs(`"a" "b"`)}, true},
		{"IPv6 not canonical", types.ResourceRecordSet{Name: aws.String("v6.example.com."), Type: "AAAA", TTL: aws.Int64(300), ResourceRecords: rrs("2001:DB8::1")}, true},
		{"alias", types.ResourceRecordSet{Name: aws.String("example.com."), Type: "A", AliasTarget: &types.AliasTarget{HostedZoneId: aws.String("Z2FDTNDATAQYW2"), DNSName: aws.String("d1.cloudfront.net.")}}, true},
		{"weighted", types.ResourceRecordSet{Name: aws.String("w.example.com."), Type: "A", TTL: aws.Int64(300), SetIdentifier: aws.String("one"), Weight: aws.Int64(10), ResourceRecords: rrs("203.0.113.1")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			r := recordFromSDK(c.rs)
			g.Expect(r.raw != nil).To(Equal(c.keepsRaw))
			g.Expect(recordToSDK(r)).To(Equal(c.rs))
		})
	}
}
