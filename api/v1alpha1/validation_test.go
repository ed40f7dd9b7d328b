package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/testworld"
)

// These tests run the CRD's OpenAPI and CEL rules in a real API server: what `kubectl apply` and
// Argo CD users see.

var k8s client.Client

func TestMain(m *testing.M) {
	env, cfg, err := testworld.StartAPIServer()
	if err != nil {
		panic(err)
	}
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func site(mutate func(*v1alpha1.SecureSite)) *v1alpha1.SecureSite {
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Name: "duckhoo", Namespace: "default"},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:     "duckhoo.site",
			Backend:    &v1alpha1.BackendSpec{Hostname: "infra.duckhoo.site", Address: "203.0.113.10"},
			StaticSite: &v1alpha1.StaticSiteSpec{Bucket: "duckhoo-site", Region: "ap-northeast-2"},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// longName is a DNS name of exactly n characters ending in suffix, in labels of at most 63.
func longName(n int, suffix string) string {
	var labels []string
	for rest := n - len(suffix); rest > 0; {
		l := min(63, rest-1) // each label brings its dot
		if rest-1-l == 1 {
			l-- // never leave a remainder that is only a dot
		}
		labels = append(labels, strings.Repeat("a", l))
		rest -= l + 1
	}
	return strings.Join(append(labels, suffix), ".")
}

func dryRunCreate(obj client.Object) error {
	return k8s.Create(context.Background(), obj, client.DryRunAll)
}

func TestValidSpecsAccepted(t *testing.T) {
	cases := map[string]func(*v1alpha1.SecureSite){
		"design example": nil,
		"backend only, IPv6": func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = nil
			s.Spec.Backend.Address = "2001:db8::10"
		},
		"backend CNAME to a DNS name": func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "ec2-203-0-113-10.compute-1.amazonaws.com" },
		"sibling backend of a www domain": func(s *v1alpha1.SecureSite) {
			s.Spec.Domain = "www.duckhoo.site"
			s.Spec.Backend.Hostname = "api.duckhoo.site"
		},
		"backend elsewhere with explicit zone": func(s *v1alpha1.SecureSite) {
			s.Spec.HostedZoneID = "Z0123456789ABC"
			s.Spec.Backend.Hostname = "api.other.example"
		},
		"RSA 4096": func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.PrivateKey = v1alpha1.PrivateKeySpec{Algorithm: v1alpha1.KeyAlgorithmRSA, Size: 4096}
		},
		"ECDSA 384 without staticSite": func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = nil
			s.Spec.Certificate.PrivateKey.Size = 384
		},
		"ECDSA 256 with staticSite": func(s *v1alpha1.SecureSite) { s.Spec.Certificate.PrivateKey.Size = 256 },
		"backend at a two-label apex with an IP": func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite, s.Spec.Backend.Hostname = nil, "duckhoo.site"
		},
		"backend CNAME below the apex": func(s *v1alpha1.SecureSite) {
			s.Spec.Backend.Address = "lb.example.net"
		},
		"222-char domain and names (the DNS-01 registry record is then 253)": func(s *v1alpha1.SecureSite) {
			s.Spec.Domain = longName(222, "duckhoo.site")
			s.Spec.HostedZoneID = "Z0123456789ABC"
			s.Spec.Backend.Hostname = longName(222, "other.site")
			s.Spec.Certificate.AdditionalDNSNames = []string{longName(222, "third.site")}
		},
		"wildcard SAN": func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{"*.duckhoo.site", "www.duckhoo.site"}
		},
		"no bucket given": func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "" },
		"punycode domain": func(s *v1alpha1.SecureSite) {
			s.Spec.Domain = "xn--9n2bp8q.site"
			s.Spec.Backend.Hostname = "api.xn--9n2bp8q.site"
		},
		"selfSigned without staticSite": func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = nil
			s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
		},
		"delete policy":  func(s *v1alpha1.SecureSite) { s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete },
		"63-char bucket": func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = strings.Repeat("a", 63) },
		"3-char bucket":  func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "abc" },
		"class named":    func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "team-a" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			if err := dryRunCreate(site(mutate)); err != nil {
				t.Fatalf("valid SecureSite refused: %v", err)
			}
		})
	}
}

