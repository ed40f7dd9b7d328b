package main

import (
	"archive/tar"
	"crypto/sha256"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const (
	testVersion  = "v9.9.9-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var built struct {
	once    sync.Once
	dir     string
	digests map[string]v1.Hash
	err     error
}

// buildOnce builds both images into a temporary directory once per test run.
func buildOnce(t *testing.T) (string, map[string]v1.Hash) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "securesite-image-test-")
		if built.err == nil {
			built.digests, built.err = buildAll(built.dir)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir, built.digests
}

func buildAll(out string) (map[string]v1.Hash, error) {
	b := builder{root: filepath.Join("..", ".."), out: out, version: testVersion, revision: testRevision,
		arch: runtime.GOARCH, created: time.Unix(1767225600, 0).UTC()}
	digests := map[string]v1.Hash{}
	for _, img := range Images {
		d, err := b.build(img)
		if err != nil {
			return nil, err
		}
		digests[img.Name] = d
	}
	return digests, nil
}

// TestImageReproducible: the same source, version and SOURCE_DATE_EPOCH give byte-identical
// tarballs and the same digests, so anyone can check a published image against the source.
func TestImageReproducible(t *testing.T) {
	first, digests := buildOnce(t)
	second := t.TempDir()
	again, err := buildAll(second)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range Images {
		if digests[img.Name] != again[img.Name] {
			t.Errorf("%s: digest %s, then %s", img.Name, digests[img.Name], again[img.Name])
		}
		a, b := fileSum(t, filepath.Join(first, img.Name+".oci.tar")), fileSum(t, filepath.Join(second, img.Name+".oci.tar"))
		if a != b {
			t.Errorf("%s.oci.tar differs between two builds", img.Name)
		}
		t.Logf("%s %s (built twice)", img.Name, digests[img.Name])
	}
}

func TestImageContents(t *testing.T) {
	dir, digests := buildOnce(t)
	for _, img := range Images {
		t.Run(img.Name, func(t *testing.T) {
			lp, err := layout.FromPath(filepath.Join(dir, img.Name))
			if err != nil {
				t.Fatal(err)
			}
			image, err := lp.Image(digests[img.Name])
			if err != nil {
				t.Fatal(err)
			}
			checkImageConfig(t, image, img)
			files := extract(t, image)
			checkBaseFiles(t, files)
			bin := files[strings.TrimPrefix(img.Binary, "/")]
			if bin.mode != 0o755 || len(bin.data) == 0 {
				t.Fatalf("%s: mode %o, %d bytes", img.Binary, bin.mode, len(bin.data))
			}
			checkStaticBinary(t, img, bin.data)
			checkSBOM(t, lp, digests[img.Name], img)
		})
	}
}

// checkImageConfig: the image runs its binary as the nonroot user and carries the OCI labels
// of the source, version and revision it was built from.
func checkImageConfig(t *testing.T, image v1.Image, img Image) {
	t.Helper()
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != img.Binary {
		t.Errorf("entrypoint %v, want [%s]", got, img.Binary)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cf.Config.User)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/securesite-io/securesite",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

// checkBaseFiles: what a static binary still needs from the image: the nonroot user, a
// world-writable sticky /tmp and the CA roots to reach AWS and the ACME server over TLS.
func checkBaseFiles(t *testing.T, files map[string]file) {
	t.Helper()
	if !strings.Contains(string(files["etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks the nonroot user:\n%s", files["etc/passwd"].data)
	}
	if f := files["tmp/"]; f.mode != 0o1777 {
		t.Errorf("/tmp mode %o, want 1777", f.mode)
	}
	if n := countCerts(t, files["etc/ssl/certs/ca-certificates.crt"].data); n < 100 {
		t.Errorf("%d CA certificates, want the Mozilla roots (> 100)", n)
	}
}

// checkStaticBinary: no ELF interpreter (the image has no libc), stripped (-s), built with
// -trimpath and CGO off, and --version reports the stamped version and revision (-X).
func checkStaticBinary(t *testing.T, img Image, data []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), filepath.Base(img.Binary))
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not a static binary", img.Binary)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not linked with -s", img.Binary)
	}
	f.Close()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	// Go does not record -ldflags with -trimpath; --version below shows they were applied.
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v", settings)
	}
	if runtime.GOOS == "linux" {
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), testVersion+" (revision "+testRevision) {
			t.Errorf("%s --version: %v %s", img.Binary, err, out)
		}
	}
}

// checkSBOM finds the SPDX document attached to the image (an OCI referrer) and checks that it
// names the Go modules really linked in.
func checkSBOM(t *testing.T, lp layout.Path, image v1.Hash, img Image) {
	t.Helper()
	index, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.ArtifactType != "application/spdx+json" {
			continue
		}
		checkSPDXDocument(t, readSBOMOf(t, lp, d.Digest, image), img)
		return
	}
	t.Errorf("no SPDX SBOM attached to %s", image)
}

// readSBOMOf reads the SBOM artifact manifest at digest, which must name image as its subject.
func readSBOMOf(t *testing.T, lp layout.Path, digest, image v1.Hash) spdxDocument {
	t.Helper()
	raw, err := lp.Bytes(digest)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.Subject.Digest != image {
		t.Fatalf("SBOM subject %v, want the image %s", m.Subject, image)
	}
	sbom, err := lp.Bytes(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDocument
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// checkSPDXDocument: SPDX 2.3, naming a module the binary links, the standard library and the image.
func checkSPDXDocument(t *testing.T, doc spdxDocument, img Image) {
	t.Helper()
	names := map[string]bool{}
	for _, p := range doc.Packages {
		names[p.Name] = true
	}
	want := "github.com/aws/aws-sdk-go-v2/service/secretsmanager" // both binaries link it
	if doc.SPDXVersion != "SPDX-2.3" || !names[want] || !names["stdlib"] || !names[img.Name] {
		t.Errorf("SBOM %s lacks %s, stdlib or %s (%d packages)", doc.Name, want, img.Name, len(doc.Packages))
	}
}

type file struct {
	mode int64
	data []byte
}

func extract(t *testing.T, image v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(image)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]file{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		name := h.Name
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		out[name] = file{mode: h.Mode, data: data}
	}
}

func countCerts(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return n
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("CA bundle: %v", err)
		}
		n++
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
