// Package badinput applies a corpus of invalid and hostile SecureSite manifests to a real API
// server and a running manager, and checks that each is refused or reported, and that none of
// them costs anything: no write to AWS, no hot loop, no crash, no record or Secret of someone else
// touched, no private key in status, events or logs.
package badinput

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld"
)

const (
	ns      = "badinput"
	ownerNS = "claimowner"
	// quietWindow is how long settled bad sites are watched for reconciles nobody asked for.
	quietWindow = 10 * time.Second
	// maxQuietReconciles bounds reconciles per reported site in the quiet window: a settled site
	// should see none, a resync may land in the window once.
	maxQuietReconciles = 2
)

// expectation is the first line of a corpus file:
//
//	# expect: refused <substring of the API server's message>
//	# expect: stalled <Reason> <substring of the Stalled message>
//	# expect: condition <Type>=<Status> <Reason> [<substring of the message>]
type expectation struct {
	kind    string
	typ     string
	status  metav1.ConditionStatus
	reason  string
	message string
}

type corpusCase struct {
	file     string
	name     string // metadata.name
	manifest []byte
	want     expectation
}

func loadCorpus(t *testing.T, vars map[string]string) []corpusCase {
	t.Helper()
	files, err := filepath.Glob("corpus/*.yaml")
	if err != nil || len(files) < 40 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	var out []corpusCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for k, v := range vars {
			text = strings.ReplaceAll(text, "${"+k+"}", v)
		}
		first, _, _ := strings.Cut(text, "\n")
		rest, ok := strings.CutPrefix(first, "# expect: ")
		if !ok {
			t.Fatalf("%s: first line must be '# expect: ...', got %q", f, first)
		}
		c := corpusCase{file: filepath.Base(f), manifest: []byte(text)}
		kind, args, _ := strings.Cut(rest, " ")
		c.want.kind = kind
		switch kind {
		case "refused":
			c.want.message = args
		case "stalled":
			c.want.typ, c.want.status = v1alpha1.ConditionStalled, metav1.ConditionTrue
			c.want.reason, c.want.message, _ = strings.Cut(args, " ")
		case "condition":
			cond, more, _ := strings.Cut(args, " ")
			typ, status, _ := strings.Cut(cond, "=")
			c.want.typ, c.want.status = typ, metav1.ConditionStatus(status)
			c.want.reason, c.want.message, _ = strings.Cut(more, " ")
		default:
			t.Fatalf("%s: unknown expectation %q", f, kind)
		}
		if c.want.kind != "refused" && (c.want.typ == "" || c.want.reason == "") {
			t.Fatalf("%s: incomplete expectation %q", f, rest)
		}
		var obj struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(c.manifest, &obj); err != nil || obj.Metadata.Name == "" {
			t.Fatalf("%s: no metadata.name (%v)", f, err)
		}
		c.name = obj.Metadata.Name
		out = append(out, c)
	}
	return out
}

func TestBadInputCorpus(t *testing.T) {
	b := startBadInputWorld(t)
	b.createWhatHostileSitesGoAfter()
	before := b.snapshotOthers()

	corpus := loadCorpus(t, map[string]string{"ZONE_BAD": b.zoneBad, "ZONE_OTHER": b.zoneOther})
	applied := applyAll(t, b.w.Kubeconfig, corpus)
	reported := b.checkRefusedOrReported(corpus, applied)

	b.checkNoAWSWrites(before.writes)
	b.checkQuietOnceSettled(len(reported))
	b.checkOthersUntouched(before)
	b.checkStillServesAGoodSite()
	checkNoKeyLeaks(t, b.ctx, b.k8s, b.w.Kubeconfig, b.m.log.String())
}

// badInputWorld is the test world, a running manager, and the zones the corpus aims at.
type badInputWorld struct {
	t   *testing.T
	ctx context.Context
	w   *testworld.World
	k8s client.Client
	// r53 is an uncounted Route53 client, as a human with the console: the counters see only the controller.
	r53                *route53.Client
	zoneBad, zoneOther string
	m                  *manager
}

