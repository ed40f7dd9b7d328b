package cdn

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/securesite-io/securesite/internal/awsclient"
)

// ErrNotFound means the distribution does not exist.
var ErrNotFound = errors.New("distribution not found")

// ErrInUse means AWS still counts the origin access control as used by a distribution: for minutes
// after DeleteDistribution, AWS answers OriginAccessControlInUse. It is a wait, not a failure.
var ErrInUse = errors.New("still in use")

// maxUpdateAttempts bounds re-reads after a lost IfMatch race with another writer.
const maxUpdateAttempts = 3

// Distribution is what the controller records in status.
type Distribution struct {
	ID, ARN, DomainName, Status, ETag string
	Enabled                           bool
}

// Client manages distributions and origin access controls. CloudFront is a global service
// (its endpoint lives in us-east-1), so one client serves every site.
type Client struct {
	api *cloudfront.Client
}

// New returns a client.
func New(cfg aws.Config) *Client {
	return &Client{api: cloudfront.NewFromConfig(cfg)}
}

// EnsureOAC returns the id of the S3 origin access control called name, creating it when it
// does not exist. OAC names are unique per account, so the name is the lookup key.
func (c *Client) EnsureOAC(ctx context.Context, name string) (string, error) {
	if id, err := c.findOAC(ctx, name); id != "" || err != nil {
		return id, err
	}
	out, err := c.api.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{
		OriginAccessControlConfig: &types.OriginAccessControlConfig{
			Name:                          aws.String(name),
			Description:                   aws.String("SecureSite: CloudFront reads the site bucket"),
			OriginAccessControlOriginType: types.OriginAccessControlOriginTypesS3,
			// always: every origin request is signed, so the bucket policy can require it.
			SigningBehavior: types.OriginAccessControlSigningBehaviorsAlways,
			SigningProtocol: types.OriginAccessControlSigningProtocolsSigv4,
		},
	})
	if awsclient.ErrorCode(err) == "OriginAccessControlAlreadyExists" {
		return c.findOAC(ctx, name) // created concurrently
	}
	if err != nil {
		return "", fmt.Errorf("creating origin access control %s: %w", name, err)
	}
	return aws.ToString(out.OriginAccessControl.Id), nil
}

func (c *Client) findOAC(ctx context.Context, name string) (string, error) {
	var marker *string
	for {
		out, err := c.api.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{Marker: marker})
		if err != nil {
			return "", fmt.Errorf("listing origin access controls: %w", err)
		}
		l := out.OriginAccessControlList
		if l == nil {
			return "", nil
		}
		for _, o := range l.Items {
			if aws.ToString(o.Name) == name {
				return aws.ToString(o.Id), nil
			}
		}
		if !aws.ToBool(l.IsTruncated) || aws.ToString(l.NextMarker) == "" {
			return "", nil
		}
		marker = l.NextMarker
	}
}

// Ensure makes the distribution match d and returns it with the list of changes made ("created"
// or the names of the fields updated). With id "" (or an id that no longer exists) it creates
// the distribution; creation is idempotent through d.CallerReference. A distribution that
// already matches costs one GetDistribution.
func (c *Client) Ensure(ctx context.Context, id string, d Desired) (Distribution, []string, error) {
	desired := DesiredConfig(d)
	if id != "" {
		dist, observed, err := c.getWithConfig(ctx, id)
		if err == nil {
			return c.converge(ctx, dist, observed, desired)
		}
		if !errors.Is(err, ErrNotFound) {
			return Distribution{}, nil, err
		}
		// Deleted behind our back: create it again (a new CallerReference is not needed, AWS
		// forgets the old one with the distribution).
	}
	out, err := c.api.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
		DistributionConfigWithTags: &types.DistributionConfigWithTags{DistributionConfig: desired, Tags: cfTags(d.Tags)},
	})
	if err == nil {
		return fromAPI(out.Distribution, aws.ToString(out.ETag)), []string{"created"}, nil
	}
	if awsclient.ErrorCode(err) != "DistributionAlreadyExists" {
		return Distribution{}, nil, fmt.Errorf("creating distribution: %w", err)
	}
	// An earlier attempt created it but we lost the answer (crash, timeout, status not written).
	existing, err := c.findByCallerReference(ctx, err, d)
	if err != nil {
		return Distribution{}, nil, err
	}
	dist, observed, err := c.getWithConfig(ctx, existing)
	if err != nil {
		return Distribution{}, nil, err
	}
	return c.converge(ctx, dist, observed, desired)
}

// alreadyExistsID matches the id AWS names in DistributionAlreadyExists: "... Already exists:
// E1SXXXXXXXXXX".
var alreadyExistsID = regexp.MustCompile(`Already exists: ([A-Z0-9]+)`)

// findByCallerReference finds the distribution a DistributionAlreadyExists error refers to.
// AWS names it in the message, but the message is not part of the API contract and CloudFront has
// no lookup by caller reference, so without an id we list distributions, narrow by Comment, and
// confirm the caller reference in each candidate's configuration.
func (c *Client) findByCallerReference(ctx context.Context, createErr error, d Desired) (string, error) {
	if m := alreadyExistsID.FindStringSubmatch(createErr.Error()); m != nil {
		return m[1], nil
	}
	p := cloudfront.NewListDistributionsPaginator(c.api, &cloudfront.ListDistributionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("listing distributions: %w", err)
		}
		if page.DistributionList == nil {
			break
		}
		for _, s := range page.DistributionList.Items {
			if aws.ToString(s.Comment) != d.Comment {
				continue
			}
			out, err := c.api.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: s.Id})
			if err != nil {
				return "", fmt.Errorf("reading distribution %s: %w", aws.ToString(s.Id), err)
			}
			if aws.ToString(out.DistributionConfig.CallerReference) == d.CallerReference {
				return aws.ToString(s.Id), nil
			}
		}
	}
	return "", fmt.Errorf("CloudFront reports a distribution with caller reference %s but none was found: %w", d.CallerReference, createErr)
}

