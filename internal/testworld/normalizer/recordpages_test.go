package normalizer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld"
)

// The run's emulator (kumo or moto) behind the normalising proxy, as every client sees it.
var (
	route53Client *r53.Client
	emulatorName  string
)

func TestMain(m *testing.M) {
	os.Exit(testworld.RunWithEmulator(m, func(e *testworld.Emulator, _ awsclient.Config) {
		route53Client, emulatorName = r53.NewFromConfig(e.RawAWSConfig()), e.Name
	}))
}

// recordSetKey is "name|type" with the name as Route53 answers it (lowercase, no trailing dot here).
func recordSetKey(s types.ResourceRecordSet) string {
	return strings.TrimSuffix(strings.ToLower(aws.ToString(s.Name)), ".") + "|" + string(s.Type)
}

func createZone(t *testing.T, name string) string {
	t.Helper()
	out, err := route53Client.CreateHostedZone(context.Background(), &r53.CreateHostedZoneInput{
		Name: aws.String(name), CallerReference: aws.String(fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatalf("creating zone %s: %v", name, err)
	}
	return aws.ToString(out.HostedZone.Id)
}

func createSets(t *testing.T, zone string, sets []types.ResourceRecordSet) {
	t.Helper()
	for start := 0; start < len(sets); start += 100 {
		var changes []types.Change
		for i := start; i < min(start+100, len(sets)); i++ {
			changes = append(changes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: &sets[i]})
		}
		_, err := route53Client.ChangeResourceRecordSets(context.Background(), &r53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(zone), ChangeBatch: &types.ChangeBatch{Changes: changes},
		})
		if err != nil {
			t.Fatalf("creating record sets: %v", err)
		}
	}
}

func recordSet(name string, typ types.RRType, value string) types.ResourceRecordSet {
	return types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(60),
		ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}}
}

// listPages lists a zone with the SDK's paginator, maxItems a page (0: Route53's default).
func listPages(t *testing.T, in *r53.ListResourceRecordSetsInput, maxItems int32) [][]types.ResourceRecordSet {
	t.Helper()
	if maxItems > 0 {
		in.MaxItems = aws.Int32(maxItems)
	}
	var pages [][]types.ResourceRecordSet
	p := r53.NewListResourceRecordSetsPaginator(route53Client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, out.ResourceRecordSets)
	}
	return pages
}

// Route53 answers ListResourceRecordSets in pages of at most 300 record sets, continued from
// NextRecordName/NextRecordType; kumo answers every set in one page, so a client on kumo would
// never read a zone page by page as it must on AWS. Through the proxy, a zone of 700 record sets
// comes in three pages, each set exactly once, and a listing starts where the request says.
func TestRecordSetsAreListedInPagesOf300(t *testing.T) {
	g := NewWithT(t)
	zone := createZone(t, "pages.test")
	var sets []types.ResourceRecordSet
	for i := range 350 {
		n := (i * 137) % 350 // created out of order: Route53 lists in its own order
		name := fmt.Sprintf("h%03d.pages.test", n)
		sets = append(sets, recordSet(name, types.RRTypeA, "192.0.2.1"), recordSet(name, types.RRTypeTxt, `"v"`))
	}
	createSets(t, zone, sets)

	seen := map[string]int{}
	pages := listPages(t, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)}, 0)
	total := 0
	for i, page := range pages {
		total += len(page)
		g.Expect(len(page)).To(BeNumerically("<=", 300), "page %d", i+1)
		if i < len(pages)-1 {
			g.Expect(page).To(HaveLen(300), "every page but the last is full")
		}
		for _, s := range page {
			seen[recordSetKey(s)]++
		}
	}
	t.Logf("%d record sets in %d pages", total, len(pages))
	g.Expect(len(pages)).To(Equal((total+299)/300), "pages of 300")
	g.Expect(len(pages)).To(BeNumerically(">", 1))
	for _, s := range sets {
		g.Expect(seen[recordSetKey(s)]).To(Equal(1), "%s listed once", recordSetKey(s))
	}
	for k, c := range seen {
		g.Expect(c).To(Equal(1), "%s listed once", k)
	}

	out, err := route53Client.ListResourceRecordSets(context.Background(), &r53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: aws.String("h200.pages.test"), StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(3),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.ResourceRecordSets).To(HaveLen(3))
	g.Expect(recordSetKey(out.ResourceRecordSets[0])).To(Equal("h200.pages.test|TXT"), "starts at name and type")
	g.Expect(recordSetKey(out.ResourceRecordSets[1])).To(Equal("h201.pages.test|A"))
	g.Expect(out.IsTruncated).To(BeTrue())
	g.Expect(strings.TrimSuffix(aws.ToString(out.NextRecordName), ".")).To(Equal("h202.pages.test"))
	g.Expect(out.NextRecordType).To(Equal(types.RRTypeA))

	out, err = route53Client.ListResourceRecordSets(context.Background(), &r53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: aws.String("h349.pages.test"),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.ResourceRecordSets).To(HaveLen(2), "name without type: from the name's first set to the end")
	g.Expect(recordSetKey(out.ResourceRecordSets[0])).To(Equal("h349.pages.test|A"))
	g.Expect(out.IsTruncated).To(BeFalse())
}