func startBadInputWorld(t *testing.T) *badInputWorld {
	ctx := context.Background()
	w := testworld.Start(t)
	k8s, err := client.New(w.RESTConfig, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{controllerNamespace, ns, ownerNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	r53 := route53.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.AWS.URL),
	})
	b := &badInputWorld{t: t, ctx: ctx, w: w, k8s: k8s, r53: r53}
	b.zoneBad = w.CreateHostedZone(ctx, "bad.test")
	b.zoneOther = w.CreateHostedZone(ctx, "other.test")
	b.m = startManager(t, w)
	return b
}

func (b *badInputWorld) good(namespace, name, domain string, mutate func(*v1alpha1.SecureSite)) {
	s := &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: v1alpha1.SecureSiteSpec{Domain: domain}}
	mutate(s)
	if err := b.k8s.Create(b.ctx, s); err != nil {
		b.t.Fatal(err)
	}
}

// createWhatHostileSitesGoAfter: a record and a certificate of a site in another namespace, a
// record nobody manages, a neighbour's certificate Secret and an unmanaged Secret; the two good
// sites Ready.
func (b *badInputWorld) createWhatHostileSitesGoAfter() {
	t := b.t
	b.good(ownerNS, "owner", "claimed.bad.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "api.claimed.bad.test", Address: "203.0.113.5"}
		s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
	})
	// Issued by the ACME CA, so the hygiene check covers lego's logs too.
	b.good(ns, "neighbour", "neighbour.bad.test", func(*v1alpha1.SecureSite) {})
	handWrite(t, b.r53, b.zoneBad, "legacy.bad.test", "198.51.100.1")
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses-tls"},
		Data:       map[string][]byte{"token": []byte("not yours")},
	}
	if err := b.k8s.Create(b.ctx, foreign); err != nil {
		t.Fatal(err)
	}
	for _, key := range []client.ObjectKey{{Namespace: ownerNS, Name: "owner"}, {Namespace: ns, Name: "neighbour"}} {
		waitFor(t, 90*time.Second, key.String()+" Ready", func() string {
			return conditionMismatch(b.ctx, b.k8s, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "", "")
		})
	}
}

// othersBefore is what the corpus must leave as it is: the zone's records, the Secrets of others
// (by resourceVersion), and the AWS writes counted so far.
type othersBefore struct {
	records []string
	secrets map[string]string
	writes  map[string]float64
}

func (b *badInputWorld) snapshotOthers() othersBefore {
	time.Sleep(time.Second) // lets the last status write and its events settle before counting
	before := othersBefore{records: zoneRecords(b.t, b.r53, b.zoneBad), secrets: map[string]string{}}
	for _, key := range []client.ObjectKey{{Namespace: ns, Name: "someone-elses-tls"}, {Namespace: ns, Name: "neighbour-tls"}, {Namespace: ownerNS, Name: "owner-tls"}} {
		sec := &corev1.Secret{}
		if err := b.k8s.Get(b.ctx, key, sec); err != nil {
			b.t.Fatal(err)
		}
		before.secrets[key.String()] = sec.ResourceVersion
	}
	before.writes = awsWrites()
	return before
}

// checkRefusedOrReported: each manifest expected refused was refused at apply with its message
// and left no object; each other one was accepted and reports its condition. It returns those.
func (b *badInputWorld) checkRefusedOrReported(corpus []corpusCase, applied map[string]applyResult) []corpusCase {
	t := b.t
	var refused, stalledN, conditions int
	var reported []corpusCase
	for _, c := range corpus {
		out, err := applied[c.file].out, applied[c.file].err
		switch c.want.kind {
		case "refused":
			refused++
			b.checkRefused(c, out, err)
		default:
			if c.want.kind == "stalled" {
				stalledN++
			} else {
				conditions++
			}
			if err != nil {
				t.Errorf("%s: refused by the API server, want %s %s=%s: %s", c.file, c.want.kind, c.want.typ, c.want.status, out)
				continue
			}
			reported = append(reported, c)
		}
	}
	for _, c := range reported {
		key := client.ObjectKey{Namespace: ns, Name: c.name}
		waitFor(t, 60*time.Second, c.file, func() string {
			return conditionMismatch(b.ctx, b.k8s, key, c.want.typ, c.want.status, c.want.reason, c.want.message)
		})
	}
	t.Logf("corpus: %d manifests: %d refused at apply, %d reported Stalled, %d reported as conditions", len(corpus), refused, stalledN, conditions)
	return reported
}

