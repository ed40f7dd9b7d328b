package testworld

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// ChartDir is the Helm chart's directory.
func ChartDir() string { return filepath.Join(ProjectRoot(), "charts", "securesite") }

// Helm runs a helm binary of the test world (helm is v3, helm4 is v4) and returns its standard
// output; the error carries standard error, which is where helm says what it refused.
func Helm(binary string, args ...string) (string, error) {
	bin, err := Binary(binary)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, args...)
	// Keep helm's config, cache and plugins away from the user's.
	home := filepath.Join(BinDir(), ".helm-home")
	cmd.Env = append(cmd.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache",
		"HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", binary, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// RenderChart renders the chart with helm template (v3) as release in namespace, with extra helm
// arguments (--set, -f), and returns the manifests, CRDs included.
func RenderChart(release, namespace string, args ...string) (string, error) {
	return Helm("helm", append([]string{"template", release, ChartDir(), "--namespace", namespace, "--include-crds"}, args...)...)
}
