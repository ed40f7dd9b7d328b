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

func main() {
	output := map[string][]string{} // package/test → lines
	var passed, failed, skipped []string
	skipReasons := map[string]string{}
	pkgResults := map[string]string{}
	pkgElapsed := map[string]float64{}
	// `make test` runs the suites once per AWS emulator and says which before each run; results
	// are kept apart by emulator. Warnings are repeated at the very end, where they are seen.
	emulator := ""
	var warnings []string
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
				warnings = append(warnings, line)
			}
			continue
		}
		e.Package = emulator + e.Package
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
			if e.Test == "" && (strings.HasPrefix(e.Output, "ok") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "---")) {
				fmt.Print(e.Output)
			}
		case "pass":
			if e.Test != "" {
				passed = append(passed, key)
			} else {
				pkgResults[e.Package] = "ok"
				pkgElapsed[e.Package] = e.Elapsed
			}
			delete(output, key)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, key)
				skipReasons[key] = lastMeaningful(output[key])
			}
		case "fail":
			if e.Test != "" {
				failed = append(failed, key)
				fmt.Printf("--- FAIL: %s\n%s", key, strings.Join(output[key], ""))
			} else {
				pkgResults[e.Package] = "FAIL"
				pkgElapsed[e.Package] = e.Elapsed
				if len(output[key]) > 0 {
					fmt.Printf("--- package %s output:\n%s", e.Package, strings.Join(tail(output[key], 60), ""))
				}
			}
		}
	}
	pkgs := make([]string, 0, len(pkgResults))
	for p := range pkgResults {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	fmt.Println("\n==== go test summary ====")
	for _, p := range pkgs {
		fmt.Printf("%-4s %-70s %7.1fs\n", pkgResults[p], p, pkgElapsed[p])
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", len(passed), len(failed), len(skipped))
	for _, s := range skipped {
		fmt.Printf("  skipped %s: %s\n", s, skipReasons[s])
	}
	for _, f := range failed {
		fmt.Printf("  FAILED  %s\n", f)
	}
	for _, w := range warnings {
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