func TestInvalidSpecsRefusedWithReason(t *testing.T) {
	cases := slices.Concat(bucketNameRefusals(), domainRefusals(), backendRefusals(), certificateRefusals(), enumRefusals())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := dryRunCreate(site(tc.mutate))
			if err == nil {
				t.Fatal("invalid SecureSite accepted")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error from the API server, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

type refusalCase struct {
	name   string
	mutate func(*v1alpha1.SecureSite)
	want   []string // substrings the refusal must contain
}

// bucketNameRefusals: S3 bucket naming rules, the dot first for the HTTPS wildcard reason.
func bucketNameRefusals() []refusalCase {
	return []refusalCase{
		{"dotted bucket", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "test.duckhoo.site" },
			[]string{"must not contain dots", "HTTPS", "*.s3.amazonaws.com"}},
		{"uppercase bucket", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "Duckhoo-Site" },
			[]string{naming.MsgBucketCharset}},
		{"IP-shaped bucket", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "192.168.5.4" },
			[]string{naming.MsgBucketIP}},
		{"xn-- prefix", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "xn--bucket" },
			[]string{naming.MsgBucketPrefix}},
		{"sthree- prefix", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "sthree-bucket" },
			[]string{naming.MsgBucketPrefix}},
		{"-s3alias suffix", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "site-s3alias" },
			[]string{naming.MsgBucketSuffix}},
		{"--ol-s3 suffix", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "site--ol-s3" },
			[]string{naming.MsgBucketSuffix}},
		{"2-char bucket", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "ab" },
			[]string{naming.MsgBucketLength}},
		{"64-char bucket", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = strings.Repeat("a", 64) },
			[]string{naming.MsgBucketLength}},
		{"bucket ending in hyphen", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = "bucket-" },
			[]string{naming.MsgBucketEnds}},
	}
}

// domainRefusals: the site domain: a lowercase, fully qualified, punycode DNS name short enough for its DNS-01 registry record.
func domainRefusals() []refusalCase {
	return []refusalCase{
		{"bad domain: no dot", func(s *v1alpha1.SecureSite) { s.Spec.Domain = "duckhoo"; s.Spec.Backend = nil },
			[]string{"domain must be a fully qualified DNS name"}},
		{"bad domain: uppercase", func(s *v1alpha1.SecureSite) { s.Spec.Domain = "Duckhoo.site"; s.Spec.Backend = nil },
			[]string{"domain must be a lowercase DNS name"}},
		{"bad domain: wildcard", func(s *v1alpha1.SecureSite) { s.Spec.Domain = "*.duckhoo.site"; s.Spec.Backend = nil },
			[]string{"no wildcard"}},
		{"bad domain: unicode", func(s *v1alpha1.SecureSite) { s.Spec.Domain = "덕후.site"; s.Spec.Backend = nil },
			[]string{"punycode"}},
		{"bad domain: trailing dot", func(s *v1alpha1.SecureSite) { s.Spec.Domain = "duckhoo.site."; s.Spec.Backend = nil },
			[]string{"no trailing dot"}},
		{"223-char domain", func(s *v1alpha1.SecureSite) {
			s.Spec.Domain, s.Spec.Backend = longName(223, "duckhoo.site"), nil
		}, []string{"domain must be at most 222 characters", "_securesite-txt._acme-challenge.<name>"}},
	}
}

// backendRefusals: the backend: a name inside the site's zone other than the domain, and an address a record can hold.
func backendRefusals() []refusalCase {
	return []refusalCase{
		{"backend outside the zone", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Hostname = "api.example.com" },
			[]string{"backend.hostname must be inside the site's DNS zone"}},
		{"backend same as CloudFront domain", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Hostname = "duckhoo.site" },
			[]string{"backend.hostname must differ from domain"}},
		{"backend address garbage", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "not an address!" },
			[]string{"backend.address must be an IPv4 address, an IPv6 address or a lowercase DNS name"}},
		{"backend address loopback", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "127.0.0.1" },
			[]string{"must be a routable address"}},
		{"CNAME at a two-label apex", func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite, s.Spec.Backend.Hostname, s.Spec.Backend.Address = nil, "duckhoo.site", "lb.example.net"
		}, []string{"backend.hostname is a zone apex", "no CNAME"}},
		{"223-char backend hostname", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Hostname = longName(223, "duckhoo.site") },
			[]string{"backend.hostname must be at most 222 characters"}},
	}
}

