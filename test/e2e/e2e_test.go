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
	x := startSamplesWorld(t)
	x.installConfigDefaultAndRunTheManagerAsItsServiceAccount(t)
	x.applySamplesAndWaitReady(t)
	x.readSampleStatus(t)

	t.Run("records in Route53", x.checkRecordsInRoute53)
	t.Run("bucket and distribution", x.checkBucketAndDistribution)
	t.Run("certificate Secrets", x.checkCertificateSecrets)
	t.Run("metrics", x.checkMetrics)
	t.Run("dashboard and alerts query exported metrics", func(t *testing.T) {
		checkDashboardMetrics(t, metrics(t, x.mgr))
	})
	t.Run("kubectl get columns", x.checkKubectlGetColumns)
	t.Run("no private key outside Secrets", x.checkNoPrivateKeyOutsideSecrets)
	t.Run("delete cleans up, bucket retained", x.checkDeleteCleansUpBucketRetained)
}

// samplesE2E is the test world with the samples' zone, AWS clients as a user has them, the
// manager, and the status of the static-site sample once Ready.
type samplesE2E struct {
	ctx    context.Context
	root   string
	w      *testworld.World
	k      kube
	r53    *route53.Client
	cf     *cloudfront.Client
	s3c    *s3.Client
	acmc   *acm.Client
	zoneID string
	mgr    *testworld.ManagerProcess

	st                 v1alpha1.SecureSiteStatus
	distID, distDomain string
}

func startSamplesWorld(t *testing.T) *samplesE2E {
	ctx := context.Background()
	// The samples bring their own default SecureSiteClass, as a user's cluster would have.
	w := testworld.Start(t, testworld.WithoutDefaultClass())
	awsCfg := emulatorAWS(w)
	x := &samplesE2E{ctx: ctx, root: testworld.ProjectRoot(), w: w, k: kube{t: t, kubeconfig: w.Kubeconfig},
		r53: route53.NewFromConfig(awsCfg), cf: cloudfront.NewFromConfig(awsCfg), acmc: acm.NewFromConfig(awsCfg)}
	// The sample's bucket lives in its own region (config/samples): S3 answers a request signed for
	// another region with 301, as AWS does (moto through the test world does too).
	x.s3c = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true; o.Region = sampleBucketRegion })
	// Both samples live in this zone (dev.duckhoo.site's longest matching zone is duckhoo.site).
	x.zoneID = w.CreateHostedZone(ctx, "duckhoo.site")
	return x
}

// installConfigDefaultAndRunTheManagerAsItsServiceAccount: config/default applies (dry run on
// the server first), and the manager runs under its ServiceAccount and RBAC.
func (x *samplesE2E) installConfigDefaultAndRunTheManagerAsItsServiceAccount(t *testing.T) {
	k := x.k
	k.must("create", "namespace", "securesite-system")
	k.must("apply", "-k", filepath.Join(x.root, "config", "default"), "--dry-run=server")
	// Then for real, so the manager can run under the install's ServiceAccount and RBAC (the
	// Deployment it creates never runs: the test world has no kubelet).
	k.must("apply", "-k", filepath.Join(x.root, "config", "default"))
	managerKubeconfig := managerKubeconfigAs(t, x.w, managerSA)
	x.mgr = x.w.StartManager(t, testworld.ManagerOptions{Kubeconfig: managerKubeconfig, Args: []string{"--acme-email=e2e@duckhoo.site"}})
}

func (x *samplesE2E) applySamplesAndWaitReady(t *testing.T) {
	k := x.k
	k.must("create", "namespace", samplesNS)
	samples := []string{
		filepath.Join(x.root, "config", "samples", "securesiteclass_v1alpha1.yaml"),
		filepath.Join(x.root, "config", "samples", "securesite_v1alpha1_securesite.yaml"),
		filepath.Join(x.root, "config", "samples", "securesite_v1alpha1_backend_only.yaml"),
	}
	k.must("apply", "-n", samplesNS, "-f", samples[0], "-f", samples[1], "-f", samples[2])
	start := time.Now()
	waitReady(t, k, samplesNS, "duckhoo", "duckhoo-dev")
	t.Logf("both samples Ready %s after apply", time.Since(start).Round(100*time.Millisecond))
}

