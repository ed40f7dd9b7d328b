package testworld

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StartAPIServer starts etcd and kube-apiserver from bin/ (KUBEBUILDER_ASSETS, when set, wins, as
// envtest documents) with the project's CRDs installed. The returned config is a system:masters
// user; stop the environment with env.Stop().
func StartAPIServer() (*envtest.Environment, *rest.Config, error) {
	return StartAPIServerLogs("")
}

// StartAPIServerLogs is StartAPIServer with the output of etcd and kube-apiserver written to
// logDir/etcd.log and logDir/kube-apiserver.log (discarded when logDir is empty).
func StartAPIServerLogs(logDir string) (*envtest.Environment, *rest.Config, error) {
	if err := guardWorld(); err != nil {
		return nil, nil, err
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		for _, name := range []string{"kube-apiserver", "etcd"} {
			if _, err := Binary(name); err != nil {
				return nil, nil, err
			}
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: BinDir(),
		CRDDirectoryPaths:     []string{filepath.Join(ProjectRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var logs []io.Closer
	if logDir != "" {
		apiLog, err := os.Create(filepath.Join(logDir, "kube-apiserver.log"))
		if err != nil {
			return nil, nil, err
		}
		etcdLog, err := os.Create(filepath.Join(logDir, "etcd.log"))
		if err != nil {
			apiLog.Close()
			return nil, nil, err
		}
		logs = append(logs, apiLog, etcdLog)
		env.ControlPlane.APIServer = &envtest.APIServer{Out: apiLog, Err: apiLog}
		env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		for _, c := range logs {
			c.Close()
		}
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd (logs in %q): %w", logDir, err)
	}
	return env, cfg, nil
}

// WriteKubeconfig writes a kubeconfig file for cfg (server, CA, and its client certificate or
// token), so kubectl in end-to-end tests talks to the test API server as the same user.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	const name = "testworld"
	auth := &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		ClientCertificate:     cfg.CertFile,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{name: {
			Server:                   cfg.Host,
			CertificateAuthorityData: cfg.CAData,
			CertificateAuthority:     cfg.CAFile,
			InsecureSkipTLSVerify:    cfg.Insecure,
		}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{name: auth},
		Contexts:       map[string]*clientcmdapi.Context{name: {Cluster: name, AuthInfo: name, Namespace: "default"}},
		CurrentContext: name,
	}
	b, err := clientcmd.Write(kc)
	if err != nil {
		return fmt.Errorf("encoding kubeconfig: %w", err)
	}
	// It holds the admin's private key.
	return os.WriteFile(path, b, 0o600)
}
