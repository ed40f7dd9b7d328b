// Package normalizer is the test world's normalising proxy: it sits in front of an AWS emulator
// (kumo or moto) and undoes the emulator's known departures from the AWS API reference, so that
// production code is written for AWS alone. The test world puts it in front of every emulator it
// starts; hack/awsproxy serves it for hack/world.sh (make demo, make world-up).
package normalizer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Proxy is a reverse proxy in front of an emulator that undoes the emulator's known
// departures from the AWS API reference, so that production code is written for AWS alone. Each
// departure it hides is named here, per emulator; everything else passes through untouched.
//
// kumo v0.33.1:
//   - CloudFront drops CustomErrorResponses and Restrictions from a stored distribution config
//     (AWS returns them as sent): the proxy puts back the ones last sent for the distribution.
//   - CloudFront answers a stale IfMatch with InvalidIfMatchVersion (AWS: PreconditionFailed,
//     InvalidIfMatchVersion being for a missing or malformed one): the proxy answers
//     PreconditionFailed when the request carried an If-Match.
//   - Route53 answers a CREATE of an existing record set with ResourceRecordAlreadyExists (AWS:
//     InvalidChangeBatch): the proxy renames the code.
//   - ACM has no tag APIs (ListTagsForCertificate, AddTagsToCertificate,
//     RemoveTagsFromCertificate): the proxy answers them from the tags sent with ImportCertificate
//     and AddTagsToCertificate, and with ResourceNotFoundException for a certificate kumo does not
//     hold, as AWS does.
//   - ACM does not parse imported certificates, so DescribeCertificate's KeyAlgorithm is not the
//     certificate's: the proxy puts in the one of the certificate last imported to that ARN.
//   - ListCertificates gives every imported certificate the DomainName "imported.example.com"
//     (AWS: the certificate's own name): the proxy puts in the name of the certificate last
//     imported to that ARN.
//   - Route53 never pages ListResourceRecordSets: it answers every record set of the zone, in
//     the order it stored them, ignoring name, type, identifier and maxitems (AWS: at most maxitems,
//     default and most 300, in its sort order from name/type/identifier on, with IsTruncated and
//     Next*): the proxy sorts kumo's answer and answers the page AWS would (recordpages.go).
//
// moto 5.2.1:
//
//   - ACM replaces a re-imported certificate with one without tags (AWS keeps the tags, and
//     refuses Tags on a re-import): the proxy reads the tags first and sends them with the
//     re-import, which moto accepts.
//
//   - CloudFront does not keep OriginAccessControlId on origins (AWS does): the proxy puts back the
//     Origins last sent for the distribution.
//
//   - CloudFront's ListDistributions summaries carry no Comment (AWS's do, and a distribution is
//     found by its Comment when CloudFront does not name it): the proxy puts in the Comment last
//     sent for each distribution, and its Origins as above.
//
//   - CloudFront never changes a distribution's ETag and ignores IfMatch (AWS gives every version
//     of the config a new ETag and answers a stale IfMatch with PreconditionFailed): the proxy
//     keeps an ETag per distribution, new at every update, and checks IfMatch against it.
//
//   - Route53 accepts a CREATE of a record set that exists, overwriting it (AWS rejects the whole
//     batch with InvalidChangeBatch, which is what keeps a foreign record from being taken over):
//     the proxy looks each CREATE up first and answers InvalidChangeBatch as AWS does. Change
//     batches to one zone go through one at a time, as Route53 applies them.
//
//   - Route53 refuses a CREATE identical to an earlier one (a record deleted and created again,
//     such as a DNS-01 ownership record) with "already exists" whenever any record sorts after
//     its name: its duplicate check lists from the name onward instead of at it. Having checked
//     that none of the batch's CREATEs exists, the proxy sends them as UPSERTs.
//
//   - S3 answers HeadBucket for a bucket of another region as if it were in the request's region
//     (AWS: 301 with x-amz-bucket-region naming the bucket's region): the proxy answers 301.
//
//   - Route53 gives every change the same ID (AWS: an ID per change, which GetChange answers for):
//     the proxy gives each change an ID of its own; moto answers GetChange of any ID.
//
//   - Route53 zone and record names are case-sensitive (AWS compares them case-insensitively and
//     answers in lowercase): the proxy lowercases the names in requests.
//
// Departures it does not hide (they make the emulator more lenient, never stricter, and tests that
// meet them say so): kumo's non-atomic change batches, DELETE matching name and type only, no NS/SOA, Deployed at once, deletion of an enabled distribution; moto's deletion of an enabled distribution, re-import with
// tags accepted. Both answer every Route53 change INSYNC at once (AWS: PENDING for seconds to a
// minute); a test that needs changes pending holds a zone's (HoldChangesPending). moto's ImportCertificate crash on certificates without a subject Common Name is
// patched in moto_launcher.py.
type Proxy struct {
	// URL is where the proxy serves when started with Start ("" for New).
	URL string

	emulator string
	target   string
	srv      *httptest.Server
	proxy    *httputil.ReverseProxy

	// zoneLocks serialises change batches per hosted zone (moto's CREATE check).
	zoneLocks sync.Map

	mu sync.Mutex
	// kept holds, per distribution id, the config elements last sent that the emulator drops.
	kept map[string]map[string]string
	// etags are the distributions' ETags as the proxy tells them (moto).
	etags map[string]string
	seq   int
	// acmTags are the ACM certificates' tags, acmKeys their key algorithms (kumo).
	acmTags map[string]map[string]string
	acmKeys map[string]string
	// acmNames are the imported certificates' domain names (kumo).
	acmNames map[string]string
	// listings are the zones as kumo last listed them, in Route53's order, for the following
	// pages of a listing; zoneWrites counts the writes to each zone, which make them stale.
	listings   map[string]recordListing
	zoneWrites map[string]uint64
	// deploying are the distributions held InProgress (HoldInProgress).
	deploying map[string]bool
	// pendingZones are the hosted zones whose changes are held PENDING, pendingChanges those
	// changes (HoldChangesPending).
	pendingZones   map[string]bool
	pendingChanges map[string]string // change ID → zone
}

