package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/smexport"
	"github.com/securesite-io/securesite/internal/testworld"
)

// TestExportToSecretsManagerAndAgent walks the original story's last mile: the certificate
// reaches a backend outside the cluster through Secrets Manager and securesite-agent, and a
// renewal reaches it too.
func TestExportToSecretsManagerAndAgent(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "export.test")
	ns := e.namespace("export")
	e.create(site(ns, "api", "export.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "infra.export.test", Address: "203.0.113.10", TTL: 300}
		s.Spec.Certificate.Export = &v1alpha1.CertificateExport{SecretsManager: &v1alpha1.SecretsManagerExport{Name: "securesite/infra.export.test"}}
	}))
	s := e.waitCondition(ns, "api", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 90*time.Second)
	if c := condition(s, v1alpha1.ConditionExportReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("ExportReady: %+v", c)
	}
	ex := s.Status.Certificate.Export
	if ex == nil || ex.SecretsManagerARN == "" || ex.VersionID == "" || ex.Serial != s.Status.Certificate.SerialNumber {
		t.Fatalf("status.certificate.export = %+v (serial %s)", ex, s.Status.Certificate.SerialNumber)
	}

	sm := secretsmanager.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(e.w.AWS.URL),
	})
	readDoc := func() (smexport.Document, string) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("securesite/infra.export.test")})
		if err != nil {
			t.Fatalf("reading the exported secret: %v", err)
		}
		var doc smexport.Document
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
			t.Fatalf("exported secret is not the JSON document: %v", err)
		}
		return doc, aws.ToString(out.VersionId)
	}
	tlsSecret := func() *corev1.Secret {
		sec := &corev1.Secret{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-tls"}, sec); err != nil {
			t.Fatal(err)
		}
		return sec
	}
	doc, version := readDoc()
	sec := tlsSecret()
	if doc.Certificate+doc.Chain != string(sec.Data["tls.crt"]) && strings.TrimSpace(doc.Certificate)+"\n"+strings.TrimSpace(doc.Chain)+"\n" != string(sec.Data["tls.crt"]) {
		t.Errorf("exported certificate+chain differ from the Secret's tls.crt")
	}
	if doc.PrivateKey != string(sec.Data["tls.key"]) || doc.Serial != ex.Serial {
		t.Errorf("exported key or serial differ from the Secret (serial %s vs %s)", doc.Serial, ex.Serial)
	}
	if version != ex.VersionID {
		t.Errorf("status version %s, current version %s", ex.VersionID, version)
	}

	// The backend side: the agent installs the files and runs the reload command once.
	agent := buildAgent(t)
	dir := t.TempDir()
	// The agent verifies the chain to its roots: pebble's, made at its start.
	roots, err := e.w.Pebble.RootCAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rootsPEM []byte
	for _, c := range roots {
		rootsPEM = append(rootsPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	caFile := filepath.Join(dir, "pebble-roots.pem")
	if err := os.WriteFile(caFile, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	counter := filepath.Join(dir, "reloads")
	runAgent := func() {
		cmd := exec.Command(agent, "--secret-id", "securesite/infra.export.test", "--region", "us-east-1", "--endpoint-url", e.w.AWS.URL,
			"--cert-file", filepath.Join(dir, "fullchain.pem"), "--key-file", filepath.Join(dir, "privkey.pem"),
			"--reload-command", "echo reload >> "+counter, "--ca-file", caFile, "--expect-dns-name", "infra.export.test")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("agent failed: %v\n%s", err, out)
		}
	}
	reloads := func() int {
		b, _ := os.ReadFile(counter)
		return strings.Count(string(b), "reload")
	}
	runAgent()
	key, _ := os.ReadFile(filepath.Join(dir, "privkey.pem"))
	if !bytes.Equal(key, sec.Data["tls.key"]) || reloads() != 1 {
		t.Fatalf("first agent run: key matches=%v, reloads=%d", bytes.Equal(key, sec.Data["tls.key"]), reloads())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "privkey.pem")); fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("key is world-accessible: %v", fi.Mode())
	}
	runAgent()
	if reloads() != 1 {
		t.Errorf("an agent run with nothing new reloaded again (%d reloads)", reloads())
	}

	// Renewal: move the clock past the renewal time. A new version appears, the agent installs it.
	oldSerial := s.Status.Certificate.SerialNumber
	e.startRenewal(ns, "api", s.Status.Certificate.RenewalTime.Time, oldSerial)
	e.eventually(90*time.Second, "renewed and re-exported", func() string {
		s = e.get(ns, "api")
		if s.Status.Certificate.SerialNumber == oldSerial || s.Status.Certificate.Export == nil || s.Status.Certificate.Export.Serial != s.Status.Certificate.SerialNumber {
			return "serial " + s.Status.Certificate.SerialNumber
		}
		return ""
	})
	doc2, version2 := readDoc()
	if version2 == version || doc2.Serial != s.Status.Certificate.SerialNumber {
		t.Fatalf("after renewal: version %s (was %s), serial %s", version2, version, doc2.Serial)
	}
	runAgent()
	key2, _ := os.ReadFile(filepath.Join(dir, "privkey.pem"))
	if !bytes.Equal(key2, tlsSecret().Data["tls.key"]) || bytes.Equal(key2, key) || reloads() != 2 {
		t.Fatalf("agent after renewal: new key installed=%v, reloads=%d", !bytes.Equal(key2, key), reloads())
	}
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "securesite-agent")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/securesite-agent")
	cmd.Dir = testworld.ProjectRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	return bin
}
