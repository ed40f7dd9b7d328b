// Command demotool does the few things hack/demo.sh needs that a fresh machine has no tool for
// (no AWS CLI, no openssl assumed): create a hosted zone in the test world's kumo, list a zone's
// records, upload a file to a bucket, and summarise a certificate.
//
// usage:
//
//	demotool create-zone NAME            print the zone id (the existing one if NAME has a zone)
//	demotool records NAME                list the record sets of the zone NAME
//	demotool put-object BUCKET KEY FILE  upload FILE as KEY (content type from the extension)
//	demotool cert-summary [-roots FILE]  summarise the PEM (or base64 of PEM) certificates on stdin
//
// AWS calls go to AWS_ENDPOINT_URL with the credentials in the environment (source .world/env).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/securesite-io/securesite/internal/certs"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx := context.Background()
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "create-zone":
		err = createZone(ctx, oneArg(args))
	case "records":
		err = records(ctx, oneArg(args))
	case "set-record":
		if len(args) != 4 {
			usage()
		}
		err = setRecord(ctx, args[0], args[1], types.RRType(args[2]), args[3])
	case "put-object":
		if len(args) != 3 {
			usage()
		}
		err = putObject(ctx, args[0], args[1], args[2])
	case "cert-summary":
		fs := flag.NewFlagSet("cert-summary", flag.ExitOnError)
		roots := fs.String("roots", "", "PEM file of root CAs to verify the chain against")
		_ = fs.Parse(args)
		err = certSummary(os.Stdin, os.Stdout, *roots)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demotool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: demotool create-zone NAME | records NAME | set-record ZONE NAME TYPE VALUE | put-object BUCKET KEY FILE | cert-summary [-roots FILE]")
	os.Exit(2)
}

func oneArg(args []string) string {
	if len(args) != 1 {
		usage()
	}
	return args[0]
}

func awsConfig(ctx context.Context) (aws.Config, error) {
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		// Without it the SDK would talk to real AWS with whatever credentials the machine has.
		return aws.Config{}, errors.New("AWS_ENDPOINT_URL is not set: source .world/env first")
	}
	return config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
}

func route53Client(ctx context.Context) (*route53.Client, error) {
	cfg, err := awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return route53.NewFromConfig(cfg), nil
}

// zoneID finds the public zone named name; kumo stores names as sent, so both spellings match.
func zoneID(ctx context.Context, c *route53.Client, name string) (string, error) {
	want := strings.TrimSuffix(name, ".")
	out, err := c.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil {
		return "", err
	}
	for _, z := range out.HostedZones {
		if strings.TrimSuffix(aws.ToString(z.Name), ".") == want {
			return aws.ToString(z.Id), nil
		}
	}
	return "", nil
}

func createZone(ctx context.Context, name string) error {
	c, err := route53Client(ctx)
	if err != nil {
		return err
	}
	id, err := zoneID(ctx, c, name)
	if err != nil || id != "" {
		fmt.Println(id)
		return err
	}
	out, err := c.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name:            aws.String(name),
		CallerReference: aws.String(name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)),
	})
	if err != nil {
		return err
	}
	fmt.Println(aws.ToString(out.HostedZone.Id))
	return nil
}

// setRecord UPSERTs one record the way a hand edit in the console would, to show drift repair.
func setRecord(ctx context.Context, zone, name string, typ types.RRType, value string) error {
	c, err := route53Client(ctx)
	if err != nil {
		return err
	}
	id, err := zoneID(ctx, c, zone)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("no hosted zone %s", zone)
	}
	_, err = c.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{{
			Action: types.ChangeActionUpsert,
			ResourceRecordSet: &types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(300),
				ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}},
		}}},
	})
	return err
}

func records(ctx context.Context, name string) error {
	c, err := route53Client(ctx)
	if err != nil {
		return err
	}
	id, err := zoneID(ctx, c, name)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("no hosted zone %s", name)
	}
	out, err := c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVALUE")
	for _, rs := range out.ResourceRecordSets {
		var vals []string
		for _, r := range rs.ResourceRecords {
			vals = append(vals, aws.ToString(r.Value))
		}
		if rs.AliasTarget != nil {
			vals = append(vals, "alias → "+aws.ToString(rs.AliasTarget.DNSName))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", aws.ToString(rs.Name), rs.Type, strings.Join(vals, " "))
	}
	return tw.Flush()
}

func putObject(ctx context.Context, bucket, key, file string) error {
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// Path style: an emulator on 127.0.0.1 has no per-bucket host names.
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctype := mime.TypeByExtension(filepath.Ext(file))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(ctype),
	})
	return err
}

// certSummary prints what a person checks on a certificate: names, issuer, validity, key, and
// whether the chain verifies against the given roots.
func certSummary(in io.Reader, out io.Writer, rootsFile string) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		// kubectl's jsonpath prints Secret data base64-encoded.
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil {
			return fmt.Errorf("input is neither PEM nor base64 of PEM: %w", err)
		}
	}
	// Only CERTIFICATE blocks are read: never echo anything else, a key least of all.
	chain, err := certs.ParseCertificates(data)
	if err != nil {
		return fmt.Errorf("reading the certificates of the input: %w", err)
	}
	leaf := chain[0]
	left := time.Until(leaf.NotAfter).Round(time.Hour)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if subject := leaf.Subject.String(); subject != "" {
		// ACME CAs may leave the subject empty: the names live in the SAN extension alone.
		fmt.Fprintf(tw, "  subject\t%s\n", subject)
	}
	fmt.Fprintf(tw, "  DNS names\t%s\n", strings.Join(leaf.DNSNames, ", "))
	fmt.Fprintf(tw, "  issuer\t%s\n", leaf.Issuer)
	fmt.Fprintf(tw, "  serial\t%s\n", leaf.SerialNumber.Text(16))
	fmt.Fprintf(tw, "  valid\t%s → %s (%dd left)\n", leaf.NotBefore.UTC().Format(time.RFC3339),
		leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24))
	fmt.Fprintf(tw, "  key\t%s\n", keyDescription(leaf))
	fmt.Fprintf(tw, "  chain\t%d certificate(s) in tls.crt\n", len(chain))
	if rootsFile != "" {
		fmt.Fprintf(tw, "  verifies\t%s\n", verify(chain, rootsFile))
	}
	return tw.Flush()
}

func keyDescription(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	default:
		return c.PublicKeyAlgorithm.String()
	}
}

func verify(chain []*x509.Certificate, rootsFile string) string {
	pemRoots, err := os.ReadFile(rootsFile)
	if err != nil {
		return "cannot read roots: " + err.Error()
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemRoots)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return "NO: " + err.Error()
	}
	return "yes, against " + rootsFile
}
