package metricsauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/internal/testworld"
)

// TestMetricsNeedAReaderToken runs the filter against a real API server with the install's RBAC:
// the controller's identity holds only config/rbac/metrics_auth_role.yaml, a scraper is bound to
// metrics_reader_role.yaml, and only the scraper's token reads /metrics.
func TestMetricsNeedAReaderToken(t *testing.T) {
	env, admin, err := testworld.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	k := kubernetes.NewForConfigOrDie(admin)
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mon"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controller := serviceAccountBoundTo(t, k, "controller", "metrics_auth_role.yaml")
	scraper := serviceAccountBoundTo(t, k, "prometheus", "metrics_reader_role.yaml")
	stranger := serviceAccountBoundTo(t, k, "stranger", "")

	srv := filteredServer(t, admin, token(t, k, controller))

	for _, tc := range []struct {
		name, auth, path string
		want             int
	}{
		{"no token", "", "/metrics", http.StatusUnauthorized},
		{"not a bearer token", "Basic c2NyYXBlcjpzZWNyZXQ=", "/metrics", http.StatusUnauthorized},
		{"a token the API server does not know", "Bearer not-a-token", "/metrics", http.StatusUnauthorized},
		{"a valid token without the metrics-reader role", "Bearer " + token(t, k, stranger), "/metrics", http.StatusForbidden},
		{"the scraper's token", "Bearer " + token(t, k, scraper), "/metrics", http.StatusOK},
		{"the scraper's token on another path", "Bearer " + token(t, k, scraper), "/debug", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusOK && string(body) != "metrics" {
				t.Fatalf("body %q", body)
			}
		})
	}
}

// filteredServer serves "metrics" behind the filter, which calls the API server with the
// controller's token, as in the install.
func filteredServer(t *testing.T, admin *rest.Config, controllerToken string) *httptest.Server {
	t.Helper()
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = controllerToken
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := Filter(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	h, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") }))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// serviceAccountBoundTo creates a ServiceAccount in mon bound to the ClusterRole in
// config/rbac/<roleFile> (none when empty).
func serviceAccountBoundTo(t *testing.T, k kubernetes.Interface, name, roleFile string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := k.CoreV1().ServiceAccounts("mon").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if roleFile == "" {
		return name
	}
	raw, err := os.ReadFile(filepath.Join(testworld.ProjectRoot(), "config", "rbac", roleFile))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	if _, err := k.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "mon", Name: name}},
	}
	if _, err := k.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func token(t *testing.T, k kubernetes.Interface, sa string) string {
	t.Helper()
	tr, err := k.CoreV1().ServiceAccounts("mon").CreateToken(context.Background(), sa, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}
