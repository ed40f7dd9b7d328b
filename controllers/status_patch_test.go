package controllers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// TestPassThatChangesNothingSendsNoStatusPatch: a pass whose status comes out as it was read
// sends no status patch (an empty one still costs the API server a whole status update), and a
// pass that changes status still writes it.
func TestPassThatChangesNothingSendsNoStatusPatch(t *testing.T) {
	e := startEnvWithoutTimedWakes(t)
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "quiet.test")
	ns := e.namespace("quiet")
	e.create(backendSite(ns, "quiet", "quiet.test", "api.quiet.test", "203.0.113.60"))
	e.waitCondition(ns, "quiet", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	e.waitIdle(10 * time.Second)

	// An annotation edit wakes the site; nothing it reports changes.
	patches, passes := e.statusPatches(), sitePasses(t)
	e.poke(ns, "quiet")
	e.eventually(15*time.Second, "a pass after the annotation edit", func() string {
		if got := sitePasses(t); got <= passes {
			return fmt.Sprintf("%g passes since the edit", got-passes)
		}
		return ""
	})
	e.waitIdle(10 * time.Second)
	if got := e.statusPatches() - patches; got != 0 {
		t.Errorf("%g status patches from a pass that changed nothing, want 0", got)
	}

	// A spec edit changes what status reports (observedGeneration, the record): it is written.
	patches = e.statusPatches()
	e.update(ns, "quiet", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "203.0.113.61" })
	e.eventually(15*time.Second, "status of the edited site", func() string {
		s := e.get(ns, "quiet")
		if s.Status.ObservedGeneration != s.Generation || len(s.Status.DNS.Records) != 1 || s.Status.DNS.Records[0].Value != "203.0.113.61" {
			return fmt.Sprintf("observedGeneration %d of %d, records %+v", s.Status.ObservedGeneration, s.Generation, s.Status.DNS.Records)
		}
		return ""
	})
	if got := e.statusPatches() - patches; got < 1 {
		t.Errorf("%g status patches after a spec edit, want at least 1", got)
	}
}

// waitIdle waits until the site controller has no work: nothing queued, no busy worker.
func (e *env) waitIdle(timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, "the site controller idle", func() string {
		if d, w := queueDepth(e.t), siteMetric(e.t, "controller_runtime_active_workers", "controller"); d != 0 || w != 0 {
			return fmt.Sprintf("queue depth %g, busy workers %g", d, w)
		}
		return ""
	})
}

var statusPatchSeries = regexp.MustCompile(`^apiserver_request_total\{[^}]*\}\s+(\S+)$`)

// statusPatches counts the PATCH requests for securesites/status the world's API server has
// answered (its own apiserver_request_total, all response codes).
func (e *env) statusPatches() float64 {
	e.t.Helper()
	hc, err := rest.HTTPClientFor(e.w.RESTConfig)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(e.w.RESTConfig.Host, "/") + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var n float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		m := statusPatchSeries.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, `resource="securesites"`) || !strings.Contains(line, `subresource="status"`) || !strings.Contains(line, `verb="PATCH"`) {
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			e.t.Fatal(err)
		}
		n += v
	}
	return n
}
