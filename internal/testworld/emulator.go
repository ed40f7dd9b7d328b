package testworld

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "embed" // moto_launcher.py

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld/normalizer"
)

// The AWS emulators the test world runs on. Every AWS-facing test runs on each: `make test` runs the
// suites once per emulator, choosing it through EmulatorEnv.
const (
	// Kumo is github.com/sivchari/kumo, built into bin/ by hack/build-world.sh. It has a CloudFront
	// edge that serves distributions from their S3 origin.
	Kumo = normalizer.Kumo
	// Moto is moto_server (Python, `pip install 'moto[server]'`), found on PATH. It is stricter than
	// kumo where AWS is (trailing dots, NS/SOA at the apex, pagination, InProgress, certificate
	// parsing, tag APIs, LocationConstraint, versioning).
	Moto = normalizer.Moto
)

// EmulatorEnv names the AWS emulator of a test run (kumo when unset).
const EmulatorEnv = "SECURESITE_AWS_EMULATOR"

// EmulatorName is the emulator this test run uses: $SECURESITE_AWS_EMULATOR, else kumo.
func EmulatorName() string {
	if v := os.Getenv(EmulatorEnv); v != "" {
		return v
	}
	return Kumo
}

// Emulator is a running AWS emulator behind the test world's normalising proxy.
type Emulator struct {
	// Name is Kumo or Moto.
	Name string
	// URL is where every client sends AWS requests: the normalising proxy (see package normalizer), which
	// hides the emulator's known departures from the AWS API that the code must not work around.
	URL string
	// DirectURL is the emulator itself, without the proxy.
	DirectURL string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
	proxy  *normalizer.Proxy
}

// EmulatorCredentials are the static credentials used against the emulators (neither checks them).
var EmulatorCredentials = aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "testworld"}

// StartEmulator starts the emulator this run uses (EmulatorName) on a free loopback port.
func StartEmulator(logDir string) (*Emulator, error) {
	return StartNamedEmulator(EmulatorName(), logDir)
}

// StartNamedEmulator starts kumo or moto on a free loopback port, waits until it answers and puts
// the normalising proxy in front of it. Its log goes to logDir/<name>.log when logDir is set.
func StartNamedEmulator(name, logDir string) (*Emulator, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd, health, err := emulatorCommand(name, port)
	if err != nil {
		return nil, err
	}
	e := &Emulator{Name: name, DirectURL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	if logDir != "" {
		if e.log, err = os.Create(filepath.Join(logDir, name+".log")); err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = e.log, e.log
	}
	// Its own process group, so Stop also ends what a launcher script started.
	cmd.SysProcAttr = processGroup()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	e.cmd, e.exited = cmd, exited
	if err := e.waitHealthy(health); err != nil {
		return nil, err
	}
	if e.proxy, err = normalizer.Start(name, e.DirectURL); err != nil {
		e.Stop()
		return nil, err
	}
	e.URL = e.proxy.URL
	return e, nil
}

// emulatorCommand is the command that serves the named emulator on port, and its health path.
func emulatorCommand(name string, port int) (*exec.Cmd, string, error) {
	switch name {
	case Kumo:
		bin, err := Binary("kumo")
		if err != nil {
			return nil, "", err
		}
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "KUMO_HOST=127.0.0.1", "KUMO_PORT="+strconv.Itoa(port))
		return cmd, "/health", nil
	case Moto:
		cmd, err := motoCommand(port)
		return cmd, "/moto-api/", err
	default:
		return nil, "", fmt.Errorf("%s=%q: the test world knows %s and %s", EmulatorEnv, name, Kumo, Moto)
	}
}

