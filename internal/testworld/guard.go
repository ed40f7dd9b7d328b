package testworld

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// GuardEnv marks the processes a test binary starts for its world. Tests stop what they start
// in t.Cleanup; the guard covers the ways a test binary ends without running its cleanups (a
// -timeout panic, a panic in TestMain, os.Exit, kill -9).
const GuardEnv = "SECURESITE_WORLD_GUARD"

// guardScript waits until the test binary's end of its stdin pipe closes, which happens however
// the binary ends, then kills every process still marked with the binary's token. It reads
// /proc/<pid>/environ, the environment a process started with, so a process is marked when it
// was started after guardWorld and inherited this binary's environment (exec.Cmd with Env nil
// or built from os.Environ(), which is how envtest, kumo, pebble and the manager are started).
const guardScript = `cat >/dev/null
for d in /proc/[0-9]*; do
  if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "$1=$2"; then kill -9 "${d#/proc/}" 2>/dev/null; fi
done`

var guard struct {
	once sync.Once
	// keep holds the write end of the guard's stdin for the life of the binary.
	keep *os.File
	err  error
}

// guardWorld starts the guard once per test binary and marks this binary's environment, so every
// process started afterwards carries the mark. Call it before starting a world process.
func guardWorld() error {
	guard.once.Do(func() {
		token := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
		r, w, err := os.Pipe()
		if err != nil {
			guard.err = err
			return
		}
		cmd := exec.Command("/bin/sh", "-c", guardScript, "guard", GuardEnv, token)
		cmd.Stdin = r
		// Not marked itself, and in its own process group so that a Ctrl-C to the test run
		// does not stop it before it has cleaned up.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, GuardEnv+"=") })
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			guard.err = fmt.Errorf("starting the test world guard: %w", err)
			return
		}
		_ = r.Close()
		guard.keep = w
		// Reap it if it ever ends while the binary runs (it should not).
		go func() { _ = cmd.Wait() }()
		guard.err = os.Setenv(GuardEnv, token)
	})
	return guard.err
}
