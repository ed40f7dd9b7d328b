// Package testworld starts the offline test world on loopback ports for tests: the Kubernetes API
// server and etcd (through envtest), an AWS emulator (kumo or moto, see EmulatorName), pebble (the
// ACME CA) and a DNS server answering from the emulator's Route53. The binaries come from bin/,
// built by hack/build-world.sh; moto_server comes from PATH.
package testworld

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// BinDir returns the project's bin/ directory, where hack/build-world.sh puts the test world.
// SECURESITE_BIN overrides it.
func BinDir() string {
	if d := os.Getenv("SECURESITE_BIN"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bin")
}

// ProjectRoot returns the repository root.
func ProjectRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the path of a test-world binary, or an error that says how to build it.
// Every process started from it is stopped when the test binary ends (see guardWorld).
func Binary(name string) (string, error) {
	if err := guardWorld(); err != nil {
		return "", err
	}
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("test world binary %s missing: run `make test-world` (hack/build-world.sh) first", p)
	}
	return p, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ControllerLogWriter is where tests that run the controller in-process send its log: a file in
// $SECURESITE_TEST_LOGS when set, else nowhere (the events and status the tests assert on say
// what happened).
func ControllerLogWriter() io.Writer {
	if dir := os.Getenv("SECURESITE_TEST_LOGS"); dir != "" {
		_ = os.MkdirAll(dir, 0o755)
		if f, err := os.OpenFile(filepath.Join(dir, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			return f
		}
	}
	return io.Discard
}

// Parallel runs f(0..n-1) on the given number of goroutines (creating many sites at once).
func Parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// CountDiff returns after − before per key, dropping zeros (metric counts around an action).
func CountDiff(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