// A record set written between two pages of a listing, after where the listing is, shows on the
// later page, as on Route53 (the proxy keeps the zone it read between pages).
func TestRecordSetWrittenBetweenPagesIsListed(t *testing.T) {
	g := NewWithT(t)
	zone := createZone(t, "between.test")
	var sets []types.ResourceRecordSet
	for i := range 400 {
		sets = append(sets, recordSet(fmt.Sprintf("h%03d.between.test", i), types.RRTypeA, "192.0.2.1"))
	}
	createSets(t, zone, sets)
	first, err := route53Client.ListResourceRecordSets(context.Background(), &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first.IsTruncated).To(BeTrue())
	createSets(t, zone, []types.ResourceRecordSet{recordSet("zzz.between.test", types.RRTypeA, "192.0.2.2")})
	next, err := route53Client.ListResourceRecordSets(context.Background(), &r53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: first.NextRecordName, StartRecordType: first.NextRecordType,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recordSetKey(next.ResourceRecordSets[len(next.ResourceRecordSets)-1])).To(Equal("zzz.between.test|A"))
}

// Route53 lists record sets by name with the labels reversed and a trailing dot
// ("test.order.a-b." before "test.order.a."), then by type.
func TestRecordSetsAreListedInRoute53Order(t *testing.T) {
	g := NewWithT(t)
	zone := createZone(t, "order.test")
	sets := []types.ResourceRecordSet{
		recordSet("www.order.test", types.RRTypeA, "192.0.2.1"),
		recordSet("a.order.test", types.RRTypeTxt, `"v"`),
		recordSet("b.order.test", types.RRTypeA, "192.0.2.1"),
		recordSet("x.a.order.test", types.RRTypeA, "192.0.2.1"),
		recordSet("a.order.test", types.RRTypeA, "192.0.2.1"),
	}
	want := []string{"a.order.test|A", "a.order.test|TXT", "x.a.order.test|A", "b.order.test|A", "www.order.test|A"}
	if emulatorName != testworld.Moto {
		// moto sorts names without the trailing dot, so a-b comes after a there.
		sets = append(sets, recordSet("a-b.order.test", types.RRTypeA, "192.0.2.1"))
		want = append([]string{"a-b.order.test|A"}, want...)
	}
	createSets(t, zone, sets)
	var got []string
	for _, page := range listPages(t, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)}, 2) {
		g.Expect(len(page)).To(BeNumerically("<=", 2))
		for _, s := range page {
			if k := recordSetKey(s); k != "order.test|NS" && k != "order.test|SOA" {
				got = append(got, k)
			}
		}
	}
	g.Expect(got).To(Equal(want))
}
