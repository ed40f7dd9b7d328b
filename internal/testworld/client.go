package testworld

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// Client is a typed client (core types and SecureSites) for the world's API server, as a test
// driving hundreds of sites needs it: client-go's default 5 QPS would make such a test measure
// client-go's rate limiter, so each caller says how many requests per second (qps, with bursts
// of burst) it means to send.
func (w *World) Client(t testing.TB, qps float32, burst int) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cfg := *w.RESTConfig
	cfg.QPS, cfg.Burst = qps, burst
	c, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