// The emulators the proxy knows.
const (
	Kumo = "kumo"
	Moto = "moto"
)

// keptElements are the DistributionConfig elements each emulator does not store.
var keptElements = map[string][]string{
	Kumo: {"CustomErrorResponses", "Restrictions"},
	Moto: {"Origins", "Comment"},
}

type requestBodyKey struct{}

// New returns the proxy for emulator (Kumo or Moto) serving at target, to be served by the
// caller (it is an http.Handler).
func New(emulator, target string) (*Proxy, error) {
	if emulator != Kumo && emulator != Moto {
		return nil, fmt.Errorf("normalising proxy: unknown emulator %q (knows %s and %s)", emulator, Kumo, Moto)
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	n := &Proxy{emulator: emulator, target: target, kept: map[string]map[string]string{}, etags: map[string]string{},
		acmTags: map[string]map[string]string{}, acmKeys: map[string]string{}, acmNames: map[string]string{},
		listings: map[string]recordListing{}, zoneWrites: map[string]uint64{}, deploying: map[string]bool{},
		pendingZones: map[string]bool{}, pendingChanges: map[string]string{}}
	n.proxy = httputil.NewSingleHostReverseProxy(u)
	n.proxy.ModifyResponse = n.modifyResponse
	return n, nil
}

// Start serves the proxy for emulator at target on a free loopback port (URL).
func Start(emulator, target string) (*Proxy, error) {
	n, err := New(emulator, target)
	if err != nil {
		return nil, err
	}
	n.srv = httptest.NewServer(n)
	n.URL = n.srv.URL
	return n, nil
}

// Close stops a proxy that Start serves.
func (n *Proxy) Close() {
	if n.srv != nil {
		n.srv.Close()
	}
}

// ServeHTTP answers one request, from the emulator or, for what the emulator lacks, itself.
func (n *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil && n.rewrites(r) {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), requestBodyKey{}, body))
	}
	// Plain bodies, so responses can be rewritten.
	r.Header.Del("Accept-Encoding")
	if n.emulator == Moto && strings.HasPrefix(r.URL.Path, "/2013-04-01/") {
		body = lowercaseNames(r, body)
	}
	if zone := rrsetZone(r, http.MethodPost); zone != "" && n.emulator == Moto {
		mu, _ := n.zoneLocks.LoadOrStore(zone, &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
		if existing := n.existingCreates(r, zone, body); existing != "" {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[Tried to create resource record set [%s] but it already exists]</Message></Error><RequestId>testworld-normalizer</RequestId></ErrorResponse>`, existing)
			return
		}
		body = bytes.ReplaceAll(body, []byte("<Action>CREATE</Action>"), []byte("<Action>UPSERT</Action>"))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if n.emulator == Moto && r.Header.Get("X-Amz-Target") == "CertificateManager.ImportCertificate" {
		body = n.keepTagsOnReimport(r, body)
	}
	if n.emulator == Kumo && strings.HasPrefix(r.Header.Get("X-Amz-Target"), "CertificateManager.") && n.acmTagCall(w, r, body) {
		return
	}
	if n.emulator == Kumo && n.kumoRecordPages(w, r) {
		return
	}
	if n.emulator == Moto && n.staleIfMatch(r) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusPreconditionFailed)
		fmt.Fprint(w, `<?xml version="1.0"?>
<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type><Code>PreconditionFailed</Code><Message>The If-Match version is missing or not valid for the resource.</Message></Error><RequestId>testworld-normalizer</RequestId></ErrorResponse>`)
		return
	}
	n.proxy.ServeHTTP(w, r)
}

// staleIfMatch reports whether r changes a distribution with an If-Match that is not its current
// ETag (as the proxy tells it).
func (n *Proxy) staleIfMatch(r *http.Request) bool {
	m := distributionPath.FindStringSubmatch(r.URL.Path)
	if m == nil || m[1] == "" || r.Header.Get("If-Match") == "" || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	etag, known := n.etags[m[1]]
	return known && etag != r.Header.Get("If-Match")
}

// etagFor returns the ETag to report for the distribution after a request with method; an update
// makes a new one.
func (n *Proxy) etagFor(id, method, emulatorETag string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	etag, known := n.etags[id]
	switch {
	case !known:
		etag = emulatorETag
	case method == http.MethodPut:
		n.seq++
		etag = fmt.Sprintf("%s-%d", emulatorETag, n.seq)
	}
	n.etags[id] = etag
	return etag
}

// rewrites reports whether the proxy may need the request body: CloudFront distribution writes
// and Route53 writes.
func (n *Proxy) rewrites(r *http.Request) bool {
	return (strings.HasPrefix(r.URL.Path, "/2020-05-31/distribution") || strings.HasPrefix(r.URL.Path, "/2013-04-01/") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Target"), "CertificateManager.")) &&
		(r.Method == http.MethodPost || r.Method == http.MethodPut)
}

type acmTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value,omitempty"`
}

type acmRequest struct {
	CertificateArn string   `json:"CertificateArn"`
	Certificate    []byte   `json:"Certificate"`
	Tags           []acmTag `json:"Tags"`
}

// parseCertPEM is the first certificate of a PEM, nil when there is none or it does not parse.
func parseCertPEM(certPEM []byte) *x509.Certificate {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// keyAlgorithmOf is ACM's name for a certificate's key, "" for another kind of key.
func keyAlgorithmOf(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA_%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return map[int]string{256: "EC_prime256v1", 384: "EC_secp384r1", 521: "EC_secp521r1"}[k.Curve.Params().BitSize]
	}
	return ""
}

// domainNameOf is ACM's domain name of a certificate: its common name, else its first DNS name.
func domainNameOf(c *x509.Certificate) string {
	if c.Subject.CommonName != "" || len(c.DNSNames) == 0 {
		return c.Subject.CommonName
	}
	return c.DNSNames[0]
}

// acmTagOperations are the ACM tag operations kumo lacks.
var acmTagOperations = map[string]bool{"ListTagsForCertificate": true, "AddTagsToCertificate": true, "RemoveTagsFromCertificate": true}

// acmTagCall answers kumo's missing ACM tag operations itself and reports whether it did.
func (n *Proxy) acmTagCall(w http.ResponseWriter, r *http.Request, body []byte) bool {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "CertificateManager.")
	if !acmTagOperations[op] {
		return false
	}
	var in acmRequest
	_ = json.Unmarshal(body, &in)
	if n.relayMissingCertificate(w, r, in.CertificateArn) {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	reply := func(v any) bool {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
		return true
	}
	switch op {
	case "ListTagsForCertificate":
		tags := []acmTag{}
		for k, v := range n.acmTags[in.CertificateArn] {
			tags = append(tags, acmTag{Key: k, Value: v})
		}
		return reply(map[string]any{"Tags": tags})
	case "AddTagsToCertificate":
		if n.acmTags[in.CertificateArn] == nil {
			n.acmTags[in.CertificateArn] = map[string]string{}
		}
		for _, t := range in.Tags {
			n.acmTags[in.CertificateArn][t.Key] = t.Value
		}
		return reply(map[string]any{})
	case "RemoveTagsFromCertificate":
		for _, t := range in.Tags {
			delete(n.acmTags[in.CertificateArn], t.Key)
		}
		return reply(map[string]any{})
	}
	return false
}

// relayMissingCertificate answers a tag call for a certificate kumo does not hold (never imported,
// or deleted) with kumo's DescribeCertificate answer, ResourceNotFoundException, as AWS answers
// the tag call itself. It reports whether it answered.
func (n *Proxy) relayMissingCertificate(w http.ResponseWriter, r *http.Request, arn string) bool {
	resp, err := n.acmCall(r, "DescribeCertificate", map[string]string{"CertificateArn": arn})
	if err != nil {
		return false // the emulator is away; answered from what the proxy holds
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return true
}

// acmCall sends an ACM operation to the emulator itself with the caller's credentials (neither
// emulator checks the signature; moto picks the service from the credential scope).
func (n *Proxy) acmCall(r *http.Request, op string, in any) (*http.Response, error) {
	q, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, n.target+"/", bytes.NewReader(q))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("X-Amz-Date", r.Header.Get("X-Amz-Date"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "CertificateManager."+op)
	return http.DefaultClient.Do(req)
}

// keepTagsOnReimport sends a re-import (ImportCertificate to an ARN) with the certificate's tags:
// moto replaces a re-imported certificate with one without tags (AWS keeps them, and refuses
// Tags on a re-import), while it accepts and stores Tags sent with the re-import. It returns the
// body, already in r.
func (n *Proxy) keepTagsOnReimport(r *http.Request, body []byte) []byte {
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		return body
	}
	arn, _ := in["CertificateArn"].(string)
	if arn == "" {
		return body
	}
	resp, err := n.acmCall(r, "ListTagsForCertificate", map[string]string{"CertificateArn": arn})
	if err != nil {
		return body
	}
	var out struct{ Tags []acmTag }
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(out.Tags) == 0 {
		return body // moto answers a missing certificate itself
	}
	in["Tags"] = out.Tags
	nb, err := json.Marshal(in)
	if err != nil {
		return body
	}
	r.Body = io.NopCloser(bytes.NewReader(nb))
	r.ContentLength = int64(len(nb))
	r.Header.Set("Content-Length", strconv.Itoa(len(nb)))
	return nb
}

// acmResponse records the tags of a first import and forgets those of a deleted certificate.
func (n *Proxy) acmResponse(resp *http.Response) error {
	req := resp.Request
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "CertificateManager.")
	if resp.StatusCode != http.StatusOK || (op != "ImportCertificate" && op != "DeleteCertificate" && op != "DescribeCertificate" && op != "ListCertificates") {
		return nil
	}
	var in acmRequest
	if sent, ok := req.Context().Value(requestBodyKey{}).([]byte); ok {
		_ = json.Unmarshal(sent, &in)
	}
	return rewriteBody(resp, func(b []byte) []byte {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch op {
		case "DeleteCertificate":
			delete(n.acmTags, in.CertificateArn)
			delete(n.acmKeys, in.CertificateArn)
			delete(n.acmNames, in.CertificateArn)
		case "ImportCertificate":
			n.rememberImport(in, b)
		case "DescribeCertificate":
			return n.describeWithKey(in.CertificateArn, b)
		case "ListCertificates":
			return n.listWithNames(b)
		}
		return b
	})
}

// rememberImport keeps the key algorithm of an imported certificate, and the tags of a first
// import (kumo has no ACM tag APIs). n.mu is held.
func (n *Proxy) rememberImport(in acmRequest, answer []byte) {
	var out struct{ CertificateArn string }
	if json.Unmarshal(answer, &out) != nil || out.CertificateArn == "" {
		return
	}
	if c := parseCertPEM(in.Certificate); c != nil {
		n.acmKeys[out.CertificateArn] = keyAlgorithmOf(c)
		n.acmNames[out.CertificateArn] = domainNameOf(c)
	} else {
		delete(n.acmKeys, out.CertificateArn)
		delete(n.acmNames, out.CertificateArn)
	}
	if in.CertificateArn != "" {
		return
	}
	n.acmTags[out.CertificateArn] = map[string]string{}
	for _, t := range in.Tags {
		n.acmTags[out.CertificateArn][t.Key] = t.Value
	}
}

// listWithNames gives kumo's ListCertificates summaries the domain names of the certificates
// imported through the proxy. n.mu is held.
func (n *Proxy) listWithNames(answer []byte) []byte {
	var out map[string]any
	if json.Unmarshal(answer, &out) != nil {
		return answer
	}
	list, _ := out["CertificateSummaryList"].([]any)
	for _, item := range list {
		sum, _ := item.(map[string]any)
		arn, _ := sum["CertificateArn"].(string)
		if name := n.acmNames[arn]; name != "" {
			sum["DomainName"] = name
		}
	}
	nb, err := json.Marshal(out)
	if err != nil {
		return answer
	}
	return nb
}

// describeWithKey gives kumo's DescribeCertificate answer the imported key's algorithm, which
// kumo does not parse. n.mu is held.
func (n *Proxy) describeWithKey(arn string, answer []byte) []byte {
	var out map[string]map[string]any
	if json.Unmarshal(answer, &out) != nil || out["Certificate"] == nil {
		return answer
	}
	alg := n.acmKeys[arn]
	if alg == "" {
		return answer
	}
	out["Certificate"]["KeyAlgorithm"] = alg
	nb, err := json.Marshal(out)
	if err != nil {
		return answer
	}
	return nb
}

var nameElement = regexp.MustCompile(`<Name>[^<]*</Name>`)

// lowercaseNames lowercases the DNS names of a Route53 request: <Name> elements of the body and
// the name query parameters; it returns the new body, already in r.
func lowercaseNames(r *http.Request, body []byte) []byte {
	q := r.URL.Query()
	changed := false
	for _, p := range []string{"name", "dnsname"} {
		if v := q.Get(p); v != "" && v != strings.ToLower(v) {
			q.Set(p, strings.ToLower(v))
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
	if len(body) == 0 {
		return body
	}
	body = nameElement.ReplaceAllFunc(body, func(el []byte) []byte {
		inner := el[len("<Name>") : len(el)-len("</Name>")]
		return []byte("<Name>" + strings.ToLower(string(inner)) + "</Name>")
	})
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return body
}

// rrsetPath matches the record sets of a hosted zone, /2013-04-01/hostedzone/<id>/rrset[/]:
// POST is ChangeResourceRecordSets, GET is ListResourceRecordSets.
var rrsetPath = regexp.MustCompile(`^/2013-04-01/hostedzone/([^/]+)/rrset/?$`)

// rrsetZone returns the hosted zone of a method request to rrsetPath, or "".
func rrsetZone(r *http.Request, method string) string {
	if r.Method != method {
		return ""
	}
	if m := rrsetPath.FindStringSubmatch(r.URL.Path); m != nil {
		return m[1]
	}
	return ""
}

type changeBatchRequest struct {
	Changes []struct {
		Action string `xml:"Action"`
		Set    struct {
			Name          string `xml:"Name"`
			Type          string `xml:"Type"`
			SetIdentifier string `xml:"SetIdentifier"`
		} `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

type recordSetListing struct {
	Sets []struct {
		Name          string `xml:"Name"`
		Type          string `xml:"Type"`
		SetIdentifier string `xml:"SetIdentifier"`
	} `xml:"ResourceRecordSets>ResourceRecordSet"`
}

// existingCreates returns "name='…', type='…'" of the first CREATE in the batch whose record set
// already exists in the emulator, or "".
func (n *Proxy) existingCreates(r *http.Request, zone string, body []byte) string {
	var batch changeBatchRequest
	if err := xml.Unmarshal(body, &batch); err != nil {
		return "" // the emulator answers a malformed request itself
	}
	deleted := map[string]bool{}
	for _, c := range batch.Changes {
		if c.Action == "DELETE" {
			deleted[dnsFQDN(c.Set.Name)+"|"+c.Set.Type+"|"+c.Set.SetIdentifier] = true
		}
	}
	for _, c := range batch.Changes {
		// A DELETE and a CREATE of one record set in one batch is how Route53 replaces it.
		if c.Action != "CREATE" || deleted[dnsFQDN(c.Set.Name)+"|"+c.Set.Type+"|"+c.Set.SetIdentifier] {
			continue
		}
		if n.recordSetExists(r, zone, c.Set.Name, c.Set.Type, c.Set.SetIdentifier) {
			return fmt.Sprintf("name='%s', type='%s'", dnsFQDN(c.Set.Name), c.Set.Type)
		}
	}
	return ""
}

// recordSetExists asks the emulator whether the record set is in the zone (false when it cannot
// tell: the emulator then answers the batch itself).
func (n *Proxy) recordSetExists(r *http.Request, zone, name, typ, setID string) bool {
	q := url.Values{"name": {name}, "type": {typ}, "maxitems": {"1"}}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet,
		n.target+"/2013-04-01/hostedzone/"+zone+"/rrset?"+q.Encode(), nil)
	if err != nil {
		return false
	}
	// moto picks the service from the request's credential scope; it checks no signature.
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	var list recordSetListing
	err = xml.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	for _, s := range list.Sets {
		if sameDNSName(s.Name, name) && s.Type == typ && s.SetIdentifier == setID {
			return true
		}
	}
	return false
}

func dnsFQDN(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") + "." }

func sameDNSName(a, b string) bool { return dnsFQDN(a) == dnsFQDN(b) }

// distributionPath matches CloudFront's distribution operations: /2020-05-31/distribution[/<id>[/config]].
var distributionPath = regexp.MustCompile(`^/2020-05-31/distribution(?:/([^/]+))?(/config)?$`)

var firstID = regexp.MustCompile(`<Id>([^<]+)</Id>`)

var (
	bucketPath      = regexp.MustCompile(`^/[^/]+/?$`)
	credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([^/]+)/s3/`)
)

func (n *Proxy) modifyResponse(resp *http.Response) error {
	req := resp.Request
	if n.emulator == Moto && req.Method == http.MethodHead && bucketPath.MatchString(req.URL.Path) && resp.StatusCode == http.StatusOK {
		if m := credentialScope.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			if actual := resp.Header.Get("x-amz-bucket-region"); actual != "" && actual != m[1] {
				resp.StatusCode, resp.Status = http.StatusMovedPermanently, "301 Moved Permanently"
			}
		}
		return nil
	}
	if err := n.changeAnswer(resp); err != nil {
		return err
	}
	switch {
	case n.emulator == Kumo && rrsetZone(req, http.MethodGet) != "":
		return n.pageRecordSets(resp)
	case n.emulator == Kumo && strings.HasPrefix(req.Header.Get("X-Amz-Target"), "CertificateManager."):
		return n.acmResponse(resp)
	case strings.HasPrefix(req.URL.Path, "/2020-05-31/distribution"):
		return n.cloudFront(resp)
	case n.emulator == Kumo && strings.HasPrefix(req.URL.Path, "/2013-04-01/hostedzone/") && strings.HasSuffix(req.URL.Path, "/rrset") && resp.StatusCode >= 400:
		return rewriteBody(resp, func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("<Code>ResourceRecordAlreadyExists</Code>"), []byte("<Code>InvalidChangeBatch</Code>"))
		})
	}
	return nil
}

