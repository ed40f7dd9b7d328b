package controllers

import (
	"slices"
	"testing"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// The decisions the phases make between gathering and acting, as tables.

func TestBucketOrigin(t *testing.T) {
	old, renamed := s3bucket.Bucket{Name: "old"}, s3bucket.Bucket{Name: "new"}
	tests := []struct {
		name string
		o    bucketObservation
		want string
	}{
		{"no migration: the bucket status names", bucketObservation{serving: old}, "old"},
		{"copying: still the old bucket", bucketObservation{serving: old, migrationTarget: &renamed}, "old"},
		{"every object copied: switch to the new bucket", bucketObservation{serving: old, migrationTarget: &renamed, switching: true}, "new"},
	}
	for _, tt := range tests {
		if got := tt.o.origin().Name; got != tt.want {
			t.Errorf("%s: origin %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDistributionPrerequisites(t *testing.T) {
	tests := []struct {
		name       string
		bucket     bucketObservation
		acm        acmObservation
		wantReady  bool
		wantReason string
		wantMsg    string
	}{
		{"no bucket yet", bucketObservation{}, acmObservation{imported: true}, false, v1alpha1.ReasonProgressing, "waiting for the bucket"},
		{"certificate not in ACM", bucketObservation{serving: s3bucket.Bucket{Name: "b"}}, acmObservation{phaseObservation: phaseObservation{message: "waiting for the certificate"}},
			false, v1alpha1.ReasonWaitingForCert, "waiting for the certificate to be imported into ACM: waiting for the certificate"},
		{"ready to serve", bucketObservation{serving: s3bucket.Bucket{Name: "b"}}, acmObservation{imported: true}, true, "", ""},
	}
	for _, tt := range tests {
		s := &scope{bucket: tt.bucket, acm: tt.acm}
		ready, reason, msg := distributionPrerequisites(s)
		if ready != tt.wantReady || reason != tt.wantReason || msg != tt.wantMsg {
			t.Errorf("%s: got %v %q %q, want %v %q %q", tt.name, ready, reason, msg, tt.wantReady, tt.wantReason, tt.wantMsg)
		}
	}
}

func TestRecordNamesOutsideTheZone(t *testing.T) {
	zone := records.Zone{ID: "Z1", Name: "duckhoo.site"}
	tests := []struct {
		name    string
		edit    func(*v1alpha1.SecureSite)
		outside string
	}{
		{"backend in the zone", nil, ""},
		{"backend elsewhere", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Hostname = "api.evil.example" }, "api.evil.example"},
		{"static site alias elsewhere, before any distribution exists", func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
			s.Spec.Certificate.AdditionalDNSNames = []string{"www.other.example"}
		}, "www.other.example"},
		{"wildcard names are not records", func(s *v1alpha1.SecureSite) {
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
			s.Spec.Certificate.AdditionalDNSNames = []string{"*.other.example"}
		}, ""},
	}
	for _, tt := range tests {
		name, outside := firstOutsideZone(recordNames(testSite(tt.edit)), zone)
		if outside != (tt.outside != "") || name != tt.outside {
			t.Errorf("%s: outside %v %q, want %q", tt.name, outside, name, tt.outside)
		}
	}
}

func TestDecideACM(t *testing.T) {
	tests := []struct {
		name                  string
		arn, imported, serial string
		exists                bool
		want                  acmAction
	}{
		{"nothing in ACM yet", "", "", "01", false, acmImportNew},
		{"ACM holds this certificate", "arn:c", "01", "01", true, acmKeep},
		{"renewal: re-import in place", "arn:c", "01", "02", true, acmReimport},
		{"deleted out of band: import anew", "arn:c", "01", "01", false, acmImportNew},
	}
	for _, tt := range tests {
		if got := decideACM(tt.arn, tt.imported, tt.serial, tt.exists); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetirementsFull(t *testing.T) {
	full := v1alpha1.MaxRetiredACMCertificates
	tests := []struct {
		name    string
		action  acmAction
		retired int
		want    bool
	}{
		{"re-import with room", acmReimport, full - 1, false},
		{"re-import, list full: wait", acmReimport, full, true},
		{"first import, list full: nothing is replaced", acmImportNew, full, false},
		{"keep", acmKeep, full, false},
	}
	for _, tt := range tests {
		if got := retirementsFull(tt.action, tt.retired); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// An upgrade in the middle of a retirement: the certificate an earlier version kept in the single
// field joins the list once, whatever already waits there.
func TestCarryOverRetiredACM(t *testing.T) {
	tests := []struct {
		name   string
		single string
		list   []string
		want   []string
	}{
		{"nothing kept", "", nil, nil},
		{"single field only", "arn:a", nil, []string{"arn:a"}},
		{"joins the list", "arn:b", []string{"arn:a"}, []string{"arn:a", "arn:b"}},
		{"already listed", "arn:a", []string{"arn:a"}, []string{"arn:a"}},
	}
	for _, tt := range tests {
		st := &v1alpha1.CertificateStatus{ACMRetiredCertificateARN: tt.single, ACMRetiredCertificateARNs: tt.list}
		carryOverRetiredACM(st)
		if st.ACMRetiredCertificateARN != "" || !slices.Equal(st.ACMRetiredCertificateARNs, tt.want) {
			t.Errorf("%s: got %q %v, want \"\" %v", tt.name, st.ACMRetiredCertificateARN, st.ACMRetiredCertificateARNs, tt.want)
		}
	}
	carryOverRetiredACM(nil) // a site without certificate status
}

func TestDecideRetireACM(t *testing.T) {
	tests := []struct {
		name             string
		retired, current string
		deployed         bool
		want             bool
	}{
		{"nothing retired", "", "arn:new", true, false},
		{"distribution still deploying", "arn:old", "arn:new", false, false},
		{"deployed on the new certificate", "arn:old", "arn:new", true, true},
		{"retired is the one served", "arn:new", "arn:new", true, false},
	}
	for _, tt := range tests {
		if got := decideRetireACM(tt.retired, tt.current, tt.deployed); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
