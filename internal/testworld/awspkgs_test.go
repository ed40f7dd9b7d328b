package testworld

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// startsAnEmulator matches the calls through which a test starts an AWS emulator.
var startsAnEmulator = regexp.MustCompile(`\btestworld\.Start\(|\b(StartEmulator|StartNamedEmulator|RunWithEmulator)\(`)

// notRunOnMoto are test packages that start an emulator but are left out of AWS_PKGS, and why.
var notRunOnMoto = map[string]string{
	// Benchmarks: they skip without their SECURESITE_BENCH_* variables, so `make test` runs
	// nothing there; `make bench-idle` runs the idle benchmark on both emulators.
	"test/bench": "benchmarks",
}

// TestEveryAWSFacingPackageRunsOnMoto: the project runs every AWS-facing test on kumo and again
// on moto. `make test` takes the moto packages from the Makefile's AWS_PKGS, so a new package
// that starts an emulator and is not listed there would run on kumo only, unnoticed.
func TestEveryAWSFacingPackageRunsOnMoto(t *testing.T) {
	root := filepath.Join("..", "..")
	listed := awsPackages(t, filepath.Join(root, "Makefile"))
	for _, dir := range packagesStartingAnEmulator(t, root) {
		if _, ok := notRunOnMoto[dir]; ok {
			continue
		}
		if !slices.ContainsFunc(listed, func(p string) bool { return dir == p || strings.HasPrefix(dir, p+"/") }) {
			t.Errorf("%s starts an AWS emulator in its tests but is not in the Makefile's AWS_PKGS (%v): `make test` would run it on kumo only", dir, listed)
		}
	}
}

// awsPackages reads AWS_PKGS from the Makefile as directories ("./x/..." → "x").
func awsPackages(t *testing.T, makefile string) []string {
	t.Helper()
	b, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^AWS_PKGS :=((?:.*\\\n)*.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no AWS_PKGS in the Makefile")
	}
	var dirs []string
	for _, f := range strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " ")) {
		dirs = append(dirs, strings.TrimSuffix(strings.TrimPrefix(f, "./"), "/..."))
	}
	return dirs
}

// packagesStartingAnEmulator lists the directories (relative to root) whose test files start an
// emulator.
func packagesStartingAnEmulator(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "vendor") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		if startsAnEmulator.Match(src) && !slices.Contains(dirs, filepath.ToSlash(dir)) {
			dirs = append(dirs, filepath.ToSlash(dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 5 {
		t.Fatalf("found only %v starting an emulator: the pattern no longer matches the test world's calls", dirs)
	}
	return dirs
}
