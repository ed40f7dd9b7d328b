// Command image builds SecureSite's container images without a container engine: each binary is
// compiled static (CGO off), put on an empty base with CA certificates and a non-root user, and
// written as an OCI image layout plus a tarball of it (docker load, podman load and skopeo's
// oci-archive: read it), with an SPDX SBOM attached as an OCI 1.1 referrer. Every input is fixed
// (file times, owners, order, the creation time from SOURCE_DATE_EPOCH), so the same source gives
// the same digest. The Dockerfile builds the same images for people with Docker; test/image checks
// that the two agree.
//
// usage: go run ./hack/image -version v0.1.0 -revision <commit> -out bin/image
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Image is one image this tool builds.
type Image struct {
	Name        string // securesite-manager
	Package     string // Go package of the binary
	Binary      string // path of the binary in the image, its entrypoint
	Description string
}

// Images are the project's images.
var Images = []Image{
	{Name: "securesite-manager", Package: ".", Binary: "/manager",
		Description: "SecureSite controller: Route53 records, ACME certificates, S3 and CloudFront for a SecureSite."},
	{Name: "securesite-agent", Package: "./cmd/securesite-agent", Binary: "/securesite-agent",
		Description: "Installs a SecureSite certificate exported to AWS Secrets Manager on a server outside Kubernetes."},
}

// User is the numeric user and group the images run as (distroless's "nonroot"): numeric, so the
// kubelet can check runAsNonRoot without reading /etc/passwd.
const User = "65532:65532"

// Source is the repository the org.opencontainers.image.source label names.
const Source = "https://github.com/securesite-io/securesite"

const versionPkg = "github.com/securesite-io/securesite/internal/version"

// GoBuildArgs are the `go build` arguments of every binary (the Dockerfile's must agree).
func GoBuildArgs(version, revision string) []string {
	return []string{"-trimpath", "-buildvcs=false", "-ldflags",
		"-s -w -X " + versionPkg + ".Version=" + version + " -X " + versionPkg + ".Revision=" + revision}
}

func main() {
	var (
		version  = flag.String("version", "dev", "version stamped into the binaries and the labels")
		revision = flag.String("revision", "unknown", "source revision (git commit) for the binaries and the labels")
		out      = flag.String("out", "bin/image", "directory for <image>/ (OCI layout), <image>.oci.tar and <image>.spdx.json")
		arch     = flag.String("arch", "amd64", "GOARCH of the images")
		root     = flag.String("root", ".", "the repository root")
	)
	flag.Parse()
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err))
		}
		created = time.Unix(n, 0).UTC()
	}
	b := builder{root: *root, out: *out, version: *version, revision: *revision, arch: *arch, created: created}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		fail(err)
	}
	for _, img := range Images {
		digest, err := b.build(img)
		if err != nil {
			fail(fmt.Errorf("%s: %w", img.Name, err))
		}
		fmt.Printf("%s %s %s\n", img.Name, digest, filepath.Join(b.out, img.Name+".oci.tar"))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}