func (n *Proxy) cloudFront(resp *http.Response) error {
	req := resp.Request
	m := distributionPath.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return nil
	}
	if n.emulator == Kumo && resp.StatusCode >= 400 && req.Header.Get("If-Match") != "" {
		return rewriteBody(resp, func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("<Code>InvalidIfMatchVersion</Code>"), []byte("<Code>PreconditionFailed</Code>"))
		})
	}
	elements := keptElements[n.emulator]
	if resp.StatusCode >= 300 || len(elements) == 0 {
		return nil
	}
	if n.emulator == Moto && resp.Header.Get("ETag") != "" && m[1] != "" {
		resp.Header.Set("ETag", n.etagFor(m[1], req.Method, resp.Header.Get("ETag")))
	}
	if m[1] == "" && req.Method == http.MethodGet {
		return rewriteBody(resp, n.listWithKeptElements)
	}
	return rewriteBody(resp, func(b []byte) []byte { return n.heldInProgress(m[1], n.keepElements(req, m[1], elements, b)) })
}

// HoldInProgress makes the proxy answer InProgress for the distribution (GetDistribution and the
// answers to its updates), as CloudFront does for the minutes each change takes to deploy, until
// release is called. Neither emulator keeps a distribution InProgress long enough for a test to
// act while a change deploys: kumo answers Deployed at once, moto on the first read after the
// change. Only a test that needs that window holds one; ListDistributions is left as it is.
func (n *Proxy) HoldInProgress(id string) (release func()) {
	n.mu.Lock()
	n.deploying[id] = true
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.deploying, id)
		n.mu.Unlock()
	}
}

