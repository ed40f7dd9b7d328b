package testworld

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestPebbleServesDirectoryOverTrustedTLS(t *testing.T) {
	p, err := StartPebble("127.0.0.1:1", t.TempDir()) // no validation happens in this test
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)

	// Trust exactly the bundle file, as an ACME client configured with it would.
	pem, err := os.ReadFile(p.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", p.CABundlePath)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(p.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	// renewalInfo (ARI) is what the controller's renewal timing relies on.
	for _, key := range []string{"newNonce", "newAccount", "newOrder", "renewalInfo"} {
		if _, ok := dir[key]; !ok {
			t.Errorf("directory lacks %s: %v", key, dir)
		}
	}

	roots, err := p.RootCAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].IsCA {
		t.Errorf("roots: got %d, want one CA certificate", len(roots))
	}
	inters, err := p.IntermediateCAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inters) != 1 {
		t.Fatalf("intermediates: got %d, want 1", len(inters))
	}
	if err := inters[0].CheckSignatureFrom(roots[0]); err != nil {
		t.Errorf("intermediate not signed by the root: %v", err)
	}
}

func TestPebbleOptionsReachPebble(t *testing.T) {
	// PEBBLE_ALTERNATE_ROOTS=1 adds a second root, visible through the management interface: the
	// environment override reaches pebble and RootCAs follows the alternates.
	p, err := StartPebbleWith("127.0.0.1:1", "", PebbleOptions{Env: []string{"PEBBLE_ALTERNATE_ROOTS=1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	roots, err := p.RootCAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 {
		t.Errorf("roots with PEBBLE_ALTERNATE_ROOTS=1: got %d, want 2", len(roots))
	}
}

// A world binary that is missing fails with the command that builds it; Start turns this into
// t.Fatal, never a skip, so CI cannot pass without the world.
func TestMissingBinarySaysHowToBuildIt(t *testing.T) {
	t.Setenv("SECURESITE_BIN", t.TempDir())
	_, err := StartPebble("127.0.0.1:1", "")
	if err == nil || !strings.Contains(err.Error(), "make test-world") {
		t.Errorf("got %v, want an error naming `make test-world`", err)
	}
	if _, _, err := StartAPIServer(); os.Getenv("KUBEBUILDER_ASSETS") == "" && (err == nil || !strings.Contains(err.Error(), "make test-world")) {
		t.Errorf("API server: got %v, want an error naming `make test-world`", err)
	}
}