// readSampleStatus: the static-site sample's status, as kubectl shows it, is current and names
// both endpoints, its distribution and its ACM certificate.
func (x *samplesE2E) readSampleStatus(t *testing.T) {
	var site v1alpha1.SecureSite
	x.k.getJSON(&site, "get", "-n", samplesNS, "securesite/duckhoo")
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
	x.st, x.distID, x.distDomain = st, st.Distribution.ID, st.Distribution.DomainName
}

// checkRecordsInRoute53: the sample's records and ownership record, and alias records to the
// distribution.
func (x *samplesE2E) checkRecordsInRoute53(t *testing.T) {
	recs := zoneRecords(t, x.r53, x.zoneID)
	want := map[string]string{
		"infra.duckhoo.site A":   "203.0.113.10",
		"api.dev.duckhoo.site A": "198.51.100.20",
		"duckhoo.site A":         "alias " + strings.ToLower(x.distDomain),
		"duckhoo.site AAAA":      "alias " + strings.ToLower(x.distDomain),
		"www.duckhoo.site A":     "alias " + strings.ToLower(x.distDomain),
	}
	for key, value := range want {
		if got := recs[key]; strings.ToLower(got) != value {
			t.Errorf("%s = %q, want %q", key, got, value)
		}
	}
	if got := recs["_securesite-a.infra.duckhoo.site TXT"]; !strings.Contains(got, "/"+samplesNS+"/duckhoo") {
		t.Errorf("ownership record of infra.duckhoo.site = %q, want owner %s/duckhoo", got, samplesNS)
	}
}

