package awsclient

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Regional keeps one SDK client per region, made on first use: S3 answers a request sent to the
// wrong region with a redirect, and Secrets Manager secrets live in the region they were made in.
type Regional[T any] struct {
	cfg     Config
	newFrom func(aws.Config) T

	mu      sync.Mutex
	clients map[string]T
}

// NewRegional returns a cache that builds clients with newFrom from cfg for each region.
func NewRegional[T any](cfg Config, newFrom func(aws.Config) T) *Regional[T] {
	return &Regional[T]{cfg: cfg, newFrom: newFrom, clients: map[string]T{}}
}

// For returns the client of region ("" is the configuration's default region).
func (r *Regional[T]) For(region string) T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[region]; ok {
		return c
	}
	c := r.newFrom(r.cfg.ForRegion(region))
	r.clients[region] = c
	return c
}
