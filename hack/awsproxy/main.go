// Command awsproxy serves the test world's normalising proxy (internal/testworld/normalizer) in
// the foreground for hack/world.sh: AWS clients of `make demo` and `make world-up` reach kumo
// through it, as the tests do, so the controller meets the AWS API and not the emulator's gaps
// (kumo has no ACM tag operations, for one). It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/securesite-io/securesite/internal/testworld/normalizer"
)

func main() {
	emulator := flag.String("emulator", normalizer.Kumo, "the emulator behind the proxy: "+normalizer.Kumo+" or "+normalizer.Moto)
	target := flag.String("target", "http://127.0.0.1:4566", "URL of the emulator")
	addr := flag.String("addr", "127.0.0.1:14567", "TCP address to serve on")
	flag.Parse()
	if err := run(*emulator, *target, *addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(emulator, target, addr string) error {
	proxy, err := normalizer.New(emulator, target)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("aws proxy on http://%s, normalising %s at %s\n", ln.Addr(), emulator, target)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
