// Package awsclient builds the AWS SDK configuration every service client shares: region,
// optional endpoint override (for emulators), retries with jittered backoff for throttling, and a
// Prometheus counter of every call by service, operation and result.
package awsclient

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options configures the shared AWS configuration.
type Options struct {
	// Region is the default region (buckets may name their own).
	Region string
	// EndpointURL, when set, sends every service to this URL (an AWS emulator). The SDK's
	// own AWS_ENDPOINT_URL environment variable works too.
	EndpointURL string
	// StaticCredentials, when set, replaces the SDK default credential chain (tests, emulators).
	StaticCredentials *aws.Credentials
	// MaxAttempts bounds retries per call (throttling, 5xx, timeouts). Default 10.
	MaxAttempts int
	// MaxBackoff caps the jittered exponential backoff between attempts. Default 20s.
	MaxBackoff time.Duration
}

// Config is a loaded AWS configuration plus the endpoint override each client must honour.
type Config struct {
	AWS         aws.Config
	EndpointURL string
}

// Load builds the configuration from the SDK default chain (environment, shared config, IRSA,
// EKS Pod Identity, instance role) plus the options.
func Load(ctx context.Context, o Options) (Config, error) {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 10
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Second
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				// The standard retryer's client-side retry quota gives up after a burst of
				// throttling; Route53's 5 requests/second limit makes such bursts normal, so we rely
				// on backoff alone and let the controller's rate limiter handle the rest.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	if o.StaticCredentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: *o.StaticCredentials}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	cfg.APIOptions = append(cfg.APIOptions, countCalls)
	if o.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(o.EndpointURL)
	}
	return Config{AWS: cfg, EndpointURL: o.EndpointURL}, nil
}

// ForRegion returns a copy of the configuration for another region.
func (c Config) ForRegion(region string) aws.Config {
	cfg := c.AWS.Copy()
	if region != "" {
		cfg.Region = region
	}
	return cfg
}