// waitHealthy waits until the emulator answers health with 200, it exits, or 30 s pass.
func (e *Emulator) waitHealthy(health string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.DirectURL + health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-e.exited:
			return fmt.Errorf("%s exited at start (log: %s)", e.Name, e.logPath())
		default:
		}
		if time.Now().After(deadline) {
			e.Stop()
			return fmt.Errorf("%s did not answer at %s", e.Name, e.DirectURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *Emulator) logPath() string {
	if e.log == nil {
		return "none"
	}
	return e.log.Name()
}

//go:embed moto_launcher.py
var motoLauncher []byte

// MotoAvailable reports whether moto_server is on PATH (`pip install 'moto[server]'`).
func MotoAvailable() bool {
	_, err := exec.LookPath("moto_server")
	return err == nil
}

// motoCommand runs moto's server through moto_launcher.py (which patches one moto crash first) with
// the Python interpreter moto_server itself uses.
func motoCommand(port int) (*exec.Cmd, error) {
	// Marks this binary's environment, so the guard stops moto if the binary dies (see guardWorld).
	if err := guardWorld(); err != nil {
		return nil, err
	}
	server, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server is not on PATH: install it with pip install 'moto[server]' " +
			"(or run the kumo suites only, without " + EmulatorEnv + "=moto)")
	}
	python := "python3"
	if f, err := os.Open(server); err == nil {
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if interp, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok && strings.Contains(interp, "python") && !strings.Contains(interp, " ") {
			python = interp
		}
	}
	dir, err := os.MkdirTemp("", "testworld-moto-")
	if err != nil {
		return nil, err
	}
	launcher := filepath.Join(dir, "moto_launcher.py")
	if err := os.WriteFile(launcher, motoLauncher, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(python, launcher, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd, nil
}

// Stop ends the emulator and its proxy.
func (e *Emulator) Stop() {
	if e == nil {
		return
	}
	if e.proxy != nil {
		e.proxy.Close()
	}
	if e.cmd != nil && e.cmd.Process != nil {
		killGroup(e.cmd.Process.Pid)
		_ = e.cmd.Process.Kill()
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
		}
	}
	if e.log != nil {
		_ = e.log.Close()
	}
}

// HoldInProgress makes the distribution answer InProgress until release is called (see
// normalizer.Proxy.HoldInProgress: neither emulator keeps a change deploying for long).
func (e *Emulator) HoldInProgress(id string) (release func()) { return e.proxy.HoldInProgress(id) }

// HoldChangesPending makes the Route53 changes made to the hosted zone answer PENDING until
// release is called (see normalizer.Proxy.HoldChangesPending: both emulators answer INSYNC at once).
func (e *Emulator) HoldChangesPending(zoneID string) (release func()) {
	return e.proxy.HoldChangesPending(zoneID)
}

// ReleaseChange lets one held change answer INSYNC (normalizer.Proxy.ReleaseChange).
func (e *Emulator) ReleaseChange(changeID string) { e.proxy.ReleaseChange(changeID) }

// HasEdge reports whether the emulator serves distributions at an edge URL (kumo does, moto has no
// CloudFront data plane).
func (e *Emulator) HasEdge() bool { return e.Name == Kumo }

// EdgeURL is where the emulator's CloudFront edge serves key of the distribution (kumo only).
func (e *Emulator) EdgeURL(distributionID, key string) string {
	return e.URL + "/kumo/cdn/" + distributionID + "/" + strings.TrimPrefix(key, "/")
}

// AWSOptions are the AWS options that point the controller's SDK configuration at an emulator URL,
// with call counting and retries as in production (shorter backoff).
func AWSOptions(url string) awsclient.Options {
	return awsclient.Options{
		Region:            "us-east-1",
		EndpointURL:       url,
		StaticCredentials: &EmulatorCredentials,
		MaxAttempts:       5,
		MaxBackoff:        time.Second,
	}
}

// AWSConfig returns an SDK configuration pointed at the emulator (see AWSOptions).
func (e *Emulator) AWSConfig(ctx context.Context) (awsclient.Config, error) {
	return awsclient.Load(ctx, AWSOptions(e.URL))
}

// RawAWSConfig is an uncounted SDK configuration on the emulator, for a test's own setup and
// checks (the way a human with the console or the CLI would), so that call-count assertions see
// only the code under test.
func (e *Emulator) RawAWSConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(e.URL),
	}
}

// RunWithEmulator is a TestMain body for packages whose tests share one emulator: it starts the
// run's emulator, hands it and its SDK configuration to setup, runs the tests and stops it. It
// returns the exit code.
func RunWithEmulator(m interface{ Run() int }, setup func(e *Emulator, cfg awsclient.Config)) int {
	e, err := StartEmulator("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Stop()
	cfg, err := e.AWSConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	setup(e, cfg)
	fmt.Fprintf(os.Stderr, "AWS emulator: %s\n", e.Name)
	return m.Run()
}
