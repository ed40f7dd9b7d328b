// Package e2e runs SecureSite the way users do: the real manager binary as a process, kubectl
// against an API server, the samples from config/samples, with kumo as AWS and pebble as the ACME
// CA (internal/testworld). It checks what a user and an operator look at: conditions, the
// Secret, the objects in AWS, the metrics, `kubectl get` columns, and cleanup on delete.
package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/testworld"
)

const (
	samplesNS = "e2e-samples"
	// The Deployment's identity in config/default; the manager runs as it to prove the RBAC there
	// is enough.
	managerSA = "system:serviceaccount:securesite-system:securesite-controller-manager"
)

func TestSamplesEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := testworld.ProjectRoot()
	// The samples bring their own default SecureSiteClass, as a user's cluster would have.
	w := testworld.Start(t, testworld.WithoutDefaultClass())
	k := kube{t: t, kubeconfig: w.Kubeconfig}
	awsCfg := emulatorAWS(w)
	r53 := route53.NewFromConfig(awsCfg)
	cf := cloudfront.NewFromConfig(awsCfg)
	// The sample's bucket lives in its own region (config/samples): S3 answers a request signed for
	// another region with 301, as AWS does (moto through the test world does too).
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true; o.Region = sampleBucketRegion })
	acmc := acm.NewFromConfig(awsCfg)

	// Both samples live in this zone (dev.duckhoo.site's longest matching zone is duckhoo.site).
	zoneID := w.CreateHostedZone(ctx, "duckhoo.site")

	k.must("create", "namespace", "securesite-system")
	k.must("apply", "-k", filepath.Join(root, "config", "default"), "--dry-run=server")
	// Then for real, so the manager can run under the install's ServiceAccount and RBAC (the
	// Deployment it creates never runs: the test world has no kubelet).
	k.must("apply", "-k", filepath.Join(root, "config", "default"))
	managerKubeconfig := filepath.Join(t.TempDir(), "manager.kubeconfig")
	impersonatingKubeconfig(t, w.Kubeconfig, managerSA, managerKubeconfig)
	// Proof the impersonation holds, or the RBAC check below would pass as system:masters.
	if out, _ := (kube{t: t, kubeconfig: managerKubeconfig}).run("auth", "can-i", "create", "namespaces"); strings.TrimSpace(out) != "no" {
		t.Fatalf("the manager's kubeconfig may create namespaces (%q): it is not acting as %s", out, managerSA)
	}
	mgr := w.StartManager(t, testworld.ManagerOptions{Kubeconfig: managerKubeconfig, Args: []string{"--acme-email=e2e@duckhoo.site"}})

	k.must("create", "namespace", samplesNS)
	samples := []string{
		filepath.Join(root, "config", "samples", "securesiteclass_v1alpha1.yaml"),
		filepath.Join(root, "config", "samples", "securesite_v1alpha1_securesite.yaml"),
		filepath.Join(root, "config", "samples", "securesite_v1alpha1_backend_only.yaml"),
	}
	k.must("apply", "-n", samplesNS, "-f", samples[0], "-f", samples[1], "-f", samples[2])
	start := time.Now()
	for _, name := range []string{"duckhoo", "duckhoo-dev"} {
		if _, err := k.run("wait", "-n", samplesNS, "--for=condition=Ready", "securesite/"+name, "--timeout=5m"); err != nil {
			out, _ := k.run("describe", "-n", samplesNS, "securesite/"+name)
			t.Fatalf("%v\n%s", err, out)
		}
	}
	t.Logf("both samples Ready %s after apply", time.Since(start).Round(100*time.Millisecond))

	var site v1alpha1.SecureSite
	k.getJSON(&site, "get", "-n", samplesNS, "securesite/duckhoo")
	st := site.Status
	if st.ObservedGeneration != site.Generation {
		t.Errorf("observedGeneration %d, generation %d", st.ObservedGeneration, site.Generation)
	}
	if st.URLs == nil || st.URLs.Site != "https://duckhoo.site" || st.URLs.API != "https://infra.duckhoo.site" {
		t.Errorf("status.urls = %+v, want both endpoints", st.URLs)
	}
	if st.Distribution == nil || st.Distribution.ID == "" || st.Certificate == nil || st.Certificate.ACMCertificateARN == "" {
		t.Fatalf("status lacks distribution or ACM certificate: %+v", st)
	}
	distID, distDomain := st.Distribution.ID, st.Distribution.DomainName

	t.Run("records in Route53", func(t *testing.T) {
		recs := zoneRecords(t, r53, zoneID)
		want := map[string]string{
			"infra.duckhoo.site A":   "203.0.113.10",
			"api.dev.duckhoo.site A": "198.51.100.20",
			"duckhoo.site A":         "alias " + strings.ToLower(distDomain),
			"duckhoo.site AAAA":      "alias " + strings.ToLower(distDomain),
			"www.duckhoo.site A":     "alias " + strings.ToLower(distDomain),
		}
		for key, value := range want {
			if got := recs[key]; strings.ToLower(got) != value {
				t.Errorf("%s = %q, want %q", key, got, value)
			}
		}
		if got := recs["_securesite-a.infra.duckhoo.site TXT"]; !strings.Contains(got, "/"+samplesNS+"/duckhoo") {
			t.Errorf("ownership record of infra.duckhoo.site = %q, want owner %s/duckhoo", got, samplesNS)
		}
	})

	t.Run("bucket and distribution", func(t *testing.T) {
		if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("duckhoo-site")}); err != nil {
			t.Fatalf("bucket duckhoo-site: %v", err)
		}
		out, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(distID)})
		if err != nil {
			t.Fatal(err)
		}
		cfg := out.Distribution.DistributionConfig
		if !aws.ToBool(cfg.Enabled) || !slices.Contains(cfg.Aliases.Items, "duckhoo.site") || !slices.Contains(cfg.Aliases.Items, "www.duckhoo.site") {
			t.Errorf("distribution enabled=%v aliases=%v", aws.ToBool(cfg.Enabled), cfg.Aliases.Items)
		}
		if got := aws.ToString(cfg.ViewerCertificate.ACMCertificateArn); got != st.Certificate.ACMCertificateARN {
			t.Errorf("distribution certificate %q, status says %q", got, st.Certificate.ACMCertificateARN)
		}
		// What a user does next: upload the site, then load it through the distribution.
		page := "<h1>duckhoo e2e</h1>"
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("duckhoo-site"), Key: aws.String("index.html"),
			Body: strings.NewReader(page), ContentType: aws.String("text/html")}); err != nil {
			t.Fatal(err)
		}
		if !w.AWS.HasEdge() {
			t.Logf("%s has no CloudFront edge: the GET through the distribution is checked on kumo only", w.AWS.Name)
			return
		}
		resp, err := http.Get(w.AWS.EdgeURL(distID, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != page {
			t.Errorf("GET through the distribution: %d %q", resp.StatusCode, body)
		}
	})

	t.Run("certificate Secrets", func(t *testing.T) {
		opts, err := w.Pebble.VerifyOptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaf := tlsSecretLeaf(t, k, "duckhoo-tls")
		for _, name := range []string{"duckhoo.site", "www.duckhoo.site", "infra.duckhoo.site"} {
			opts.DNSName = name
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("ACME certificate for %s does not verify against pebble's roots: %v", name, err)
			}
		}
		if st.Certificate.NotAfter == nil || !st.Certificate.NotAfter.Time.Equal(leaf.NotAfter) {
			t.Errorf("status notAfter %v, certificate's %v", st.Certificate.NotAfter, leaf.NotAfter)
		}
		dev := tlsSecretLeaf(t, k, "duckhoo-dev-tls")
		if !slices.Contains(dev.DNSNames, "api.dev.duckhoo.site") {
			t.Errorf("self-signed certificate names %v, want api.dev.duckhoo.site", dev.DNSNames)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		lines := metrics(t, mgr)
		for _, want := range []struct {
			name   string
			labels []string
		}{
			{"securesite_aws_api_calls_total", []string{`service="Route 53"`, `operation="ChangeResourceRecordSets"`, `result="ok"`}},
			{"securesite_certificate_expiry_timestamp_seconds", []string{`namespace="` + samplesNS + `"`, `name="duckhoo"`}},
			{"securesite_acme_orders_total", []string{`result="issued"`}},
			{"securesite_condition", []string{`name="duckhoo"`, `type="Ready"`, `status="True"`}},
			{"controller_runtime_reconcile_total", []string{`controller="securesite"`}},
		} {
			if len(metricLines(lines, want.name, want.labels...)) == 0 {
				t.Errorf("no %s%v line", want.name, want.labels)
			}
		}
		if got := metricLines(lines, "securesite_condition", `name="duckhoo"`, `type="Ready"`, `status="True"`); len(got) > 0 && !strings.HasSuffix(got[0], " 1") {
			t.Errorf("Ready site reports %s", got[0])
		}
		if got := metricLines(lines, "securesite_build_info"); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
			t.Errorf("securesite_build_info: %v", got)
		}
	})

	t.Run("dashboard and alerts query exported metrics", func(t *testing.T) {
		checkDashboardMetrics(t, metrics(t, mgr))
	})

	t.Run("kubectl get columns", func(t *testing.T) {
		out := k.must("get", "securesites", "-n", samplesNS)
		header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		if want := []string{"NAME", "DOMAIN", "READY", "STATUS", "CERT-EXPIRY", "DISTRIBUTION", "AGE"}; !slices.Equal(header, want) {
			t.Errorf("columns %v, want %v", header, want)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			// A date column would print "<invalid>" for an expiry, always in the future.
			if !strings.Contains(line, "True") || !strings.Contains(line, "Reconciled") || strings.Contains(line, "<invalid>") {
				t.Errorf("row %q", line)
			}
		}
	})

	t.Run("no private key outside Secrets", func(t *testing.T) {
		logs, err := os.ReadFile(mgr.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		places := map[string]string{
			"manager log":         string(logs),
			"events":              k.must("get", "events", "-A", "-o", "yaml"),
			"securesites":         k.must("get", "securesites", "-A", "-o", "yaml"),
			"events.k8s.io/v1":    k.must("get", "events.v1.events.k8s.io", "-A", "-o", "yaml"),
			"securesite describe": k.must("describe", "securesites", "-n", samplesNS),
		}
		for where, text := range places {
			if strings.Contains(text, "PRIVATE KEY") {
				t.Errorf("%s contains a PEM private key", where)
			}
		}
	})

	t.Run("delete cleans up, bucket retained", func(t *testing.T) {
		k.must("delete", "securesite", "--all", "-n", samplesNS, "--wait", "--timeout=3m")
		recs := zoneRecords(t, r53, zoneID)
		for key := range recs {
			if !strings.HasSuffix(strings.Fields(key)[0], "duckhoo.site") {
				continue
			}
			// NS and SOA at the apex belong to the hosted zone (AWS and moto create them), not to a site.
			if typ := strings.Fields(key)[1]; typ == "NS" || typ == "SOA" {
				continue
			}
			// The ownership records stay, marked released, holding the names for --name-hold.
			if strings.HasPrefix(key, "_securesite-") && strings.Contains(recs[key], "/"+samplesNS+"/") && strings.Contains(recs[key], ",released=") {
				continue
			}
			t.Errorf("record %s = %s left after delete", key, recs[key])
		}
		_, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(distID)})
		var noDist *cftypes.NoSuchDistribution
		if !errors.As(err, &noDist) {
			t.Errorf("distribution %s after delete: err = %v, want NoSuchDistribution", distID, err)
		}
		_, err = acmc.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(st.Certificate.ACMCertificateARN)})
		var noCert *acmtypes.ResourceNotFoundException
		if !errors.As(err, &noCert) {
			t.Errorf("ACM certificate after delete: err = %v, want ResourceNotFoundException", err)
		}
		// deletionPolicy: Retain keeps the bucket and what users uploaded to it.
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("duckhoo-site"), Key: aws.String("index.html")}); err != nil {
			t.Errorf("retained bucket's index.html: %v", err)
		}
		// A deleted site must not keep alerting.
		lines := metrics(t, mgr)
		for _, name := range []string{"securesite_certificate_expiry_timestamp_seconds", "securesite_condition"} {
			if got := metricLines(lines, name, `namespace="`+samplesNS+`"`); len(got) > 0 {
				t.Errorf("series of deleted sites remain: %v", got)
			}
		}
	})
}

