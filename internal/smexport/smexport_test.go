package smexport

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/smexport/certdoc"
	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/testpki"
)

var cfg awsclient.Config

func TestMain(m *testing.M) {
	os.Exit(testworld.RunWithEmulator(m, func(_ *testworld.Emulator, c awsclient.Config) { cfg = c }))
}

const region = "ap-northeast-2"

func newDoc(t *testing.T, ca *testpki.CA) Document {
	t.Helper()
	l := ca.IssueNow(t, "infra.duckhoo.site")
	d, err := DocumentFromPEM(l.FullChain(ca), l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func puts() float64 { return awsclient.CallCount(ServiceID, "PutSecretValue") }

// current reads the AWSCURRENT document and the number of versions the secret has.
func current(t *testing.T, api *secretsmanager.Client, name string) (Document, string, int) {
	t.Helper()
	ctx := context.Background()
	v, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := certdoc.Parse([]byte(aws.ToString(v.SecretString)))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return d, aws.ToString(v.VersionId), len(desc.VersionIdsToStages)
}

func TestExportCreatesThenWritesOnlyNewSerials(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	api := secretsmanager.NewFromConfig(cfg.ForRegion(region))
	ca := testpki.NewCA(t, "Test Intermediate")
	name := "securesite/infra.duckhoo.site"
	tags := map[string]string{naming.TagOwner: "web/duckhoo", "securesite.io/site": "duckhoo.site"}

	// First export: the secret is created with its tags and key, holding the document.
	doc1 := newDoc(t, ca)
	p0 := puts()
	arn, v1, changed, err := c.Export(ctx, region, name, "alias/securesite", doc1, tags)
	if err != nil || !changed || arn == "" || v1 == "" {
		t.Fatalf("first Export = %q %q %v %v", arn, v1, changed, err)
	}
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if tagValue(desc.Tags, naming.TagOwner) != "web/duckhoo" || tagValue(desc.Tags, "securesite.io/site") != "duckhoo.site" {
		t.Fatalf("tags = %+v", desc.Tags)
	}
	if aws.ToString(desc.KmsKeyId) != "alias/securesite" {
		t.Fatalf("KmsKeyId = %q", aws.ToString(desc.KmsKeyId))
	}
	got, cur, n := current(t, api, name)
	if got.Serial != doc1.Serial || got.PrivateKey != doc1.PrivateKey || got.Chain != doc1.Chain || cur != v1 || n != 1 {
		t.Fatalf("after create: serial %s version %s (%d versions), want %s %s", got.Serial, cur, n, doc1.Serial, v1)
	}

	// Resync with the same certificate: no write, same version reported, two reads in all.
	calls := awsclient.CallCount(ServiceID, "")
	arn2, v, changed, err := c.Export(ctx, region, name, "alias/securesite", doc1, tags)
	if n := awsclient.CallCount(ServiceID, "") - calls; n != 2 {
		t.Fatalf("a resync made %v Secrets Manager calls, want 2 (DescribeSecret, GetSecretValue)", n)
	}
	if err != nil || changed || v != v1 || arn2 != arn {
		t.Fatalf("re-export = %q %q %v %v, want %q %q unchanged", arn2, v, changed, err, arn, v1)
	}
	if _, _, n := current(t, api, name); n != 1 || puts() != p0 {
		t.Fatalf("re-export wrote: %d versions, %v PutSecretValue calls", n, puts()-p0)
	}

	// Renewal: a new version becomes AWSCURRENT, the old one AWSPREVIOUS.
	doc2 := newDoc(t, ca)
	_, v2, changed, err := c.Export(ctx, region, name, "alias/securesite", doc2, tags)
	if err != nil || !changed || v2 == v1 {
		t.Fatalf("renewal Export = %q %v %v", v2, changed, err)
	}
	got, cur, n = current(t, api, name)
	if got.Serial != doc2.Serial || cur != v2 || n != 2 || puts() != p0+1 {
		t.Fatalf("after renewal: serial %s version %s, %d versions, %v puts", got.Serial, cur, n, puts()-p0)
	}
	prev, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.VersionId) != v1 {
		t.Fatalf("AWSPREVIOUS = %v, %v; want %s", prev, err, v1)
	}
}

func TestExportRefusesForeignSecrets(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	api := secretsmanager.NewFromConfig(cfg.ForRegion(region))
	doc := newDoc(t, testpki.NewCA(t, "Test Intermediate"))
	ours := map[string]string{naming.TagOwner: "web/duckhoo"}

	for _, tc := range []struct {
		name string
		tags []types.Tag
	}{
		{name: "handmade/no-tags"},
		{name: "other/site", tags: []types.Tag{{Key: aws.String(naming.TagOwner), Value: aws.String("shop/duckhoo")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const value = `{"password":"hunter2"}`
			if _, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(tc.name), SecretString: aws.String(value), Tags: tc.tags}); err != nil {
				t.Fatal(err)
			}
			p0 := puts()
			_, _, changed, err := c.Export(ctx, region, tc.name, "", doc, ours)
			if !errors.Is(err, ErrOwnedElsewhere) || changed {
				t.Fatalf("Export over a foreign secret = %v, changed %v; want ErrOwnedElsewhere", err, changed)
			}
			v, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tc.name)})
			if err != nil || aws.ToString(v.SecretString) != value || puts() != p0 {
				t.Fatalf("foreign secret touched: %v %v", v, err)
			}
			if err := c.Delete(ctx, region, tc.name, "web/duckhoo"); !errors.Is(err, ErrOwnedElsewhere) {
				t.Fatalf("Delete of a foreign secret = %v, want ErrOwnedElsewhere", err)
			}
			if _, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tc.name)}); err != nil {
				t.Fatalf("foreign secret deleted: %v", err)
			}
		})
	}
}

func TestExportRequiresAnOwnerTag(t *testing.T) {
	doc := newDoc(t, testpki.NewCA(t, "Test Intermediate"))
	if _, _, _, err := New(cfg).Export(context.Background(), region, "securesite/untagged", "", doc, nil); err == nil {
		t.Fatal("Export without an owner tag succeeded: it would create a secret nobody can later adopt or delete")
	}
}

func TestDeleteSchedulesOwnedSecretsOnly(t *testing.T) {
	ctx := context.Background()
	c := New(cfg)
	api := secretsmanager.NewFromConfig(cfg.ForRegion(region))
	name := "securesite/delete-me"
	doc := newDoc(t, testpki.NewCA(t, "Test Intermediate"))
	if _, _, _, err := c.Export(ctx, region, name, "", doc, map[string]string{naming.TagOwner: "web/gone"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, region, name, "web/someone-else"); !errors.Is(err, ErrOwnedElsewhere) {
		t.Fatalf("Delete by another owner = %v", err)
	}
	if err := c.Delete(ctx, region, name, "web/gone"); err != nil {
		t.Fatal(err)
	}
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil || desc.DeletedDate == nil {
		t.Fatalf("after Delete: %v, DeletedDate %v; want scheduled for deletion (recoverable)", err, desc.DeletedDate)
	}
	deletes := awsclient.CallCount(ServiceID, "DeleteSecret")
	if err := c.Delete(ctx, region, name, "web/gone"); err != nil || awsclient.CallCount(ServiceID, "DeleteSecret") != deletes {
		t.Fatalf("second Delete = %v (and %v DeleteSecret calls); want nil, no call", err, awsclient.CallCount(ServiceID, "DeleteSecret")-deletes)
	}
	if err := c.Delete(ctx, region, "securesite/never-existed", "web/gone"); err != nil {
		t.Fatalf("Delete of a missing secret = %v, want nil", err)
	}
}
