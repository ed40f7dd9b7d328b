package testworld

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test binary that dies without running its cleanups (here: os.Exit right after starting kumo,
// as a -timeout panic would) leaves no world process behind: the guard stops it.
func TestGuardStopsTheWorldOfADeadTestBinary(t *testing.T) {
	if os.Getenv("TESTWORLD_GUARD_CHILD") == "1" {
		k, err := StartNamedEmulator(Kumo, "")
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("kumo " + strconv.Itoa(k.cmd.Process.Pid) + "\n")
		os.Exit(3) // no k.Stop(), no cleanups
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardStopsTheWorldOfADeadTestBinary$")
	cmd.Env = append(os.Environ(), "TESTWORLD_GUARD_CHILD=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child test binary: %v (output %q)", err, out)
	}
	pid := 0
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "kumo "); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("child did not report kumo's pid: %q", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("kumo (pid %d) outlived the test binary that started it", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting to be reaped does not count).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
