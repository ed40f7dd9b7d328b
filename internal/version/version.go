// Package version says which build of SecureSite is running: `--version` on both binaries and the
// securesite_build_info metric. Release builds stamp Version and Revision with -ldflags -X (the
// Makefile, the Dockerfile and hack/image do); a plain `go build` falls back to what the Go
// toolchain recorded.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/securesite-io/securesite/internal/version.Version=v0.1.0
// (and .Revision=<git commit>).
var (
	Version  = ""
	Revision = ""
)

// Info is the running build.
type Info struct {
	Version, Revision, GoVersion string
}

// Get returns the stamped version and revision, else the module version and VCS revision the Go
// toolchain embedded, else "dev" and "unknown".
func Get() Info {
	info := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Revision == "" {
				info.Revision = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

// String is what `--version` prints: "<program> <version> (revision <rev>, <go version>)".
func String(program string) string {
	i := Get()
	return fmt.Sprintf("%s %s (revision %s, %s)", program, i.Version, i.Revision, i.GoVersion)
}
