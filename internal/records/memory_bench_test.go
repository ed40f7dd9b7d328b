package records

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/securesite-io/securesite/internal/testworld"
)

// benchSites is the size the memory target is set for: 10,000 sites in one hosted zone.
const benchSites = 10000

const benchZone = "bench.example"

// benchOwner is the owner a site's records are written for, as the controller names it.
func benchOwner(i int) string { return fmt.Sprintf("cluster-1/ns-%d/site-%05d", i%50, i) }

func benchKey(i int) string { return fmt.Sprintf("ns-%d/site-%05d", i%50, i) }

func benchStatic(i int) bool { return i%100 == 0 }

// benchDesired is what site i wants: a backend A record, and every 100th site a static site
// whose A and AAAA aliases point at its CloudFront distribution. Strings are built per site, as
// they come from each site's spec.
func benchDesired(i int) []Record {
	out := []Record{DesiredBackendRecord(fmt.Sprintf("api-%05d.%s", i, benchZone), fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), 300)}
	if benchStatic(i) {
		for _, typ := range []string{"A", "AAAA"} {
			out = append(out, Record{Name: fmt.Sprintf("www-%05d.%s", i, benchZone), Type: typ,
				Alias: &AliasTarget{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: fmt.Sprintf("d%012d.cloudfront.net", i)}})
		}
	}
	return out
}

// benchListing is the zone as ListResourceRecordSets returns it once every site is written: each
// record set with its registry record, every string a separate allocation (as the SDK's XML
// decoder makes them), names with the trailing dot.
func benchListing() []types.ResourceRecordSet {
	var out []types.ResourceRecordSet
	for i := range benchSites {
		for _, d := range benchDesired(i) {
			rs := recordToSDK(d)
			rs.Name = aws.String(fmt.Sprintf("%s.", d.Name))
			if rs.AliasTarget != nil {
				rs.AliasTarget.DNSName = aws.String(fmt.Sprintf("%s.", d.Alias.DNSName))
			}
			for j, rr := range rs.ResourceRecords {
				rs.ResourceRecords[j].Value = aws.String(fmt.Sprint(aws.ToString(rr.Value)))
			}
			reg := recordToSDK(registryRecord(d, benchOwner(i)))
			reg.Name = aws.String(fmt.Sprintf("%s.", aws.ToString(reg.Name)))
			out = append(out, rs, reg)
		}
	}
	return out
}

// BenchmarkZoneMemory reports the live heap the Route53 layer keeps for 10,000 sites in one zone:
// the zone's snapshot as a re-list (the drift check's, once a minute) and one later write leave it, after a drift check compared every
// site with it (the owner index), and the desired-record index the drift check reads. Run it with
// -benchtime=1x; the figures are bytes per site, and the bytes allocated by one more site's write
// to the zone of 10,000 (its diff, and the snapshot with the write applied).
func BenchmarkZoneMemory(b *testing.B) {
	for range b.N {
		before := testworld.LiveHeap()
		snap := benchSnapshot(benchListing()) // the listing itself is garbage once read
		// A new site is written: the shared snapshot is replaced by one with the write applied.
		snap = snap.withChanges(Diff(snap, benchOwner(benchSites), benchDesired(benchSites)).changes)
		for i := range benchSites {
			if !Diff(snap, benchOwner(i), benchDesired(i)).InSync() {
				b.Fatalf("site %d is not in sync with the zone", i)
			}
		}
		withSnap := testworld.LiveHeap()
		ix := NewDesiredIndex()
		zone := Zone{ID: "Z0BENCH", Name: benchZone}
		for i := range benchSites {
			ix.Publish(benchKey(i), zone, benchOwner(i), benchDesired(i))
		}
		withIndex := testworld.LiveHeap()
		b.ReportMetric(float64(withSnap-before)/benchSites, "snapshot-B/site")
		b.ReportMetric(float64(withIndex-withSnap)/benchSites, "index-B/site")
		b.ReportMetric(float64(withIndex-before)/benchSites, "B/site")
		b.ReportMetric(float64(snap.Len()), "recordsets")
		b.ReportMetric(benchWriteCost(snap), "alloc-B/write")
		runtime.KeepAlive(snap)
		runtime.KeepAlive(ix)
	}
}

// benchWriteCost is the bytes allocated per write when 100 more sites are written one by one, each
// write applied to the snapshot the previous one left.
func benchWriteCost(snap *Snapshot) float64 {
	const writes = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range writes {
		site := benchSites + 1 + i
		snap = snap.withChanges(Diff(snap, benchOwner(site), benchDesired(site)).changes)
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / writes
}

// benchSnapshot builds the zone's snapshot from a listing the way loadSnapshot does, a page at a
// time, as a re-list does in the steady state: the table sized by the snapshot it replaces.
func benchSnapshot(listing []types.ResourceRecordSet) *Snapshot {
	b := newTableBuilder(len(listing))
	for page := range slices.Chunk(listing, listPageSize) {
		b.addListed(page)
	}
	return b.table().snapshot(0)
}
