// Package acmimport imports the site's ACME certificate into AWS Certificate Manager in us-east-1,
// the only region whose certificates CloudFront accepts.
package acmimport

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/certs"
)

// Region is where CloudFront looks for viewer certificates.
const Region = "us-east-1"

// Client imports, re-imports and deletes certificates.
type Client struct {
	api *acm.Client
}

// New returns a client. The region is pinned to us-east-1 whatever cfg says: a certificate
// imported anywhere else cannot be attached to a distribution.
func New(cfg aws.Config) *Client {
	return &Client{api: acm.NewFromConfig(cfg, func(o *acm.Options) { o.Region = Region })}
}

// SerialTag is the tag that names the serial number (hex) of the certificate a first import
// carried. ImportCertificate has no idempotency token, and the SDK retries it after a timeout or
// a 5xx whose import may have happened: a first import therefore looks for a certificate with its
// tags and serial before importing, so a lost answer does not leave an orphan behind.
const SerialTag = "securesite.io/certificate-serial"

// allKeyTypes makes ListCertificates list every certificate; by default it leaves out all but
// RSA 1024/2048 and EC P-256.
var allKeyTypes = types.KeyAlgorithm("").Values()

// Import imports the certificate. With arn "" a new ACM certificate is created and tagged (with
// tags and SerialTag), unless a certificate with those tags is already there from an earlier
// attempt; with an ARN the certificate is re-imported in place, so the distribution keeps
// pointing at the same ARN after a renewal. Tags are sent only on the first import: AWS rejects
// Tags on a re-import. certPEM may hold the leaf followed by its chain (a kubernetes.io/tls
// tls.crt); ACM wants them apart, so the chain is split off when chainPEM is empty.
func (c *Client) Import(ctx context.Context, arn string, certPEM, keyPEM, chainPEM []byte, tags map[string]string) (string, error) {
	leaf, rest := certs.SplitLeaf(certPEM)
	if leaf == nil {
		return "", errors.New("importing certificate to ACM: no PEM certificate in the certificate data")
	}
	block, _ := pem.Decode(leaf)
	parsed, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("importing certificate to ACM: %w", err)
	}
	if len(chainPEM) == 0 {
		chainPEM = rest
	}
	in := &acm.ImportCertificateInput{Certificate: leaf, PrivateKey: keyPEM}
	if len(chainPEM) > 0 {
		in.CertificateChain = chainPEM
	}
	if arn == "" {
		return c.importNew(ctx, in, parsed, tags)
	}
	imported, err := c.reimport(ctx, arn, in, parsed)
	if err != nil || imported != "" {
		return imported, err
	}
	// Deleted out of band, or a key AWS will not put under the old ARN: a new certificate, and
	// the caller repoints the distribution.
	return c.importNew(ctx, in, parsed, tags)
}

// reimport re-imports to arn. It returns "" with no error when the certificate must go to a new
// ARN instead: it was deleted out of band, or its key changed.
func (c *Client) reimport(ctx context.Context, arn string, in *acm.ImportCertificateInput, parsed *x509.Certificate) (string, error) {
	// AWS refuses a re-import that changes the key's algorithm or size (as with a change of
	// spec.certificate.privateKey): such a certificate goes to a new ARN, and the caller
	// repoints the distribution and retires the old one.
	desc, err := c.api.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	switch {
	case IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading ACM certificate %s: %w", arn, err)
	case desc.Certificate != nil && desc.Certificate.KeyAlgorithm != "" && desc.Certificate.KeyAlgorithm != KeyAlgorithm(parsed):
		return "", nil
	}
	again := *in
	again.CertificateArn = aws.String(arn)
	out, err := c.api.ImportCertificate(ctx, &again)
	switch {
	case IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("importing certificate to ACM: %w", err)
	}
	return aws.ToString(out.CertificateArn), nil
}

// importNew creates a new ACM certificate tagged with tags and the certificate's serial, unless
// one with those tags is already there from an earlier attempt.
func (c *Client) importNew(ctx context.Context, in *acm.ImportCertificateInput, parsed *x509.Certificate, tags map[string]string) (string, error) {
	tags = maps.Clone(tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[SerialTag] = parsed.SerialNumber.Text(16)
	names := certNames(parsed)
	found, err := c.FindImported(ctx, names, tags)
	if err != nil || found != "" {
		return found, err
	}
	first := *in
	first.CertificateArn = nil
	first.Tags = acmTags(tags)
	// A first import is sent once: a retry after a lost answer would create a second
	// certificate. After a failure the certificate is looked up by its tags instead, here and
	// again on the next pass.
	out, err := c.api.ImportCertificate(ctx, &first, func(o *acm.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) })
	if err != nil {
		if found, ferr := c.FindImported(ctx, names, tags); ferr == nil && found != "" {
			return found, nil
		}
		return "", fmt.Errorf("importing certificate to ACM: %w", err)
	}
	return aws.ToString(out.CertificateArn), nil
}

