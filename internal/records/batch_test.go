package records

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"
)

func requestFor(owner string, desired ...Record) *changeRequest {
	return &changeRequest{changes: Diff(NewSnapshot(), owner, desired).changes}
}

func upsertRequest(r Record) *changeRequest {
	return &changeRequest{changes: []types.Change{{Action: types.ChangeActionUpsert, ResourceRecordSet: new(recordToSDK(r))}}}
}

func sizes(batches [][]*changeRequest) []int {
	var out []int
	for _, b := range batches {
		out = append(out, len(b))
	}
	return out
}

func TestChangeCost(t *testing.T) {
	g := NewWithT(t)
	r := Record{Name: "x.z.site", Type: "A", TTL: 60, Values: []string{"192.0.2.1", "192.0.2.2"}}
	create := types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: new(recordToSDK(r))}
	n, ch := changeCost(create)
	g.Expect([]int{n, ch}).To(Equal([]int{2, 18}))
	upsert := types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: new(recordToSDK(r))}
	n, ch = changeCost(upsert)
	g.Expect([]int{n, ch}).To(Equal([]int{4, 36}), "UPSERT counts twice")
	alias := types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: new(recordToSDK(Record{Name: "z.site", Type: "A",
		Alias: &AliasTarget{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111.cloudfront.net"}}))}
	n, _ = changeCost(alias)
	g.Expect(n).To(Equal(1))
}

func TestPackBatches(t *testing.T) {
	many := func(n int, mk func(i int) *changeRequest) []*changeRequest {
		var out []*changeRequest
		for i := range n {
			out = append(out, mk(i))
		}
		return out
	}
	site := func(i int) *changeRequest {
		return requestFor(fmt.Sprintf("web/s%d", i), a(fmt.Sprintf("s%d.z.site", i), "192.0.2.1"))
	}
	bigTXT := func(i int) *changeRequest { // 10,000 characters of value each
		return requestFor(fmt.Sprintf("web/t%d", i), Record{Name: fmt.Sprintf("t%d.z.site", i), Type: "TXT", TTL: 60,
			Values: []string{strings.Repeat("x", 10_000)}})
	}
	cases := []struct {
		name   string
		reqs   []*changeRequest
		limits batchLimits
		want   []int
	}{
		{"50 sites of 2 records fit one batch", many(50, site), awsLimits, []int{50}},
		{"600 sites of 2 records: 1000-record limit gives 500 + 100", many(600, site), awsLimits, []int{500, 100}},
		{"upserts count twice: 600 single upserts give 500 + 100",
			many(600, func(i int) *changeRequest { return upsertRequest(a(fmt.Sprintf("u%d.z.site", i), "192.0.2.1")) }),
			awsLimits, []int{500, 100}},
		{"character limit: 3 requests of >10k chars per 32k batch", many(7, bigTXT), awsLimits, []int{3, 3, 1}},
		{"requests are never split: small limit still keeps each whole", many(3, site), batchLimits{maxRecords: 3, maxValueChars: 1000}, []int{1, 1, 1}},
		{"same record set from two callers goes in separate batches",
			[]*changeRequest{requestFor("web/a", a("same.z.site", "192.0.2.1")), requestFor("web/b", a("same.z.site", "192.0.2.2")), site(1)},
			awsLimits, []int{2, 1}},
		{"oversized request goes alone", []*changeRequest{site(0), bigTXT(0), site(1)}, batchLimits{maxRecords: 1000, maxValueChars: 5000}, []int{2, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			batches := packBatches(c.reqs, c.limits)
			g.Expect(sizes(batches)).To(Equal(c.want))
			total := 0
			for _, b := range batches {
				total += len(b)
				if len(b) > 1 {
					recs, chars := 0, 0
					for _, r := range b {
						n, ch := requestCost(r)
						recs, chars = recs+n, chars+ch
					}
					g.Expect(recs).To(BeNumerically("<=", c.limits.maxRecords))
					g.Expect(chars).To(BeNumerically("<=", c.limits.maxValueChars))
				}
			}
			g.Expect(total).To(Equal(len(c.reqs)), "every request is sent once")
		})
	}
}

func TestOrderChanges(t *testing.T) {
	g := NewWithT(t)
	mk := func(action types.ChangeAction, name, typ string) types.Change {
		return types.Change{Action: action, ResourceRecordSet: &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRType(typ)}}
	}
	in := []types.Change{
		mk(types.ChangeActionDelete, "gone.z.site", "A"),
		mk(types.ChangeActionUpsert, "drift.z.site", "A"),
		mk(types.ChangeActionCreate, "new.z.site", "A"),
		mk(types.ChangeActionCreate, "switch.z.site", "CNAME"),
		mk(types.ChangeActionDelete, "Switch.z.site.", "A"),
	}
	var got []string
	for _, c := range orderChanges(in) {
		got = append(got, string(c.Action)+" "+aws.ToString(c.ResourceRecordSet.Name))
	}
	g.Expect(got).To(Equal([]string{
		"DELETE Switch.z.site.", // replaced at the same name: delete first, as AWS documents
		"DELETE gone.z.site",
		"UPSERT drift.z.site",
		"CREATE new.z.site", "CREATE switch.z.site",
	}))
}
