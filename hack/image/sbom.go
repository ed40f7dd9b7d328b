package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SPDX 2.3, the subset an SBOM of a Go binary needs.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string        `json:"name"`
	SPDXID           string        `json:"SPDXID"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	Comment          string        `json:"comment,omitempty"`
	ExternalRefs     []spdxExtRef  `json:"externalRefs,omitempty"`
	Checksums        []spdxSummary `json:"checksums,omitempty"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxSummary struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// sbom describes what is in img: the Go modules linked into its binary (read back from the binary's
// build information, so it is what was built, not what go.mod hoped for), the Go standard
// library, and the CA bundle.
func (b builder) sbom(img Image, binaryPath string) ([]byte, error) {
	bi, err := buildinfo.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("reading the build information of %s: %w", binaryPath, err)
	}
	main := spdxPackage{
		Name: img.Name, SPDXID: "SPDXRef-Package-" + img.Name, VersionInfo: b.version,
		DownloadLocation: "git+" + Source + "@" + b.revision,
		Comment:          "Go module " + bi.Main.Path + ", revision " + b.revision + ", built with " + bi.GoVersion,
		ExternalRefs:     []spdxExtRef{purl("pkg:golang/" + bi.Main.Path + "@" + b.version)},
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:          img.Name + "-" + b.version,
		CreationInfo:  spdxCreationInfo{Created: b.created.Format(time.RFC3339), Creators: []string{"Tool: securesite-hack-image"}},
		Packages:      []spdxPackage{main},
		Relationships: []spdxRelationship{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID}},
	}
	add := func(p spdxPackage) {
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: main.SPDXID, Type: "CONTAINS", Related: p.SPDXID})
	}
	add(spdxPackage{Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: bi.GoVersion, DownloadLocation: "https://go.dev/dl/",
		ExternalRefs: []spdxExtRef{purl("pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go"))}})
	for i, dep := range bi.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		add(spdxPackage{Name: dep.Path, SPDXID: fmt.Sprintf("SPDXRef-Package-go-%d", i), VersionInfo: dep.Version,
			DownloadLocation: "NOASSERTION", Comment: "go.sum " + dep.Sum,
			ExternalRefs: []spdxExtRef{purl("pkg:golang/" + dep.Path + "@" + dep.Version)}})
	}
	// The CA bundle comes from this tool's own dependency, not from the binary.
	if self, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range self.Deps {
			if dep.Path == "golang.org/x/crypto/x509roots/fallback" {
				add(spdxPackage{Name: "ca-certificates (" + dep.Path + ")", SPDXID: "SPDXRef-Package-ca-certificates",
					VersionInfo: dep.Version, DownloadLocation: "NOASSERTION",
					Comment:      "Mozilla NSS roots without extra constraints, at /etc/ssl/certs/ca-certificates.crt",
					ExternalRefs: []spdxExtRef{purl("pkg:golang/" + dep.Path + "@" + dep.Version)}})
			}
		}
	}
	// The namespace must be unique per document and the same for the same content.
	body, err := json.Marshal(doc.Packages)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	doc.DocumentNamespace = Source + "/spdx/" + img.Name + "-" + b.version + "-" + hex.EncodeToString(sum[:8])
	return json.MarshalIndent(doc, "", "  ")
}

func purl(locator string) spdxExtRef {
	return spdxExtRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: locator}
}

// attachSBOM stores the SBOM in the layout as an OCI 1.1 artifact whose subject is the image, the
// way `oras attach` and `cosign attach sbom` do, so `oras discover` / registries' referrers API
// find it next to the image once pushed.
func attachSBOM(lp layout.Path, image v1.Image, sbom []byte) error {
	subject, err := descriptorOf(image)
	if err != nil {
		return err
	}
	emptyConfig := []byte("{}")
	configDesc, err := writeBlob(lp, emptyConfig, "application/vnd.oci.empty.v1+json")
	if err != nil {
		return err
	}
	sbomDesc, err := writeBlob(lp, sbom, "application/spdx+json")
	if err != nil {
		return err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"artifactType":  "application/spdx+json",
		"config":        configDesc,
		"layers":        []v1.Descriptor{sbomDesc},
		"subject":       subject,
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	desc, err := writeBlob(lp, raw, "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return err
	}
	desc.ArtifactType = "application/spdx+json"
	return lp.AppendDescriptor(desc)
}

func descriptorOf(image v1.Image) (v1.Descriptor, error) {
	digest, err := image.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := image.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := image.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: digest, Size: size}, nil
}

func writeBlob(lp layout.Path, data []byte, mediaType string) (v1.Descriptor, error) {
	h, size, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := lp.WriteBlob(h, io.NopCloser(bytes.NewReader(data))); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: typesMediaType(mediaType), Digest: h, Size: size}, nil
}

func typesMediaType(s string) types.MediaType { return types.MediaType(s) }