// heldInProgress puts InProgress in place of Deployed in an answer about a held distribution.
func (n *Proxy) heldInProgress(id string, b []byte) []byte {
	n.mu.Lock()
	held := n.deploying[id]
	n.mu.Unlock()
	if !held {
		return b
	}
	return bytes.Replace(b, []byte("<Status>Deployed</Status>"), []byte("<Status>InProgress</Status>"), 1)
}

// listWithKeptElements puts into each distribution summary of a ListDistributions answer the
// elements kept for that distribution.
func (n *Proxy) listWithKeptElements(b []byte) []byte {
	const end = "</DistributionSummary>"
	n.mu.Lock()
	defer n.mu.Unlock()
	summaries := bytes.SplitAfter(b, []byte(end))
	for i, s := range summaries {
		idm := firstID.FindSubmatch(s)
		if idm == nil || !bytes.HasSuffix(s, []byte(end)) {
			continue
		}
		for name, el := range n.kept[string(idm[1])] {
			if old, ok := element(s, name); ok {
				s = bytes.Replace(s, []byte(old), []byte(el), 1)
			} else {
				s = append(s[:len(s)-len(end):len(s)-len(end)], []byte(el+end)...)
			}
		}
		summaries[i] = s
	}
	return bytes.Join(summaries, nil)
}

