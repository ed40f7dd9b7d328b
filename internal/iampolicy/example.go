package iampolicy

// Example is what docs/iam-policy.json is generated from (go generate ./internal/iampolicy): the
// samples' zone and domain. Generate your own with go run ./hack/iampolicy and your values.
var Example = Params{
	OwnerID:       "example-cluster",
	ZoneIDs:       []string{"Z0123456789ABC"},
	Domains:       []string{"duckhoo.site"},
	BucketPrefix:  "duckhoo-",
	SecretsPrefix: "securesite/",
}

//go:generate go run ../../hack/iampolicy -example -o ../../docs/iam-policy.json