// FindImported returns the ARN of an imported certificate for one of names carrying every one of
// tags, or "". It lists the account's certificates and reads the tags of each imported one whose
// domain name is one of names (a summary without a domain name is read too), so a first import
// costs a tag read per certificate of the same name, not per certificate in the account.
func (c *Client) FindImported(ctx context.Context, names []string, tags map[string]string) (string, error) {
	p := acm.NewListCertificatesPaginator(c.api, &acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: allKeyTypes}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("listing ACM certificates: %w", err)
		}
		for _, sum := range page.CertificateSummaryList {
			if sum.Type != "" && sum.Type != types.CertificateTypeImported {
				continue
			}
			if d := aws.ToString(sum.DomainName); d != "" && !slices.Contains(names, strings.ToLower(d)) {
				continue
			}
			match, err := c.tagged(ctx, sum.CertificateArn, tags)
			if err != nil {
				return "", err
			}
			if match {
				return aws.ToString(sum.CertificateArn), nil
			}
		}
	}
	return "", nil
}

// certNames are the names a certificate's ACM summary may give as its domain name: the subject's
// common name and every DNS name, lower case.
func certNames(cert *x509.Certificate) []string {
	names := []string{strings.ToLower(cert.Subject.CommonName)}
	for _, n := range cert.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	return names
}

// tagged reports whether the certificate carries every one of tags (false when it was deleted
// since the listing).
func (c *Client) tagged(ctx context.Context, arn *string, tags map[string]string) (bool, error) {
	out, err := c.api.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: arn})
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading tags of ACM certificate %s: %w", aws.ToString(arn), err)
	}
	have := map[string]string{}
	for _, t := range out.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return hasAll(have, tags), nil
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// KeyAlgorithm is ACM's name for the certificate's key (RSA_2048, EC_prime256v1, ...).
func KeyAlgorithm(cert *x509.Certificate) types.KeyAlgorithm {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return types.KeyAlgorithm(fmt.Sprintf("RSA_%d", k.N.BitLen()))
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return types.KeyAlgorithmEcPrime256v1
		case 384:
			return types.KeyAlgorithmEcSecp384r1
		case 521:
			return types.KeyAlgorithmEcSecp521r1
		}
	}
	return ""
}

// Exists reports whether the certificate is still in ACM (someone may delete it by hand).
func (c *Client) Exists(ctx context.Context, arn string) (bool, error) {
	_, err := c.api.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading ACM certificate %s: %w", arn, err)
	}
	return true, nil
}

// Owner is the value of the certificate's tag key ("" when it has none); found is false when the
// certificate does not exist. ListTagsForCertificate answers ResourceNotFoundException for a
// certificate that is gone, so one call tells both.
func (c *Client) Owner(ctx context.Context, arn, key string) (owner string, found bool, err error) {
	out, err := c.api.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
	if IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading tags of ACM certificate %s: %w", arn, err)
	}
	for _, t := range out.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true, nil
		}
	}
	return "", true, nil
}

// IsNotFound reports whether err means the certificate does not exist.
func IsNotFound(err error) bool {
	return awsclient.ErrorCode(err) == "ResourceNotFoundException"
}

// ErrInUse means AWS still counts the certificate as used by a distribution (ResourceInUseException):
// for minutes after DeleteDistribution. It is a wait, not a failure.
var ErrInUse = errors.New("still in use")

// Delete deletes the certificate; one already gone is not an error. AWS refuses
// (ResourceInUseException) while a distribution still uses it, so the caller deletes the
// distribution first.
func (c *Client) Delete(ctx context.Context, arn string) error {
	_, err := c.api.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)})
	if awsclient.ErrorCode(err) == "ResourceInUseException" {
		return fmt.Errorf("ACM certificate %s: %w", arn, ErrInUse)
	}
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting ACM certificate %s: %w", arn, err)
	}
	return nil
}

func acmTags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
