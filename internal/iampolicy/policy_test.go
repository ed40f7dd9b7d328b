package iampolicy

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/securesite-io/securesite/internal/naming"
)

const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

// repoRoot is two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// controllerSources are the Go files that run in the controller: main.go, controllers/ and
// internal/ without tests, the test world and this generator. The agent (cmd/securesite-agent)
// runs elsewhere with its own, read-only policy.
func controllerSources(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	files := []string{filepath.Join(root, "main.go")}
	for _, dir := range []string{"controllers", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testworld" || d.Name() == "iampolicy") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// calledOperations finds every AWS SDK operation the controller's code builds a request for
// (&<service>.<Operation>Input{...}), as "service:Operation".
func calledOperations(t *testing.T) map[string][]string {
	t.Helper()
	ops := map[string][]string{} // operation → files
	fset := token.NewFileSet()
	for _, path := range controllerSources(t) {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		services := sdkServiceImports(f)
		rel, _ := filepath.Rel(repoRoot(t), path)
		ast.Inspect(f, func(n ast.Node) bool {
			if op, ok := sdkOperationInput(n, services); ok && !slices.Contains(ops[op], rel) {
				ops[op] = append(ops[op], rel)
			}
			return true
		})
	}
	return ops
}

// sdkServiceImports maps the name each AWS SDK service package is imported under to the service.
func sdkServiceImports(f *ast.File) map[string]string {
	services := map[string]string{} // import name → service
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		svc, ok := strings.CutPrefix(p, sdkService)
		if !ok || strings.Contains(svc, "/") {
			continue
		}
		name := svc
		if imp.Name != nil {
			name = imp.Name.Name
		}
		services[name] = svc
	}
	return services
}

// sdkOperationInput: n is a <service>.<Operation>Input{...} literal of an imported SDK service;
// the answer is "service:Operation".
func sdkOperationInput(n ast.Node, services map[string]string) (string, bool) {
	lit, ok := n.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok || services[pkg.Name] == "" || !strings.HasSuffix(sel.Sel.Name, "Input") {
		return "", false
	}
	return services[pkg.Name] + ":" + strings.TrimSuffix(sel.Sel.Name, "Input"), true
}

// TestPolicyGrantsExactlyWhatTheCodeCalls: every AWS operation the controller calls is allowed
// by the generated policy, and the policy allows nothing the controller never calls.
func TestPolicyGrantsExactlyWhatTheCodeCalls(t *testing.T) {
	ops := calledOperations(t)
	if len(ops) < 20 {
		t.Fatalf("found only %d SDK operations in the controller's code; the scan is broken: %v", len(ops), ops)
	}
	needed := map[string][]string{} // IAM action → operations needing it
	for op := range ops {
		svc, name, _ := strings.Cut(op, ":")
		for _, a := range ActionsFor(svc, name) {
			needed[a] = append(needed[a], op)
		}
	}
	granted := Generate(Example).Actions()
	for a, why := range needed {
		if !slices.Contains(granted, a) {
			t.Errorf("the policy lacks %s, needed by %v (called in %v)", a, why, ops[why[0]])
		}
	}
	for _, a := range granted {
		if _, ok := needed[a]; !ok {
			t.Errorf("the policy grants %s, which no code calls", a)
		}
	}
	t.Logf("%d SDK operations called → %d IAM actions granted", len(ops), len(granted))
}

// TestDocumentedPolicyIsGenerated: docs/iam-policy.json is the generator's output for Example
// (go generate ./internal/iampolicy), never edited by hand.
func TestDocumentedPolicyIsGenerated(t *testing.T) {
	want, err := Generate(Example).JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "iam-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("docs/iam-policy.json differs from the generator's output: run go generate ./internal/iampolicy")
	}
}

func TestScopes(t *testing.T) {
	p := Generate(Params{OwnerID: "c1", ZoneIDs: []string{"/hostedzone/ZA"}, Domains: []string{"Team-A.example.com."}, BucketPrefix: "team-a-", SecretsPrefix: "team-a/"})
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		`"arn:aws:route53:::hostedzone/ZA"`,
		`"team-a.example.com"`, `"*.team-a.example.com"`,
		`"arn:aws:s3:::team-a-*"`, `"arn:aws:s3:::team-a-*/*"`,
		`"arn:aws:secretsmanager:*:*:secret:team-a/*"`,
		`"aws:RequestTag/securesite.io/owner-id": "c1"`, `"aws:ResourceTag/securesite.io/owner-id": "c1"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s", want)
		}
	}
	if strings.Contains(doc, "hostedzone/*") {
		t.Error("policy grants every zone although zones were given")
	}
}

func TestTagKeysMatchTheController(t *testing.T) {
	if tagOwner != naming.TagOwner || tagOwnerID != naming.TagOwnerID || tagDomain != naming.TagDomain {
		t.Errorf("tag keys %q %q %q, controller's %q %q %q", tagOwner, tagOwnerID, tagDomain, naming.TagOwner, naming.TagOwnerID, naming.TagDomain)
	}
}
