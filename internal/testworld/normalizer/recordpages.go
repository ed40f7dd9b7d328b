package normalizer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// kumo answers ListResourceRecordSets with every record set of the zone, in the order it stored
// them, whatever the request's name, type, identifier and maxitems (it ignores all four and says
// MaxItems 100). Route53 returns at most maxitems record sets (default and most 300), sorted by
// name with the labels reversed and a trailing dot ("com.example.www."), then by type, starting at
// the first one at or after name/type/identifier, with IsTruncated and NextRecordName,
// NextRecordType (and NextRecordIdentifier for a set with a SetIdentifier) when more remain. The
// proxy asks kumo for the whole zone and answers the page Route53 would.
//
// Each page costs kumo the whole zone, so a listing of a zone of 30,000 record sets would cost it
// 100 whole zones: the proxy keeps the zone it read for the first page and answers the following
// pages (those with a name) from it, until a write to the zone goes through the proxy.

// maxRecordPage is the most record sets Route53 returns in one ListResourceRecordSets answer.
const maxRecordPage = 300

// recordPageRequest is where a ListResourceRecordSets request starts and how many sets it takes.
type recordPageRequest struct {
	zone     string
	start    recordSetKey
	maxItems int
	// generation is the zone's write count when the request came in (see Proxy.zoneWrites).
	generation uint64
}

type recordPageKey struct{}

// recordSetKey orders record sets as Route53 lists them.
type recordSetKey struct {
	name, typ, identifier string // name: lowercase, labels reversed, trailing dot
}

func (a recordSetKey) compare(b recordSetKey) int {
	return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.typ, b.typ), strings.Compare(a.identifier, b.identifier))
}

// reversedName is a DNS name with its labels reversed and a trailing dot: www.example.com →
// com.example.www. (Route53's sort key; names compare case-insensitively).
func reversedName(name string) string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(name), "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "."
}

// listedRecordSet is one <ResourceRecordSet> element as the emulator wrote it.
type listedRecordSet struct {
	key                   recordSetKey
	name, typ, identifier string // as written, for the Next* elements
	raw                   []byte
}

// recordListing is a zone's record sets as the emulator listed them, in Route53's order.
type recordListing struct {
	head []byte // the answer up to its ResourceRecordSets element
	sets []listedRecordSet
}

// writtenZone returns the hosted zone a request may change (any request but a GET under
// /2013-04-01/hostedzone/<id>), or "".
func writtenZone(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return ""
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/2013-04-01/hostedzone/")
	if !ok {
		return ""
	}
	zone, _, _ := strings.Cut(rest, "/")
	return zone
}

// kumoRecordPages answers ListResourceRecordSets as Route53 pages it, and forwards a write to a
// zone so that the listings kept of the zone go stale; it reports whether it handled r.
func (n *Proxy) kumoRecordPages(w http.ResponseWriter, r *http.Request) bool {
	if zone := rrsetZone(r, http.MethodGet); zone != "" {
		n.serveRecordPage(w, r, zone)
		return true
	}
	zone := writtenZone(r)
	if zone == "" {
		return false
	}
	// Before and after: a listing read while the write was under way is not kept.
	n.noteZoneWrite(zone)
	defer n.noteZoneWrite(zone)
	n.proxy.ServeHTTP(w, r)
	return true
}

// noteZoneWrite makes the listings read of zone so far stale.
func (n *Proxy) noteZoneWrite(zone string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.zoneWrites[zone]++
	delete(n.listings, zone)
}