// keepElements records the elements the emulator drops from the distribution config the request
// sent, and puts the recorded ones back into the answer. id is "" for a create.
func (n *Proxy) keepElements(req *http.Request, id string, elements []string, b []byte) []byte {
	if id == "" {
		// A create: the new distribution's id is the first Id of the answer.
		if idm := firstID.FindSubmatch(b); idm != nil {
			id = string(idm[1])
		}
	}
	if id == "" {
		return b
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if sent, ok := req.Context().Value(requestBodyKey{}).([]byte); ok {
		kept := map[string]string{}
		for _, name := range elements {
			if el, ok := element(sent, name); ok {
				kept[name] = el
			}
		}
		n.kept[id] = kept
	}
	for name, el := range n.kept[id] {
		b = replaceElement(b, name, el)
	}
	return b
}

// element returns the first <name>…</name> element of an XML document as text.
func element(doc []byte, name string) (string, bool) {
	start := bytes.Index(doc, []byte("<"+name+">"))
	if start < 0 {
		return "", false
	}
	end := bytes.Index(doc[start:], []byte("</"+name+">"))
	if end < 0 {
		return "", false
	}
	return string(doc[start : start+end+len("</"+name+">")]), true
}

// replaceElement puts el in place of the document's <name> element, or at the end of its
// DistributionConfig when it has none (the SDK reads elements in any order).
func replaceElement(doc []byte, name, el string) []byte {
	if old, ok := element(doc, name); ok {
		return bytes.Replace(doc, []byte(old), []byte(el), 1)
	}
	if empty := []byte("<" + name + "/>"); bytes.Contains(doc, empty) {
		return bytes.Replace(doc, empty, []byte(el), 1)
	}
	// kumo names the root of GetDistributionConfig's answer DistributionConfigXML.
	for _, closing := range [][]byte{[]byte("</DistributionConfig>"), []byte("</DistributionConfigXML>")} {
		if bytes.Contains(doc, closing) {
			return bytes.Replace(doc, closing, append([]byte(el), closing...), 1)
		}
	}
	return doc
}

func rewriteBody(resp *http.Response, f func([]byte) []byte) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("normalising proxy: %w", err)
	}
	b = f(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// changePath matches Route53's GetChange, /2013-04-01/change/<id>.
var changePath = regexp.MustCompile(`^/2013-04-01/change/([^/]+)$`)

// HoldChangesPending makes the proxy answer PENDING for the changes made to the hosted zone from
// now on (the answers of ChangeResourceRecordSets and GetChange), as Route53 does for the seconds
// to a minute a change takes to reach all its name servers, until release is called. Neither
// emulator keeps a change PENDING: kumo and moto answer INSYNC at once. Only a test that needs
// changes pending holds a zone.
func (n *Proxy) HoldChangesPending(zoneID string) (release func()) {
	zoneID = strings.TrimPrefix(zoneID, "/hostedzone/")
	n.mu.Lock()
	n.pendingZones[zoneID] = true
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.pendingZones, zoneID)
		for id, zone := range n.pendingChanges {
			if zone == zoneID {
				delete(n.pendingChanges, id)
			}
		}
	}
}

