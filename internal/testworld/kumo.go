package testworld

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// Kumo is a running kumo AWS emulator.
type Kumo struct {
	URL  string
	Port int
	cmd  *exec.Cmd
	log  *os.File
}

// EmulatorCredentials are the static credentials used against kumo (it does not check them).
var EmulatorCredentials = aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "testworld"}

// StartKumo starts kumo on a free loopback port and waits until /health answers. Its log goes to
// logDir/kumo.log when logDir is set.
func StartKumo(logDir string) (*Kumo, error) {
	bin, err := Binary("kumo")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "KUMO_HOST=127.0.0.1", "KUMO_PORT="+strconv.Itoa(port))
	k := &Kumo{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, cmd: cmd}
	if logDir != "" {
		if k.log, err = os.Create(filepath.Join(logDir, "kumo.log")); err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = k.log, k.log
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kumo: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(k.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return k, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	k.Stop()
	return nil, fmt.Errorf("kumo did not become healthy at %s", k.URL)
}

// Stop kills kumo.
func (k *Kumo) Stop() {
	if k == nil || k.cmd == nil || k.cmd.Process == nil {
		return
	}
	_ = k.cmd.Process.Kill()
	_ = k.cmd.Wait()
	if k.log != nil {
		_ = k.log.Close()
	}
}

// KumoOptions are the AWS options that point the controller's SDK configuration at kumo, with
// call counting and retries as in production (shorter backoff).
func KumoOptions(url string) awsclient.Options {
	return awsclient.Options{
		Region:            "us-east-1",
		EndpointURL:       url,
		StaticCredentials: &EmulatorCredentials,
		MaxAttempts:       5,
		MaxBackoff:        time.Second,
	}
}

// AWSConfig returns an SDK configuration pointed at kumo (see KumoOptions).
func (k *Kumo) AWSConfig(ctx context.Context) (awsclient.Config, error) {
	return awsclient.Load(ctx, KumoOptions(k.URL))
}

// RunWithKumo is a TestMain body for packages whose tests share one kumo: it starts kumo, hands
// its SDK configuration to setup, runs the tests and stops kumo. It returns the exit code.
func RunWithKumo(m interface{ Run() int }, setup func(k *Kumo, cfg awsclient.Config)) int {
	k, err := StartKumo("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer k.Stop()
	cfg, err := k.AWSConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	setup(k, cfg)
	return m.Run()
}
