// Package smexport copies a site's certificate to AWS Secrets Manager, for backends that do not run
// in Kubernetes (an EC2 instance behind an Elastic IP reads it with securesite-agent). Each
// renewal is a new secret version; AWSCURRENT always names the certificate to serve.
package smexport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/smexport/certdoc"
)

// ServiceID is the SDK's service id, the "service" label of awsclient.Calls.
const ServiceID = secretsmanager.ServiceID

// ErrOwnedElsewhere means a secret with that name exists but is not tagged as this site's: it was
// made by hand or belongs to another SecureSite, and is neither overwritten nor deleted.
var ErrOwnedElsewhere = errors.New("secret exists and is not owned by this SecureSite (securesite.io/owner tag differs)")

// Document is the secret's JSON value (see certdoc).
type Document = certdoc.Document

// DocumentFromPEM splits a kubernetes.io/tls tls.crt into leaf and chain and reads the serial and
// expiry from the leaf; the key must belong to the leaf.
func DocumentFromPEM(certChainPEM, keyPEM []byte) (Document, error) {
	return certdoc.FromPEM(certChainPEM, keyPEM)
}

// Client writes and deletes export secrets in any region.
type Client struct {
	regions *awsclient.Regional[*secretsmanager.Client]
}

// New returns a client; per-region SDK clients are made on first use.
func New(cfg awsclient.Config) *Client {
	return &Client{regions: awsclient.NewRegional(cfg, func(c aws.Config) *secretsmanager.Client {
		return secretsmanager.NewFromConfig(c)
	})}
}

func (c *Client) api(region string) *secretsmanager.Client { return c.regions.For(region) }

// Export makes the secret's AWSCURRENT version hold doc. It creates the secret (tagged, encrypted
// with kmsKeyID when given) if missing, adopts an existing one only when its owner tag equals
// tags[naming.TagOwner], and writes a new version only when the current one carries another serial, so a
// resync costs one DescribeSecret and one GetSecretValue and no write. changed reports a write.
func (c *Client) Export(ctx context.Context, region, name, kmsKeyID string, doc Document, tags map[string]string) (arn, versionID string, changed bool, err error) {
	owner := tags[naming.TagOwner]
	if owner == "" {
		return "", "", false, fmt.Errorf("exporting to secret %s: tags must name the owner (%s)", name, naming.TagOwner)
	}
	value, err := doc.Marshal()
	if err != nil {
		return "", "", false, fmt.Errorf("exporting to secret %s: encoding the document: %w", name, err)
	}
	api := c.api(region)

	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	switch {
	case awsclient.ErrorCode(err) == "ResourceNotFoundException":
		arn, versionID, err = c.create(ctx, api, name, kmsKeyID, value, tags)
		if err == nil || awsclient.ErrorCode(err) != "ResourceExistsException" {
			return arn, versionID, err == nil, err
		}
		// Someone created it between our describe and create (another controller replica during a
		// leader hand-over): judge it by its tags like any existing secret.
		if desc, err = api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err != nil {
			return "", "", false, fmt.Errorf("describing secret %s: %w", name, err)
		}
	case err != nil:
		return "", "", false, fmt.Errorf("describing secret %s: %w", name, err)
	}
	arn = aws.ToString(desc.ARN)
	if got := tagValue(desc.Tags, naming.TagOwner); got != owner {
		return arn, "", false, ownedElsewhere(name, got)
	}
	if desc.DeletedDate != nil {
		// Our own secret, scheduled for deletion by an earlier Delete (export removed, then added
		// back within the recovery window): AWS refuses every write until it is restored.
		if _, err := api.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)}); err != nil {
			return arn, "", false, fmt.Errorf("restoring secret %s scheduled for deletion: %w", name, err)
		}
	}

	cur, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	switch {
	case err == nil:
		if current, perr := certdoc.Parse([]byte(aws.ToString(cur.SecretString))); perr == nil && strings.EqualFold(current.Serial, doc.Serial) {
			return arn, aws.ToString(cur.VersionId), false, nil
		}
	case awsclient.ErrorCode(err) == "ResourceNotFoundException":
		// The secret exists without an AWSCURRENT value (created empty): the put below gives it one.
	default:
		return arn, "", false, fmt.Errorf("reading secret %s: %w", name, err)
	}

	// No ClientRequestToken: the SDK fills a random one, reused across its retries, so a retried
	// put cannot create two versions; a token derived from the content would instead turn a
	// later roll-back to an earlier value into a silent no-op.
	out, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(name),
		SecretString: aws.String(value),
	})
	if err != nil {
		return arn, "", false, fmt.Errorf("writing a new version of secret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), aws.ToString(out.VersionId), true, nil
}

func (c *Client) create(ctx context.Context, api *secretsmanager.Client, name, kmsKeyID, value string, tags map[string]string) (string, string, error) {
	in := &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String("TLS certificate exported by SecureSite " + tags[naming.TagOwner] + "; read it with securesite-agent"),
		SecretString: aws.String(value),
		Tags:         smTags(tags),
	}
	if kmsKeyID != "" {
		in.KmsKeyId = aws.String(kmsKeyID)
	}
	out, err := api.CreateSecret(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("creating secret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), aws.ToString(out.VersionId), nil
}

// Delete schedules the secret for deletion with the shortest recovery window AWS allows, so an
// accidental removal of the export can still be undone (RestoreSecret) for a week. A secret
// that is gone or already scheduled is not an error; one owned by someone else is refused.
func (c *Client) Delete(ctx context.Context, region, name string, owner string) error {
	api := c.api(region)
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if awsclient.ErrorCode(err) == "ResourceNotFoundException" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing secret %s: %w", name, err)
	}
	if got := tagValue(desc.Tags, naming.TagOwner); got != owner {
		return ownedElsewhere(name, got)
	}
	if desc.DeletedDate != nil {
		return nil
	}
	_, err = api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:                   aws.String(name),
		RecoveryWindowInDays:       aws.Int64(7),
		ForceDeleteWithoutRecovery: aws.Bool(false),
	})
	if err != nil && awsclient.ErrorCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("deleting secret %s: %w", name, err)
	}
	return nil
}

func ownedElsewhere(name, got string) error {
	if got == "" {
		return fmt.Errorf("secret %s has no %s tag: %w", name, naming.TagOwner, ErrOwnedElsewhere)
	}
	return fmt.Errorf("secret %s is owned by %s: %w", name, got, ErrOwnedElsewhere)
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func smTags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
