// Package logsample thins out repeated log lines as zap's production sampler does (controller-
// runtime's logger at its default level: per message and level, the first 100 lines of each second,
// then every 100th), with a counter table sized for a controller's few dozen distinct messages.
// zap's sampler keeps 4,096 counters for each of its 7 levels, 448 KiB for the process's life,
// more than the rest of the logger and the Kubernetes client's API scheme together.
package logsample

import (
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// countersPerLevel: messages whose hashes meet in one counter share one budget. With the
// manager's few dozen log messages a collision is rare, and it only thins lines out sooner: a
// counter never lets through more than first lines, then every thereafter-th, per tick.
const countersPerLevel = 256

const (
	minLevel  = zapcore.DebugLevel
	maxLevel  = zapcore.FatalLevel
	numLevels = maxLevel - minLevel + 1
)

type counter struct {
	resetAt atomic.Int64
	n       atomic.Uint64
}

// incCheckReset counts a line at t and returns its number in the current tick.
func (c *counter) incCheckReset(t time.Time, tick time.Duration) uint64 {
	now := t.UnixNano()
	resetAt := c.resetAt.Load()
	if resetAt > now {
		return c.n.Add(1)
	}
	c.n.Store(1)
	if !c.resetAt.CompareAndSwap(resetAt, now+tick.Nanoseconds()) {
		// Another line reset the counter at the same moment; this one counts after it.
		return c.n.Add(1)
	}
	return 1
}

// core samples the lines of the core it wraps; cores made by With share its counters.
type core struct {
	zapcore.Core
	tick              time.Duration
	first, thereafter uint64
	counts            *[numLevels][countersPerLevel]counter
}

// New wraps c so that of the lines with the same level and message in each tick, the first are
// logged and after them every thereafter-th (thereafter 0: none).
func New(c zapcore.Core, tick time.Duration, first, thereafter uint64) zapcore.Core {
	return &core{Core: c, tick: tick, first: first, thereafter: thereafter, counts: new([numLevels][countersPerLevel]counter)}
}

func (s *core) With(fields []zapcore.Field) zapcore.Core {
	return &core{Core: s.Core.With(fields), tick: s.tick, first: s.first, thereafter: s.thereafter, counts: s.counts}
}

func (s *core) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !s.Enabled(ent.Level) {
		return ce
	}
	if ent.Level >= minLevel && ent.Level <= maxLevel {
		n := s.counts[ent.Level-minLevel][fnv32a(ent.Message)%countersPerLevel].incCheckReset(ent.Time, s.tick)
		if n > s.first && (s.thereafter == 0 || (n-s.first)%s.thereafter != 0) {
			return ce
		}
	}
	return s.Core.Check(ent, ce)
}

// Level reports the wrapped core's level (zap asks a core for it when one is wrapped).
func (s *core) Level() zapcore.Level { return zapcore.LevelOf(s.Core) }

// fnv32a is FNV-1a over the message, without converting it to bytes.
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Logger is controller-runtime's logger for the --zap-* flags in o, with zap's sampler, where
// controller-runtime adds one (production mode at levels above debug-2), replaced by New's with
// the same settings: one second, the first 100, then every 100th.
func Logger(o *crzap.Options) logr.Logger {
	var base zapcore.Core
	raw := crzap.NewRaw(crzap.UseFlagOptions(o), crzap.RawZapOpts(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		base = c // the encoding core, before controller-runtime wraps it in its sampler
		return c
	})))
	if raw.Core() != base {
		// Only the core changes: the logger keeps its error output, stack traces and caller.
		raw = raw.WithOptions(zap.WrapCore(func(zapcore.Core) zapcore.Core { return New(base, time.Second, 100, 100) }))
	}
	return zapr.NewLogger(raw)
}
