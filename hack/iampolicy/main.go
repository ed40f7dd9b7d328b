// Command iampolicy writes the controller's IAM policy for an installation's zones, names,
// prefixes and owner id:
//
//	go run ./hack/iampolicy --owner-id=$(kubectl get ns kube-system -o jsonpath='{.metadata.uid}') \
//	    --zone-ids=Z0123456789ABC --domains=duckhoo.site --bucket-prefix=duckhoo- \
//	    --secrets-prefix=securesite/ -o iam-policy.json
//
// With -example it writes the documented example (docs/iam-policy.json, via go generate).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/securesite-io/securesite/internal/iampolicy"
)

func main() {
	var (
		p              iampolicy.Params
		zones, domains string
		out            string
		example        bool
	)
	flag.StringVar(&p.OwnerID, "owner-id", "", "the controller's --owner-id (default of the controller: the kube-system namespace's UID); empty: any owner tag")
	flag.StringVar(&zones, "zone-ids", "", "comma-separated hosted zone ids the controller may write (empty: all)")
	flag.StringVar(&domains, "domains", "", "comma-separated names (and names below them) it may write records for: the union of your classes' domains (empty: any)")
	flag.StringVar(&p.BucketPrefix, "bucket-prefix", "", "prefix of every bucket it may create or manage")
	flag.StringVar(&p.SecretsPrefix, "secrets-prefix", "", "prefix of every Secrets Manager secret it may export to")
	flag.StringVar(&out, "o", "-", "output file (- for stdout)")
	flag.BoolVar(&example, "example", false, "write the documented example instead (docs/iam-policy.json)")
	flag.Parse()
	if example {
		p = iampolicy.Example
	} else {
		p.ZoneIDs, p.Domains = split(zones), split(domains)
	}
	b, err := iampolicy.Generate(p).JSON()
	if err == nil {
		if out == "-" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "iampolicy:", err)
		os.Exit(1)
	}
}

func split(v string) []string {
	var outList []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			outList = append(outList, s)
		}
	}
	return outList
}
