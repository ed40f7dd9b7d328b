package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certificate"

	"github.com/securesite-io/securesite/internal/certs"
)

// issue runs one order: account (cached), a new key, DNS-01 for every name, the certificate.
func (p *Pool) issue(ctx context.Context, req Request) *Result {
	if p.configErr != nil {
		return &Result{Err: p.configErr}
	}
	if len(req.Names) == 0 {
		return &Result{Err: errors.New("ACME order without DNS names")}
	}
	client, err := p.clientFor(ctx, req.Server, req.Email, req.CABundle)
	if err != nil {
		return &Result{Err: err}
	}
	// A new key for every order: renewal rotates the key, and a key that leaked with an old
	// Secret stops being useful when that certificate is replaced.
	key, keyPEM, err := certs.GenerateKey(req.Key)
	if err != nil {
		return &Result{Err: err}
	}
	obtain := certificate.ObtainRequest{
		Domains:    req.Names,
		PrivateKey: key,
		Bundle:     true,
		// Names are the SANs either way; the CN keeps the first name visible to tools that
		// still print only the subject.
		EnableCommonName: len(req.Names[0]) <= 64,
	}
	dir, err := p.directoryFor(req.Server, req.CABundle)
	if err == nil && req.Replaces != nil && dir.GetDirectory().RenewalInfo != "" {
		if obtain.ReplacesCertID, err = api.MakeARICertID(req.Replaces); err != nil {
			obtain.ReplacesCertID = ""
		}
	}
	res, err := client.certifier.Obtain(ctx, obtain)
	if err != nil && obtain.ReplacesCertID != "" && isProblem(err, legoacme.AlreadyReplacedErrorType) {
		// An earlier order replaced it but its result was lost (controller restart): the CA
		// only refuses the "replaces" link, not a plain new order.
		obtain.ReplacesCertID = ""
		res, err = client.certifier.Obtain(ctx, obtain)
	}
	if err != nil {
		if isProblem(err, legoacme.AccountDoesNotExistErrorType) {
			p.forgetClient(req.Server, req.Email, req.CABundle)
		}
		return &Result{Err: fmt.Errorf("ACME order for %v: %w", req.Names, err)}
	}
	out := &Result{CertPEM: res.Certificate, KeyPEM: keyPEM, CAPEM: certs.TopOfChainIfRoot(res.Certificate)}
	if leaf, err := leafOf(res.Certificate); err == nil {
		// Best effort: without a window the controller falls back to one third of the lifetime.
		out.ARI, _ = p.renewalInfo(ctx, leaf, req.Server, req.CABundle)
	}
	return out
}

// RenewalInfo asks the CA when cert should be renewed (ACME Renewal Information, RFC 9773). It
// returns nil, nil when the server does not offer renewalInfo.
func (p *Pool) RenewalInfo(ctx context.Context, cert *x509.Certificate, server string) (*certs.Window, error) {
	return p.renewalInfo(ctx, cert, server, nil)
}

func (p *Pool) renewalInfo(ctx context.Context, cert *x509.Certificate, server string, caBundle []byte) (*certs.Window, error) {
	if p.configErr != nil {
		return nil, p.configErr
	}
	dir, err := p.directoryFor(server, caBundle)
	if err != nil {
		return nil, err
	}
	certID, err := api.MakeARICertID(cert)
	if err != nil {
		return nil, err
	}
	info, err := dir.Certificates.GetRenewalInfo(ctx, certID)
	if errors.Is(err, api.ErrNoARI) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ACME renewal info: %w", err)
	}
	return &certs.Window{Start: info.SuggestedWindow.Start, End: info.SuggestedWindow.End}, nil
}

func leafOf(certPEM []byte) (*x509.Certificate, error) {
	chain, err := certs.ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	return chain[0], nil
}
