package cdn

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
)

// Owner returns the value of the distribution's tag key (the owner tag), and found=false when
// the distribution does not exist. The controller asks before it updates, disables or deletes a
// distribution named in a SecureSite's status: status can be edited by whoever may write it, so
// it is not proof that the distribution is the site's.
func (c *Client) Owner(ctx context.Context, id, key string) (owner string, found bool, err error) {
	dist, err := c.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	out, err := c.api.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: aws.String(dist.ARN)})
	if err != nil {
		return "", true, fmt.Errorf("reading the tags of distribution %s: %w", id, err)
	}
	if out.Tags != nil {
		for _, t := range out.Tags.Items {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value), true, nil
			}
		}
	}
	return "", true, nil
}
