// Package acmimport imports the site's ACME certificate into AWS Certificate Manager in us-east-1,
// the only region whose certificates CloudFront accepts.
package acmimport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// Import imports the certificate. With arn "" a new ACM certificate is created and tagged;
// with an ARN the certificate is re-imported in place, so the distribution keeps pointing at
// the same ARN after a renewal. Tags are sent only on the first import: AWS rejects Tags on a
// re-import. certPEM may hold the leaf followed by its chain (a kubernetes.io/tls tls.crt);
// ACM wants them apart, so the chain is split off when chainPEM is empty.
func (c *Client) Import(ctx context.Context, arn string, certPEM, keyPEM, chainPEM []byte, tags map[string]string) (string, error) {
	leaf, rest := certs.SplitLeaf(certPEM)
	if leaf == nil {
		return "", errors.New("importing certificate to ACM: no PEM certificate in the certificate data")
	}
	if len(chainPEM) == 0 {
		chainPEM = rest
	}
	in := &acm.ImportCertificateInput{Certificate: leaf, PrivateKey: keyPEM}
	if len(chainPEM) > 0 {
		in.CertificateChain = chainPEM
	}
	if arn != "" {
		in.CertificateArn = aws.String(arn)
	} else {
		in.Tags = acmTags(tags)
	}
	out, err := c.api.ImportCertificate(ctx, in)
	if err != nil {
		return "", fmt.Errorf("importing certificate to ACM: %w", err)
	}
	return aws.ToString(out.CertificateArn), nil
}

// Delete deletes the certificate; one already gone is not an error. AWS refuses
// (ResourceInUseException) while a distribution still uses it, so the caller deletes the
// distribution first.
func (c *Client) Delete(ctx context.Context, arn string) error {
	_, err := c.api.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil && awsclient.ErrorCode(err) != "ResourceNotFoundException" {
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