func (b *badInputWorld) checkRefused(c corpusCase, out string, err error) {
	t := b.t
	if err == nil {
		t.Errorf("%s: accepted by the API server, want refused with %q", c.file, c.want.message)
		return
	}
	if !strings.Contains(out, c.want.message) {
		t.Errorf("%s: refused, but the message lacks %q:\n%s", c.file, c.want.message, out)
	}
	if err := b.k8s.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: c.name}, &v1alpha1.SecureSite{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s: refused, yet the object is there (get: %v)", c.file, err)
	}
}

// checkNoAWSWrites: nothing the corpus asked for reached AWS as a write.
func (b *badInputWorld) checkNoAWSWrites(writesBefore map[string]float64) {
	diff := testworld.CountDiff(awsWrites(), writesBefore)
	b.t.Logf("AWS writes caused by the corpus: %d operation(s) %v", len(diff), diff)
	if len(diff) > 0 {
		b.t.Errorf("AWS writes while the corpus was applied and reported: %v", diff)
	}
}

// checkQuietOnceSettled: no hot loop: reported sites stay quiet once settled.
func (b *badInputWorld) checkQuietOnceSettled(reported int) {
	t := b.t
	time.Sleep(2 * time.Second)
	before := reconcileMetrics()
	time.Sleep(quietWindow)
	after := reconcileMetrics()
	quiet := after.total - before.total
	t.Logf("quiet window %s: %.0f reconcile(s) for %d reported and 2 good sites, %.0f error(s), %.0f panic(s)",
		quietWindow, quiet, reported, after.errors-before.errors, after.panics)
	if quiet > float64(maxQuietReconciles*(reported+2)) {
		t.Errorf("%.0f reconciles in a %s quiet window: a bad site is looping", quiet, quietWindow)
	}
	if after.errors != before.errors {
		t.Errorf("%.0f reconcile errors in the quiet window: bad input must be reported, not retried", after.errors-before.errors)
	}
	if after.panics > 0 {
		t.Errorf("%.0f reconcile panic(s)", after.panics)
	}
}

// checkOthersUntouched: nobody else's record or Secret changed.
func (b *badInputWorld) checkOthersUntouched(before othersBefore) {
	t := b.t
	if got := zoneRecords(t, b.r53, b.zoneBad); !equalRecords(before.records, got) {
		t.Errorf("zone bad.test changed:\nbefore %v\nafter  %v", before.records, got)
	}
	for key, rv := range before.secrets {
		namespace, name, _ := strings.Cut(key, "/")
		sec := &corev1.Secret{}
		if err := b.k8s.Get(b.ctx, client.ObjectKey{Namespace: namespace, Name: name}, sec); err != nil || sec.ResourceVersion != rv {
			t.Errorf("Secret %s changed (resourceVersion %s → %s, %v)", key, rv, sec.ResourceVersion, err)
		}
	}
}

// checkStillServesAGoodSite: still alive: a good site applied after the corpus is served.
func (b *badInputWorld) checkStillServesAGoodSite() {
	if !b.m.running() {
		b.t.Fatal("manager stopped")
	}
	b.good(ns, "alive", "alive.bad.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "api.alive.bad.test", Address: "203.0.113.77"}
		s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
	})
	waitFor(b.t, 30*time.Second, "site after the corpus Ready", func() string {
		return conditionMismatch(b.ctx, b.k8s, client.ObjectKey{Namespace: ns, Name: "alive"}, v1alpha1.ConditionReady, metav1.ConditionTrue, "", "")
	})
}

type applyResult struct {
	out string
	err error
}

// applyAll runs `kubectl apply` on every manifest, a few at a time, as a user would.
func applyAll(t *testing.T, kubeconfig string, corpus []corpusCase) map[string]applyResult {
	t.Helper()
	var mu sync.Mutex
	results := map[string]applyResult{}
	jobs := make(chan corpusCase)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for c := range jobs {
				cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "apply", "-n", ns, "-f", "-")
				cmd.Stdin = bytes.NewReader(c.manifest)
				out, err := cmd.CombinedOutput()
				mu.Lock()
				results[c.file] = applyResult{out: string(out), err: err}
				mu.Unlock()
			}
		})
	}
	for _, c := range corpus {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	return results
}