// changeAnswer rewrites the change status in Route53 answers: unique change IDs (moto) and held
// changes (HoldChangesPending).
func (n *Proxy) changeAnswer(resp *http.Response) error {
	req := resp.Request
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(req.URL.Path, "/2013-04-01/") {
		return nil
	}
	if n.emulator == Moto && rrsetZone(req, http.MethodPost) != "" {
		if err := rewriteBody(resp, n.uniqueChangeID); err != nil {
			return err
		}
	}
	return n.heldPending(resp)
}

// uniqueChangeID gives the change in moto's answer to ChangeResourceRecordSets an ID of its own
// (moto answers every change with /change/C2682N5HXP0BZ4, and GetChange of any ID with INSYNC).
func (n *Proxy) uniqueChangeID(b []byte) []byte {
	n.mu.Lock()
	n.seq++
	id := fmt.Sprintf("<Id>/change/CMOTO%09d</Id>", n.seq)
	n.mu.Unlock()
	return firstID.ReplaceAll(b, []byte(id))
}

// ReleaseChange lets one held change answer INSYNC (as the emulator does), the zone's other
// changes staying held.
func (n *Proxy) ReleaseChange(changeID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pendingChanges, strings.TrimPrefix(changeID, "/change/"))
}

// heldPending puts PENDING in place of INSYNC in the answer to a change to a held zone, or to a
// GetChange of a change held.
func (n *Proxy) heldPending(resp *http.Response) error {
	req := resp.Request
	zone := rrsetZone(req, http.MethodPost)
	n.mu.Lock()
	held := zone != "" && n.pendingZones[zone]
	if m := changePath.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodGet {
		_, held = n.pendingChanges[m[1]]
	}
	n.mu.Unlock()
	if !held {
		return nil
	}
	return rewriteBody(resp, func(b []byte) []byte {
		if zone != "" {
			if m := firstID.FindSubmatch(b); m != nil {
				n.mu.Lock()
				n.pendingChanges[strings.TrimPrefix(string(m[1]), "/change/")] = zone
				n.mu.Unlock()
			}
		}
		return bytes.Replace(b, []byte("<Status>INSYNC</Status>"), []byte("<Status>PENDING</Status>"), 1)
	})
}
