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
	x := &exportSteps{t: t, e: e, ctx: ctx, ns: e.namespace("export"), sm: secretsmanager.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(e.w.AWS.URL),
	})}
	s := x.createSiteAndWaitExported()
	version := x.checkExportedDocumentIsTheTLSSecret(s.Status.Certificate.Export)

	// The backend side: the agent installs the files and runs the reload command once.
	agent := x.newBackendAgent()
	key := agent.firstRunInstallsTheKeyAndReloads(x.tlsSecret().Data["tls.key"])
	agent.run()
	if agent.reloads() != 1 {
		t.Errorf("an agent run with nothing new reloaded again (%d reloads)", agent.reloads())
	}

	s = x.renewAndWaitReexported(s)
	doc2, version2 := x.readDoc()
	if version2 == version || doc2.Serial != s.Status.Certificate.SerialNumber {
		t.Fatalf("after renewal: version %s (was %s), serial %s", version2, version, doc2.Serial)
	}
	agent.run()
	key2, _ := os.ReadFile(agent.keyFile())
	if !bytes.Equal(key2, x.tlsSecret().Data["tls.key"]) || bytes.Equal(key2, key) || agent.reloads() != 2 {
		t.Fatalf("agent after renewal: new key installed=%v, reloads=%d", !bytes.Equal(key2, key), agent.reloads())
	}
}

// exportSteps are the steps of a site "api" exported to Secrets Manager as
// securesite/infra.export.test, read by an agent on the backend.
type exportSteps struct {
	t   *testing.T
	e   *env
	ctx context.Context
	ns  string
	sm  *secretsmanager.Client
}

func (x *exportSteps) createSiteAndWaitExported() *v1alpha1.SecureSite {
	t, e, ns := x.t, x.e, x.ns
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
	return s
}

func (x *exportSteps) readDoc() (smexport.Document, string) {
	out, err := x.sm.GetSecretValue(x.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("securesite/infra.export.test")})
	if err != nil {
		x.t.Fatalf("reading the exported secret: %v", err)
	}
	var doc smexport.Document
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		x.t.Fatalf("exported secret is not the JSON document: %v", err)
	}
	return doc, aws.ToString(out.VersionId)
}

func (x *exportSteps) tlsSecret() *corev1.Secret {
	sec := &corev1.Secret{}
	if err := x.e.k8s.Get(x.ctx, client.ObjectKey{Namespace: x.ns, Name: "api-tls"}, sec); err != nil {
		x.t.Fatal(err)
	}
	return sec
}

// checkExportedDocumentIsTheTLSSecret: the document in Secrets Manager holds the Secret's
// certificate, chain and key, at the serial and version status reports. It returns the version.
func (x *exportSteps) checkExportedDocumentIsTheTLSSecret(ex *v1alpha1.ExportStatus) string {
	t := x.t
	doc, version := x.readDoc()
	sec := x.tlsSecret()
	if doc.Certificate+doc.Chain != string(sec.Data["tls.crt"]) && strings.TrimSpace(doc.Certificate)+"\n"+strings.TrimSpace(doc.Chain)+"\n" != string(sec.Data["tls.crt"]) {
		t.Errorf("exported certificate+chain differ from the Secret's tls.crt")
	}
	if doc.PrivateKey != string(sec.Data["tls.key"]) || doc.Serial != ex.Serial {
		t.Errorf("exported key or serial differ from the Secret (serial %s vs %s)", doc.Serial, ex.Serial)
	}
	if version != ex.VersionID {
		t.Errorf("status version %s, current version %s", ex.VersionID, version)
	}
	return version
}

// renewAndWaitReexported moves the clock past the renewal time, waits for the new certificate's
// serial in status and in the export, and returns the site as last read.
func (x *exportSteps) renewAndWaitReexported(s *v1alpha1.SecureSite) *v1alpha1.SecureSite {
	e, ns := x.e, x.ns
	oldSerial := s.Status.Certificate.SerialNumber
	e.startRenewal(ns, "api", s.Status.Certificate.RenewalTime.Time, oldSerial)
	e.eventually(90*time.Second, "renewed and re-exported", func() string {
		s = e.get(ns, "api")
		if s.Status.Certificate.SerialNumber == oldSerial || s.Status.Certificate.Export == nil || s.Status.Certificate.Export.Serial != s.Status.Certificate.SerialNumber {
			return "serial " + s.Status.Certificate.SerialNumber
		}
		return ""
	})
	return s
}

// backendAgent is securesite-agent on the backend server: its files, its reload counter, and
// pebble's roots as the CA it verifies the chain to.
type backendAgent struct {
	t                         *testing.T
	bin, dir, caFile, counter string
	awsURL                    string
}

func (x *exportSteps) newBackendAgent() *backendAgent {
	t := x.t
	agent := &backendAgent{t: t, bin: buildAgent(t), dir: t.TempDir(), awsURL: x.e.w.AWS.URL}
	// The agent verifies the chain to its roots: pebble's, made at its start.
	roots, err := x.e.w.Pebble.RootCAs(x.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rootsPEM []byte
	for _, c := range roots {
		rootsPEM = append(rootsPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	agent.caFile = filepath.Join(agent.dir, "pebble-roots.pem")
	if err := os.WriteFile(agent.caFile, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	agent.counter = filepath.Join(agent.dir, "reloads")
	return agent
}

func (a *backendAgent) keyFile() string { return filepath.Join(a.dir, "privkey.pem") }

func (a *backendAgent) run() {
	cmd := exec.Command(a.bin, "--secret-id", "securesite/infra.export.test", "--region", "us-east-1", "--endpoint-url", a.awsURL,
		"--cert-file", filepath.Join(a.dir, "fullchain.pem"), "--key-file", a.keyFile(),
		"--reload-command", "echo reload >> "+a.counter, "--ca-file", a.caFile, "--expect-dns-name", "infra.export.test")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		a.t.Fatalf("agent failed: %v\n%s", err, out)
	}
}

func (a *backendAgent) reloads() int {
	b, _ := os.ReadFile(a.counter)
	return strings.Count(string(b), "reload")
}

// firstRunInstallsTheKeyAndReloads: the first run installs the Secret's key, not readable by
// others, and reloads once. It returns the installed key.
func (a *backendAgent) firstRunInstallsTheKeyAndReloads(wantKey []byte) []byte {
	t := a.t
	a.run()
	key, _ := os.ReadFile(a.keyFile())
	if !bytes.Equal(key, wantKey) || a.reloads() != 1 {
		t.Fatalf("first agent run: key matches=%v, reloads=%d", bytes.Equal(key, wantKey), a.reloads())
	}
	if fi, _ := os.Stat(a.keyFile()); fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("key is world-accessible: %v", fi.Mode())
	}
	return key
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