// checkBucketAndDistribution: the bucket, the distribution with both aliases and the imported
// certificate, and a page uploaded to the bucket served through it.
func (x *samplesE2E) checkBucketAndDistribution(t *testing.T) {
	if _, err := x.s3c.HeadBucket(x.ctx, &s3.HeadBucketInput{Bucket: aws.String("duckhoo-site")}); err != nil {
		t.Fatalf("bucket duckhoo-site: %v", err)
	}
	out, err := x.cf.GetDistribution(x.ctx, &cloudfront.GetDistributionInput{Id: aws.String(x.distID)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := out.Distribution.DistributionConfig
	if !aws.ToBool(cfg.Enabled) || !slices.Contains(cfg.Aliases.Items, "duckhoo.site") || !slices.Contains(cfg.Aliases.Items, "www.duckhoo.site") {
		t.Errorf("distribution enabled=%v aliases=%v", aws.ToBool(cfg.Enabled), cfg.Aliases.Items)
	}
	if got := aws.ToString(cfg.ViewerCertificate.ACMCertificateArn); got != x.st.Certificate.ACMCertificateARN {
		t.Errorf("distribution certificate %q, status says %q", got, x.st.Certificate.ACMCertificateARN)
	}
	// What a user does next: upload the site, then load it through the distribution.
	page := "<h1>duckhoo e2e</h1>"
	if _, err := x.s3c.PutObject(x.ctx, &s3.PutObjectInput{Bucket: aws.String("duckhoo-site"), Key: aws.String("index.html"),
		Body: strings.NewReader(page), ContentType: aws.String("text/html")}); err != nil {
		t.Fatal(err)
	}
	if !x.w.AWS.HasEdge() {
		t.Logf("%s has no CloudFront edge: the GET through the distribution is checked on kumo only", x.w.AWS.Name)
		return
	}
	resp, err := http.Get(x.w.AWS.EdgeURL(x.distID, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != page {
		t.Errorf("GET through the distribution: %d %q", resp.StatusCode, body)
	}
}

// checkCertificateSecrets: the ACME certificate verifies for every name against pebble's roots;
// the self-signed one names the backend.
func (x *samplesE2E) checkCertificateSecrets(t *testing.T) {
	opts, err := x.w.Pebble.VerifyOptions(x.ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaf := tlsSecretLeaf(t, x.k, "duckhoo-tls")
	for _, name := range []string{"duckhoo.site", "www.duckhoo.site", "infra.duckhoo.site"} {
		opts.DNSName = name
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("ACME certificate for %s does not verify against pebble's roots: %v", name, err)
		}
	}
	if x.st.Certificate.NotAfter == nil || !x.st.Certificate.NotAfter.Time.Equal(leaf.NotAfter) {
		t.Errorf("status notAfter %v, certificate's %v", x.st.Certificate.NotAfter, leaf.NotAfter)
	}
	dev := tlsSecretLeaf(t, x.k, "duckhoo-dev-tls")
	if !slices.Contains(dev.DNSNames, "api.dev.duckhoo.site") {
		t.Errorf("self-signed certificate names %v, want api.dev.duckhoo.site", dev.DNSNames)
	}
}

// checkMetrics: what an operator graphs and alerts on is exported.
func (x *samplesE2E) checkMetrics(t *testing.T) {
	lines := metrics(t, x.mgr)
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
}

func (x *samplesE2E) checkKubectlGetColumns(t *testing.T) {
	out := x.k.must("get", "securesites", "-n", samplesNS)
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
}

// checkNoPrivateKeyOutsideSecrets: no PEM private key in the log, events, status or describe
// output.
func (x *samplesE2E) checkNoPrivateKeyOutsideSecrets(t *testing.T) {
	logs, err := os.ReadFile(x.mgr.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"manager log":         string(logs),
		"events":              x.k.must("get", "events", "-A", "-o", "yaml"),
		"securesites":         x.k.must("get", "securesites", "-A", "-o", "yaml"),
		"events.k8s.io/v1":    x.k.must("get", "events.v1.events.k8s.io", "-A", "-o", "yaml"),
		"securesite describe": x.k.must("describe", "securesites", "-n", samplesNS),
	}
	for where, text := range places {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s contains a PEM private key", where)
		}
	}
}

// checkDeleteCleansUpBucketRetained: delete removes records (ownership records stay, released),
// distribution, ACM certificate and metric series; the bucket and its objects stay
// (deletionPolicy Retain).
func (x *samplesE2E) checkDeleteCleansUpBucketRetained(t *testing.T) {
	x.k.must("delete", "securesite", "--all", "-n", samplesNS, "--wait", "--timeout=3m")
	recs := zoneRecords(t, x.r53, x.zoneID)
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
	_, err := x.cf.GetDistribution(x.ctx, &cloudfront.GetDistributionInput{Id: aws.String(x.distID)})
	var noDist *cftypes.NoSuchDistribution
	if !errors.As(err, &noDist) {
		t.Errorf("distribution %s after delete: err = %v, want NoSuchDistribution", x.distID, err)
	}
	_, err = x.acmc.DescribeCertificate(x.ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(x.st.Certificate.ACMCertificateARN)})
	var noCert *acmtypes.ResourceNotFoundException
	if !errors.As(err, &noCert) {
		t.Errorf("ACM certificate after delete: err = %v, want ResourceNotFoundException", err)
	}
	// deletionPolicy: Retain keeps the bucket and what users uploaded to it.
	if _, err := x.s3c.HeadObject(x.ctx, &s3.HeadObjectInput{Bucket: aws.String("duckhoo-site"), Key: aws.String("index.html")}); err != nil {
		t.Errorf("retained bucket's index.html: %v", err)
	}
	// A deleted site must not keep alerting.
	lines := metrics(t, x.mgr)
	for _, name := range []string{"securesite_certificate_expiry_timestamp_seconds", "securesite_condition"} {
		if got := metricLines(lines, name, `namespace="`+samplesNS+`"`); len(got) > 0 {
			t.Errorf("series of deleted sites remain: %v", got)
		}
	}
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