// certificateRefusals: the certificate: a key CloudFront and the CA accept, an issuer browsers trust for a static site, names a CA issues.
func certificateRefusals() []refusalCase {
	return []refusalCase{
		{"RSA-256 key", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.PrivateKey = v1alpha1.PrivateKeySpec{Algorithm: v1alpha1.KeyAlgorithmRSA, Size: 256}
		}, []string{"2048, 3072 or 4096 for RSA"}},
		{"ECDSA-2048 key", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.PrivateKey.Size = 2048 },
			[]string{"256 or 384 for ECDSA"}},
		{"ECDSA P-384 with staticSite", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.PrivateKey.Size = 384 },
			[]string{"ECDSA 384 cannot be used with staticSite", "CloudFront accepts only RSA keys up to 4096 bits and ECDSA P-256"}},
		{"selfSigned with staticSite", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned },
			[]string{"selfSigned cannot be used with staticSite", "CA that browsers trust"}},
		{"223-char additional name", func(s *v1alpha1.SecureSite) {
			s.Spec.Certificate.AdditionalDNSNames = []string{longName(223, "duckhoo.site")}
		}, []string{"each additionalDNSNames entry must be at most 222 characters"}},
		{"unknown issuer", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.Issuer = "vault" },
			[]string{`Unsupported value: "vault"`}},
		{"too many names", func(s *v1alpha1.SecureSite) {
			for i := range 99 {
				s.Spec.Certificate.AdditionalDNSNames = append(s.Spec.Certificate.AdditionalDNSNames, strings.Repeat("a", i%50+1)+".duckhoo.site")
			}
		}, []string{"must have at most 98 items"}},
		{"wildcard in the middle of a SAN", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.AdditionalDNSNames = []string{"www.*.duckhoo.site"} },
			[]string{"a wildcard is allowed only as a leading '*.'"}},
		{"domain repeated in SANs", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.AdditionalDNSNames = []string{"duckhoo.site"} },
			[]string{"must not repeat domain"}},
	}
}

// enumRefusals: fields with a fixed set or shape of values.
func enumRefusals() []refusalCase {
	return []refusalCase{
		{"unknown deletionPolicy", func(s *v1alpha1.SecureSite) { s.Spec.DeletionPolicy = "Orphan" },
			[]string{`Unsupported value: "Orphan"`, `"Retain"`, `"Delete"`}},
		{"class name not an object name", func(s *v1alpha1.SecureSite) { s.Spec.ClassName = "Team A" },
			[]string{"spec.className"}},
		{"region garbage", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Region = "Seoul" },
			[]string{"region must be an AWS region name"}},
		{"unknown price class", func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.PriceClass = "PriceClass_Cheap" },
			[]string{`Unsupported value: "PriceClass_Cheap"`}},
	}
}

// The Go bucket rules and the CRD's CEL rules must agree word for word.
func TestBucketRulesMatchCRD(t *testing.T) {
	for _, bucket := range []string{"test.duckhoo.site", "Duckhoo-Site", "192.168.5.4", "xn--bucket", "ab", strings.Repeat("b", 64),
		"-bucket", "bucket--table-s3", "amzn-s3-demo-x", "my_bucket", "duckhoo-site", "a1b"} {
		t.Run(bucket, func(t *testing.T) {
			problems := naming.BucketNameProblems(bucket)
			err := dryRunCreate(site(func(s *v1alpha1.SecureSite) { s.Spec.StaticSite.Bucket = bucket }))
			if len(problems) == 0 {
				if err != nil {
					t.Fatalf("Go rules accept %q, the CRD refuses it: %v", bucket, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Go rules refuse %q (%v), the CRD accepts it", bucket, problems)
			}
			for _, p := range problems {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("CRD refusal lacks the Go rule %q:\n%v", p, err)
				}
			}
		})
	}
}

func TestSamplesAccepted(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testworld.ProjectRoot(), "config", "samples", "securesite_*.yaml"))
	if len(files) == 0 {
		t.Fatal("no samples in config/samples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(data, &obj.Object); err != nil {
				t.Fatal(err)
			}
			obj.SetNamespace("default")
			if err := dryRunCreate(obj); err != nil {
				t.Fatalf("sample refused: %v", err)
			}
		})
	}
}

// Defaults come from the CRD, so what `kubectl get -o yaml` shows is what the controller does.
func TestDefaultsApplied(t *testing.T) {
	s := site(nil)
	if err := dryRunCreate(s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain || s.Spec.Certificate.Issuer != v1alpha1.IssuerACME ||
		s.Spec.Certificate.PrivateKey.Algorithm != v1alpha1.KeyAlgorithmECDSA || s.Spec.StaticSite.IndexDocument != "index.html" ||
		s.Spec.StaticSite.PriceClass != "PriceClass_100" || s.Spec.Backend.TTL != 300 {
		t.Errorf("defaults not applied: %+v", s.Spec)
	}
}