// zoneRecords maps "name TYPE" to its values ("alias <target>" for alias records).
func zoneRecords(t *testing.T, c *route53.Client, zoneID string) map[string]string {
	t.Helper()
	out, err := c.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{}
	for _, rs := range out.ResourceRecordSets {
		var vals []string
		for _, r := range rs.ResourceRecords {
			vals = append(vals, aws.ToString(r.Value))
		}
		if rs.AliasTarget != nil {
			vals = append(vals, "alias "+strings.TrimSuffix(aws.ToString(rs.AliasTarget.DNSName), "."))
		}
		recs[strings.TrimSuffix(aws.ToString(rs.Name), ".")+" "+string(rs.Type)] = strings.Join(vals, " ")
	}
	return recs
}

// tlsSecretLeaf reads a certificate Secret with kubectl and returns its leaf, checking the shape
// servers and ingress controllers expect.
func tlsSecretLeaf(t *testing.T, k kube, name string) *x509.Certificate {
	t.Helper()
	var secret corev1.Secret
	k.getJSON(&secret, "get", "secret", "-n", samplesNS, name)
	if secret.Type != corev1.SecretTypeTLS || len(secret.Data["tls.key"]) == 0 {
		t.Fatalf("secret %s: type %s, tls.key %d bytes", name, secret.Type, len(secret.Data["tls.key"]))
	}
	if len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].Kind != "SecureSite" {
		t.Errorf("secret %s owners %v, want its SecureSite (garbage collection deletes it with the site)", name, secret.OwnerReferences)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatalf("secret %s: tls.crt is not PEM", name)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}