// converge updates the distribution when it differs from desired. UpdateDistribution needs the
// ETag of the configuration it replaces (IfMatch); when another writer got there first, the
// configuration is read again and the diff redone.
func (c *Client) converge(ctx context.Context, dist Distribution, observed, desired *types.DistributionConfig) (Distribution, []string, error) {
	for attempt := 1; ; attempt++ {
		needed, diffs := NeedsUpdate(observed, desired)
		if !needed {
			return dist, nil, nil
		}
		updated, err := c.update(ctx, dist.ID, dist.ETag, UpdateConfig(observed, desired))
		if err == nil {
			return updated, diffs, nil
		}
		if !staleETag(err) || attempt == maxUpdateAttempts {
			return dist, nil, fmt.Errorf("updating distribution %s (%v): %w", dist.ID, diffs, err)
		}
		if dist, observed, err = c.getWithConfig(ctx, dist.ID); err != nil {
			return dist, nil, err
		}
	}
}

func (c *Client) update(ctx context.Context, id, etag string, cfg *types.DistributionConfig) (Distribution, error) {
	out, err := c.api.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
		Id: aws.String(id), IfMatch: aws.String(etag), DistributionConfig: cfg,
	})
	if err != nil {
		return Distribution{}, err
	}
	return fromAPI(out.Distribution, aws.ToString(out.ETag)), nil
}

// staleETag recognises a lost IfMatch race: AWS answers a stale ETag with PreconditionFailed
// (InvalidIfMatchVersion is for a missing one, which we never send).
func staleETag(err error) bool {
	return awsclient.ErrorCode(err) == "PreconditionFailed"
}

// Get returns the distribution without its configuration; ErrNotFound when it does not exist.
func (c *Client) Get(ctx context.Context, id string) (Distribution, error) {
	d, _, err := c.getWithConfig(ctx, id)
	return d, err
}

// getWithConfig returns the distribution and its configuration; ErrNotFound when it does not exist.
func (c *Client) getWithConfig(ctx context.Context, id string) (Distribution, *types.DistributionConfig, error) {
	out, err := c.api.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)})
	if awsclient.ErrorCode(err) == "NoSuchDistribution" {
		return Distribution{}, nil, fmt.Errorf("distribution %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Distribution{}, nil, fmt.Errorf("reading distribution %s: %w", id, err)
	}
	return fromAPI(out.Distribution, aws.ToString(out.ETag)), out.Distribution.DistributionConfig, nil
}

// Disable turns the distribution off, the step AWS requires before deletion. The caller then
// waits for Status Deployed before calling Delete.
func (c *Client) Disable(ctx context.Context, id string) (Distribution, error) {
	dist, observed, err := c.getWithConfig(ctx, id)
	if err != nil {
		return dist, err
	}
	for attempt := 1; dist.Enabled; attempt++ {
		off := *observed
		off.Enabled = aws.Bool(false)
		updated, err := c.update(ctx, id, dist.ETag, &off)
		if err == nil {
			return updated, nil
		}
		if !staleETag(err) || attempt == maxUpdateAttempts {
			return dist, fmt.Errorf("disabling distribution %s: %w", id, err)
		}
		if dist, observed, err = c.getWithConfig(ctx, id); err != nil {
			return dist, err
		}
	}
	return dist, nil
}

// Delete deletes a disabled, Deployed distribution (the caller checks; AWS refuses otherwise
// with DistributionNotDisabled). etag is the
// one from the Get or Disable that saw it Deployed. A distribution already gone is not an error.
func (c *Client) Delete(ctx context.Context, id, etag string) error {
	_, err := c.api.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: aws.String(id), IfMatch: aws.String(etag)})
	if err != nil && awsclient.ErrorCode(err) != "NoSuchDistribution" {
		return fmt.Errorf("deleting distribution %s: %w", id, err)
	}
	return nil
}

func fromAPI(d *types.Distribution, etag string) Distribution {
	if d == nil {
		return Distribution{ETag: etag}
	}
	out := Distribution{
		ID: aws.ToString(d.Id), ARN: aws.ToString(d.ARN), DomainName: aws.ToString(d.DomainName),
		Status: aws.ToString(d.Status), ETag: etag,
	}
	if d.DistributionConfig != nil {
		out.Enabled = aws.ToBool(d.DistributionConfig.Enabled)
	}
	return out
}

func cfTags(m map[string]string) *types.Tags {
	t := &types.Tags{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		t.Items = append(t.Items, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return t
}

// DeleteOAC deletes an origin access control once no distribution uses it (AWS refuses with
// OriginAccessControlInUse before that). One already gone is not an error.
func (c *Client) DeleteOAC(ctx context.Context, id string) error {
	got, err := c.api.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: aws.String(id)})
	if awsclient.ErrorCode(err) == "NoSuchOriginAccessControl" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading origin access control %s: %w", id, err)
	}
	_, err = c.api.DeleteOriginAccessControl(ctx, &cloudfront.DeleteOriginAccessControlInput{Id: aws.String(id), IfMatch: got.ETag})
	if awsclient.ErrorCode(err) == "OriginAccessControlInUse" {
		return fmt.Errorf("origin access control %s: %w", id, ErrInUse)
	}
	if err != nil && awsclient.ErrorCode(err) != "NoSuchOriginAccessControl" {
		return fmt.Errorf("deleting origin access control %s: %w", id, err)
	}
	return nil
}
