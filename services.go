package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/acm"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/cloudfront"
	"github.com/securesite-io/securesite/internal/route53"
	"github.com/securesite-io/securesite/internal/s3bucket"
	"github.com/securesite-io/securesite/internal/smexport"
)

// services are the SDK-backed implementations the reconciler uses, sharing one AWS configuration
// (retries, call counting) and, for Route53, one snapshot cache and batcher per process.
type services struct {
	dns           *route53.Service
	issuer        *acme.Pool
	acm           *acm.Client
	buckets       *s3bucket.Client
	distributions controllers.CloudFront
	exporter      *smexport.Client
}

func newServices(ctx context.Context, mgr ctrl.Manager, o options, wake chan<- event.GenericEvent) (*services, error) {
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: o.awsRegion, EndpointURL: o.awsEndpointURL})
	if err != nil {
		return nil, err
	}
	var caBundle []byte
	if o.acmeCABundle != "" {
		if caBundle, err = os.ReadFile(o.acmeCABundle); err != nil {
			return nil, fmt.Errorf("reading --acme-ca-bundle: %w", err)
		}
	}
	var nameservers []string
	for _, ns := range strings.Split(o.dns01Nameservers, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			nameservers = append(nameservers, ns)
		}
	}
	dns := route53.New(cfg.AWS, route53.Options{})
	pool := acme.NewPool(acme.Options{
		Workers:                  o.issuanceWorkers,
		CABundle:                 caBundle,
		Nameservers:              nameservers,
		SkipAuthoritativeNSCheck: o.dns01SkipAuthoritative,
		Accounts:                 acme.NewSecretAccountStore(mgr.GetClient(), o.namespace),
		DNS:                      controllers.NewChallengeDNS(dns),
		Logger:                   slog.New(logr.ToSlogHandler(ctrl.Log.WithName("acme"))),
		Notify: func(site types.NamespacedName) {
			obj := &v1alpha1.SecureSite{}
			obj.Namespace, obj.Name = site.Namespace, site.Name
			select {
			case wake <- event.GenericEvent{Object: obj}:
			default:
				// The channel is full: the reconciler re-checks issuing sites every minute anyway.
			}
		},
	})
	if err := mgr.Add(pool); err != nil {
		return nil, err
	}
	return &services{
		dns:           dns,
		issuer:        pool,
		acm:           acm.New(cfg.AWS),
		buckets:       s3bucket.New(cfg),
		distributions: controllers.CloudFront{Client: cloudfront.New(cfg.AWS)},
		exporter:      smexport.New(cfg),
	}, nil
}
