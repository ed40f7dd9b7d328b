package main

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

type builder struct {
	root, out, version, revision, arch string
	created                            time.Time
}

// build compiles img's binary, assembles the image, writes its layout, tarball and SBOM, and
// returns the image manifest's digest.
func (b builder) build(img Image) (v1.Hash, error) {
	tmp, err := os.MkdirTemp("", "securesite-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, filepath.Base(img.Binary))
	if err := b.compile(img, bin); err != nil {
		return v1.Hash{}, err
	}
	image, err := b.assemble(img, bin)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := image.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, b.write(img, image, bin)
}

// compile builds img's binary for linux/b.arch into bin.
func (b builder) compile(img Image, bin string) error {
	args := append([]string{"build"}, GoBuildArgs(b.version, b.revision)...)
	cmd := exec.Command("go", append(args, "-o", bin, img.Package)...)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+b.arch, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", img.Package, err, out)
	}
	return nil
}

// assemble makes the image: one layer with the binary, CA certificates and /etc/passwd, and its
// config (entrypoint, user, labels).
func (b builder) assemble(img Image, bin string) (v1.Image, error) {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	rootfs, err := b.rootfs(img, binary)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rootfs)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	image := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	image = mutate.ConfigMediaType(image, types.OCIConfigJSON)
	image, err = mutate.Append(image, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: b.created},
		CreatedBy: "hack/image: " + img.Binary + ", CA certificates, /etc/passwd with nonroot (65532)",
		Comment:   "built without a container engine; the Dockerfile builds the same for Docker",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := image.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = b.arch, "linux", v1.Time{Time: b.created}
	cf.Config = v1.Config{
		Entrypoint: []string{img.Binary},
		User:       User,
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     b.labels(img),
	}
	return mutate.ConfigFile(image, cf)
}

// write stores the image as an OCI layout and tarball, with its SBOM beside it and attached.
func (b builder) write(img Image, image v1.Image, bin string) error {
	dir := filepath.Join(b.out, img.Name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(image, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": b.version,
	})); err != nil {
		return err
	}
	sbom, err := b.sbom(img, bin)
	if err != nil {
		return err
	}
	if err := attachSBOM(lp, image, sbom); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.out, img.Name+".spdx.json"), sbom, 0o644); err != nil {
		return err
	}
	return tarDir(dir, filepath.Join(b.out, img.Name+".oci.tar"), b.created)
}

// labels are the OCI annotations' label form, as `docker inspect` and registries show them.
func (b builder) labels(img Image) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     b.version,
		"org.opencontainers.image.revision":    b.revision,
		"org.opencontainers.image.title":       img.Name,
		"org.opencontainers.image.description": img.Description,
		"org.opencontainers.image.created":     b.created.Format(time.RFC3339),
	}
}

// rootfs is the image's only layer: the binary, CA certificates (Mozilla's roots as Go's
// x509roots/fallback module ships them, pinned in go.mod, so every machine writes the same file),
// /etc/passwd and /etc/group naming the non-root user, and a /tmp. Entries are sorted and carry
// fixed times and owners.
func (b builder) rootfs(img Image, binary []byte) ([]byte, error) {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		// Roots with extra constraints (distrust after a date) cannot be expressed in a PEM file;
		// leave them out rather than trust them without the constraint.
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	files := []tarEntry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs.Bytes()},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: 65532},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: strings.TrimPrefix(img.Binary, "/"), mode: 0o755, data: binary},
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := f.write(tw, b.created); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type tarEntry struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

func (e tarEntry) write(tw *tar.Writer, mtime time.Time) error {
	h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime, Format: tar.FormatPAX}
	if e.dir {
		h.Typeflag = tar.TypeDir
	} else {
		h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(e.data)
	return err
}

// tarDir writes the OCI layout directory as a tarball with sorted entries and fixed metadata.
func tarDir(dir, dest string, mtime time.Time) error {
	var entries []tarEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			entries = append(entries, tarEntry{name: rel + "/", mode: 0o755, dir: true})
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		entries = append(entries, tarEntry{name: rel, mode: 0o644, data: data})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		if err := e.write(tw, mtime); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
