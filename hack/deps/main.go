package main
import (
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/route53"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	_ "github.com/aws/aws-sdk-go-v2/service/acm"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/go-acme/lego/v5/lego"
	_ "github.com/go-acme/lego/v5/challenge/dns01"
	_ "github.com/go-acme/lego/v5/certificate"
	_ "github.com/go-acme/lego/v5/registration"
	_ "github.com/go-acme/lego/v5/certcrypto"
	_ "github.com/miekg/dns"
	_ "github.com/yuin/gopher-lua"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/onsi/gomega"
)
func main() {}
