package logsample

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/securesite-io/securesite/internal/testworld"
)

// TestSamplingPerMessageAndTick: of 1,000 identical lines in one second the first 100 and then
// every 100th are logged; another message has its own budget; the next second starts afresh.
func TestSamplingPerMessageAndTick(t *testing.T) {
	obs, logs := observer.New(zapcore.InfoLevel)
	c := New(obs, time.Second, 100, 100)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	write := func(msg string, n int, when time.Time) {
		for range n {
			ent := zapcore.Entry{Level: zapcore.InfoLevel, Message: msg, Time: when}
			if ce := c.Check(ent, nil); ce != nil {
				ce.Write()
			}
		}
	}
	write("reconciling", 1000, at)
	write("zone listed", 50, at.Add(500*time.Millisecond))
	if got := logs.FilterMessage("reconciling").Len(); got != 109 {
		t.Errorf("1,000 identical lines in one second: %d logged, want 100 + 9", got)
	}
	if got := logs.FilterMessage("zone listed").Len(); got != 50 {
		t.Errorf("another message's 50 lines: %d logged, want all", got)
	}
	write("reconciling", 10, at.Add(1100*time.Millisecond))
	if got := logs.FilterMessage("reconciling").Len(); got != 119 {
		t.Errorf("after the tick: %d logged in all, want 109 + 10", got)
	}
	if ce := c.With(nil).Check(zapcore.Entry{Level: zapcore.DebugLevel, Message: "debug line", Time: at}, nil); ce != nil {
		t.Error("a debug line passes a core at info level")
	}
}

// TestLoggerAsControllerRuntimes: the manager's logger writes what controller-runtime's does
// (same JSON fields), samples at the default level as it did, and not in development mode.
func TestLoggerAsControllerRuntimes(t *testing.T) {
	var ours, theirs bytes.Buffer
	Logger(&crzap.Options{DestWriter: &ours}).WithName("acme").Info("order ready", "site", "a/b")
	crzap.New(crzap.WriteTo(&theirs)).WithName("acme").Info("order ready", "site", "a/b")
	if k1, k2 := jsonKeys(t, ours.String()), jsonKeys(t, theirs.String()); k1 != k2 {
		t.Errorf("fields %s, controller-runtime's %s", k1, k2)
	}

	for _, c := range []struct {
		name string
		o    crzap.Options
		want int
	}{{"production", crzap.Options{}, 109}, {"development", crzap.Options{Development: true}, 1000}} {
		var out bytes.Buffer
		c.o.DestWriter = &out
		log := Logger(&c.o)
		for range 1000 {
			log.Info("requeue")
		}
		if got := strings.Count(out.String(), "requeue"); got != c.want {
			t.Errorf("%s: 1,000 identical lines at once: %d logged, want %d", c.name, got, c.want)
		}
	}
}

// TestLoggerHoldsLittle: the logger holds far less than controller-runtime's, whose sampler
// alone keeps 448 KiB of counters.
func TestLoggerHoldsLittle(t *testing.T) {
	var sink bytes.Buffer
	// One of each first: what they share (encoder pools, package state) is not counted.
	Logger(&crzap.Options{DestWriter: &sink}).Info("warm")
	crzap.New(crzap.WriteTo(&sink)).Info("warm")
	before := testworld.LiveHeap()
	ours := Logger(&crzap.Options{DestWriter: &sink})
	mid := testworld.LiveHeap()
	theirs := crzap.New(crzap.WriteTo(&sink))
	after := testworld.LiveHeap()
	runtime.KeepAlive(ours)
	runtime.KeepAlive(theirs)
	held, theirsHeld := int64(mid)-int64(before), int64(after)-int64(mid)
	t.Logf("logger holds %d B; controller-runtime's %d B", held, theirsHeld)
	if held > 64<<10 || theirsHeld < 400<<10 {
		t.Errorf("logger holds %d B, want ≤ 64 KiB (controller-runtime's: %d B)", held, theirsHeld)
	}
}

// jsonKeys lists the fields of a JSON log line, sorted.
func jsonKeys(t *testing.T, line string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not a JSON line: %q", line)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}
