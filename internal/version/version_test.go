package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStampedVersion builds the manager the way release builds do (-ldflags -X) and checks that
// --version reports exactly what was stamped, so the Makefile's and the Dockerfile's flags reach
// the binary.
func TestStampedVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "manager")
	pkg := "github.com/securesite-io/securesite/internal/version"
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X "+pkg+".Version=v9.8.7 -X "+pkg+".Revision=0123abcd", ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("manager --version: %v\n%s", err, out)
	}
	want := "securesite v9.8.7 (revision 0123abcd, " + runtime.Version() + ")"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("manager --version = %q, want %q", got, want)
	}
}

func TestUnstampedVersion(t *testing.T) {
	Version, Revision = "", ""
	got := Get()
	if got.Version == "" || got.Revision == "" || got.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v: an unstamped build still names a version and revision", got)
	}
}