// serveRecordPage answers a ListResourceRecordSets request to kumo: from the listing kept for
// its zone when it continues a listing, else by asking kumo for the whole zone (the paging
// parameters taken off) and paging its answer in modifyResponse.
func (n *Proxy) serveRecordPage(w http.ResponseWriter, r *http.Request, zone string) {
	q := r.URL.Query()
	p, problem := parseRecordPage(q)
	if problem != "" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidInput</Code><Message>%s</Message></Error><RequestId>testworld-normalizer</RequestId></ErrorResponse>`, problem)
		return
	}
	p.zone = zone
	n.mu.Lock()
	p.generation = n.zoneWrites[zone]
	listing, kept := n.listings[zone]
	n.mu.Unlock()
	if kept && q.Get("name") != "" {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(listing.page(p))
		return
	}
	for _, k := range []string{"name", "type", "identifier", "maxitems"} {
		q.Del(k)
	}
	r.URL.RawQuery = q.Encode()
	n.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), recordPageKey{}, p)))
}

// parseRecordPage reads the paging parameters of a ListResourceRecordSets request, or says what
// Route53 refuses in them.
func parseRecordPage(q url.Values) (recordPageRequest, string) {
	get := q.Get
	p := recordPageRequest{maxItems: maxRecordPage}
	name, typ := get("name"), get("type")
	if typ != "" && name == "" {
		return p, "The type parameter requires the name parameter."
	}
	if name != "" {
		p.start = recordSetKey{name: reversedName(name), typ: typ, identifier: get("identifier")}
	}
	if v := get("maxitems"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			return p, "maxitems must be a positive number."
		}
		p.maxItems = min(m, maxRecordPage)
	}
	return p, ""
}

// pageRecordSets turns kumo's answer to a ListResourceRecordSets request (the whole zone) into
// the page the request asked for, and keeps the zone's listing for the pages that follow.
func (n *Proxy) pageRecordSets(resp *http.Response) error {
	p, ok := resp.Request.Context().Value(recordPageKey{}).(recordPageRequest)
	if !ok || resp.StatusCode != http.StatusOK {
		return nil
	}
	return rewriteBody(resp, func(b []byte) []byte {
		listing, ok := parseRecordListing(b)
		if !ok {
			return b // no record sets: nothing to page
		}
		n.mu.Lock()
		if n.zoneWrites[p.zone] == p.generation {
			n.listings[p.zone] = listing
		}
		n.mu.Unlock()
		return listing.page(p)
	})
}

const (
	recordSetsOpen  = "<ResourceRecordSets>"
	recordSetsClose = "</ResourceRecordSets>"
	recordSetClose  = "</ResourceRecordSet>"
)

// parseRecordListing splits a ListResourceRecordSets answer into its record sets, sorted as
// Route53 lists them; ok is false when it has none.
func parseRecordListing(b []byte) (recordListing, bool) {
	start := bytes.Index(b, []byte(recordSetsOpen))
	end := bytes.LastIndex(b, []byte(recordSetsClose))
	if start < 0 || end < start {
		return recordListing{}, false
	}
	l := recordListing{head: b[:start:start]}
	for _, raw := range bytes.SplitAfter(b[start+len(recordSetsOpen):end], []byte(recordSetClose)) {
		if !bytes.HasSuffix(raw, []byte(recordSetClose)) {
			continue
		}
		s := listedRecordSet{name: elementText(raw, "Name"), typ: elementText(raw, "Type"),
			identifier: elementText(raw, "SetIdentifier"), raw: raw}
		s.key = recordSetKey{name: reversedName(s.name), typ: s.typ, identifier: s.identifier}
		l.sets = append(l.sets, s)
	}
	slices.SortStableFunc(l.sets, func(a, b listedRecordSet) int { return a.key.compare(b.key) })
	return l, true
}

// elementText is the text of the first <name> element of an XML fragment, "" when it has none.
func elementText(fragment []byte, name string) string {
	el, ok := element(fragment, name)
	if !ok {
		return ""
	}
	var text string
	if xml.Unmarshal([]byte(el), &text) != nil {
		return ""
	}
	return text
}

// page is the ListResourceRecordSets answer for p: at most p.maxItems sets from p.start on.
func (l recordListing) page(p recordPageRequest) []byte {
	first, _ := slices.BinarySearchFunc(l.sets, p.start, func(s listedRecordSet, k recordSetKey) int { return s.key.compare(k) })
	last := min(first+p.maxItems, len(l.sets))
	var b bytes.Buffer
	b.Write(l.head)
	b.WriteString(recordSetsOpen)
	for _, s := range l.sets[first:last] {
		b.Write(s.raw)
	}
	b.WriteString(recordSetsClose)
	fmt.Fprintf(&b, "<IsTruncated>%t</IsTruncated>", last < len(l.sets))
	if last < len(l.sets) {
		next := l.sets[last]
		writeTextElement(&b, "NextRecordName", next.name)
		writeTextElement(&b, "NextRecordType", next.typ)
		if next.identifier != "" {
			writeTextElement(&b, "NextRecordIdentifier", next.identifier)
		}
	}
	fmt.Fprintf(&b, "<MaxItems>%d</MaxItems></ListResourceRecordSetsResponse>", p.maxItems)
	return b.Bytes()
}

func writeTextElement(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}
