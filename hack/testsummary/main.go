// Command testsummary reads `go test -json` output (mixed with other lines) on stdin and prints a
// readable log: non-JSON lines as they are, the output of failed tests, and a summary with every
// skipped test and its reason.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// summary collects the results while the log streams by.
type summary struct {
	output                  map[string][]string // package/test → lines
	passed, failed, skipped []string
	skipReasons             map[string]string
	pkgResults              map[string]string
	pkgElapsed              map[string]float64
	// warnings are repeated at the very end, where they are seen.
	warnings []string
}

func main() {
	s := &summary{output: map[string][]string{}, skipReasons: map[string]string{}, pkgResults: map[string]string{}, pkgElapsed: map[string]float64{}}
	// `make test` runs the suites once per AWS emulator and says which before each run; results
	// are kept apart by emulator.
	emulator := ""
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
			fmt.Println(line)
			if name, ok := strings.CutPrefix(line, "=== AWS emulator: "); ok {
				emulator = "[" + strings.TrimSpace(name) + "] "
			}
			if strings.HasPrefix(line, "WARNING:") {
				s.warnings = append(s.warnings, line)
			}
			continue
		}
		e.Package = emulator + e.Package
		s.add(e)
	}
	s.print()
}

func (s *summary) add(e event) {
	key := e.Package + " " + e.Test
	switch e.Action {
	case "output":
		s.output[key] = append(s.output[key], e.Output)
		if e.Test == "" && (strings.HasPrefix(e.Output, "ok") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "---")) {
			fmt.Print(e.Output)
		}
	case "pass":
		if e.Test != "" {
			s.passed = append(s.passed, key)
		} else {
			s.pkgResults[e.Package] = "ok"
			s.pkgElapsed[e.Package] = e.Elapsed
		}
		delete(s.output, key)
	case "skip":
		if e.Test != "" {
			s.skipped = append(s.skipped, key)
			s.skipReasons[key] = lastMeaningful(s.output[key])
		}
	case "fail":
		s.fail(e, key)
	}
}

func (s *summary) fail(e event, key string) {
	if e.Test != "" {
		s.failed = append(s.failed, key)
		fmt.Printf("--- FAIL: %s\n%s", key, strings.Join(s.output[key], ""))
		return
	}
	s.pkgResults[e.Package] = "FAIL"
	s.pkgElapsed[e.Package] = e.Elapsed
	if len(s.output[key]) > 0 {
		fmt.Printf("--- package %s output:\n%s", e.Package, strings.Join(tail(s.output[key], 60), ""))
	}
}

func (s *summary) print() {
	pkgs := make([]string, 0, len(s.pkgResults))
	for p := range s.pkgResults {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	fmt.Println("\n==== go test summary ====")
	for _, p := range pkgs {
		fmt.Printf("%-4s %-70s %7.1fs\n", s.pkgResults[p], p, s.pkgElapsed[p])
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", len(s.passed), len(s.failed), len(s.skipped))
	for _, k := range s.skipped {
		fmt.Printf("  skipped %s: %s\n", k, s.skipReasons[k])
	}
	for _, f := range s.failed {
		fmt.Printf("  FAILED  %s\n", f)
	}
	for _, w := range s.warnings {
		fmt.Println(w)
	}
}

func lastMeaningful(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "(no reason given)"
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