func conditionMismatch(ctx context.Context, k8s client.Client, key client.ObjectKey, typ string, status metav1.ConditionStatus, reason, message string) string {
	s := &v1alpha1.SecureSite{}
	if err := k8s.Get(ctx, key, s); err != nil {
		return err.Error()
	}
	c := meta.FindStatusCondition(s.Status.Conditions, typ)
	if c == nil {
		return typ + " missing"
	}
	if c.Status != status || (reason != "" && c.Reason != reason) || !strings.Contains(c.Message, message) {
		return fmt.Sprintf("%s=%s %s: %s (want %s=%s %s %q)", c.Type, c.Status, c.Reason, c.Message, typ, status, reason, message)
	}
	return ""
}

func waitFor(t *testing.T, timeout time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := check()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func handWrite(t *testing.T, r53 *route53.Client, zoneID, name, value string) {
	t.Helper()
	_, err := r53.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(name), Type: r53types.RRTypeA, TTL: aws.Int64(300),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}},
		}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// zoneRecords renders a zone as sorted "TYPE name value,value" lines.
func zoneRecords(t *testing.T, r53 *route53.Client, zoneID string) []string {
	t.Helper()
	out, err := r53.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, rs := range out.ResourceRecordSets {
		var vals []string
		for _, r := range rs.ResourceRecords {
			vals = append(vals, aws.ToString(r.Value))
		}
		lines = append(lines, fmt.Sprintf("%s %s %s", rs.Type, aws.ToString(rs.Name), strings.Join(vals, ",")))
	}
	sort.Strings(lines)
	return lines
}

func equalRecords(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// awsWrites counts every AWS call that changes something, by "service operation": reads are
// Get*, List*, Head* and Describe*.
func awsWrites() map[string]float64 {
	out := map[string]float64{}
	for _, c := range awsclient.CallSamples() {
		op := c.Operation
		if strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Head") || strings.HasPrefix(op, "Describe") {
			continue
		}
		out[c.Service+" "+op] += c.Count
	}
	return out
}

type reconcileCounts struct{ total, errors, panics float64 }

// reconcileMetrics reads controller-runtime's own counters for the SecureSite controller.
func reconcileMetrics() reconcileCounts {
	families, _ := ctrlmetrics.Registry.Gather()
	var c reconcileCounts
	for _, f := range families {
		for _, m := range f.GetMetric() {
			ours := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "securesite" {
					ours = true
				}
			}
			if !ours {
				continue
			}
			switch f.GetName() {
			case "controller_runtime_reconcile_total":
				c.total += m.GetCounter().GetValue()
			case "controller_runtime_reconcile_errors_total":
				c.errors += m.GetCounter().GetValue()
			case "controller_runtime_reconcile_panics_total":
				c.panics += m.GetCounter().GetValue()
			}
		}
	}
	return c
}

// checkNoKeyLeaks looks for the private keys of the certificates issued in this test in what
// users and log collectors see: SecureSites, events and the manager's log.
func checkNoKeyLeaks(t *testing.T, ctx context.Context, k8s client.Client, kubeconfig, managerLog string) {
	t.Helper()
	out, err := exec.Command("kubectl", "--kubeconfig", kubeconfig, "get", "securesites,events", "-A", "-o", "yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get: %v\n%s", err, out)
	}
	haystacks := map[string]string{"kubectl get securesites,events": string(out), "manager log": managerLog}
	secrets := &corev1.SecretList{}
	if err := k8s.List(ctx, secrets); err != nil {
		t.Fatal(err)
	}
	var needles []string
	// Every private key in any Secret: the sites' TLS keys and the ACME account key.
	for _, s := range secrets.Items {
		for _, v := range s.Data {
			block, _ := pem.Decode(v)
			if block == nil || !strings.Contains(block.Type, "PRIVATE KEY") {
				continue
			}
			// The PEM body is base64 of these bytes; 40 characters of it are unique enough.
			needles = append(needles, base64.StdEncoding.EncodeToString(v), base64.StdEncoding.EncodeToString(block.Bytes)[:40])
		}
	}
	if len(needles) < 4 {
		t.Fatalf("only %d key fingerprints: the good sites did not get certificates", len(needles))
	}
	for where, text := range haystacks {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s contains a PEM private key", where)
		}
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("%s contains private key bytes (%s…)", where, n[:12])
			}
		}
	}
	t.Logf("secrets hygiene: %d key fingerprints checked against %d bytes of objects and events and %d bytes of manager log",
		len(needles), len(out), len(managerLog))
}
