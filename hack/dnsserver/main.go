// Command dnsserver runs the test world's DNS server (internal/testworld/dnsserver) in the
// foreground for hack/world.sh: it answers from kumo's Route53 until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/securesite-io/securesite/internal/testworld/dnsserver"
)

func main() {
	kumo := flag.String("kumo", "http://127.0.0.1:4566", "kumo URL whose Route53 the server answers from")
	addr := flag.String("addr", "127.0.0.1:15353", "UDP and TCP address to serve DNS on")
	flag.Parse()
	srv, err := dnsserver.StartAt(*kumo, *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("dns server on %s (udp+tcp), answering from %s\n", srv.Addr(), *kumo)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	srv.Stop()
}
