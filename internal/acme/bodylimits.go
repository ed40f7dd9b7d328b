package acme

import (
	"errors"
	"io"
	"net/http"
	"unicode/utf8"
)

// The ACME server is chosen by the cluster admin (a SecureSiteClass), not by tenants, but its
// answers still end up in status, events and memory; both are bounded.
const (
	// maxResponseBody bounds every ACME response body: a certificate chain or a directory is a
	// few KiB, so 1 MiB is generous and a misbehaving server cannot exhaust memory.
	maxResponseBody = 1 << 20
	// maxErrorText bounds the error text the controller puts in status and events.
	maxErrorText = 300
)

// ErrResponseTooLarge is returned when an ACME response body exceeds maxResponseBody.
var ErrResponseTooLarge = errors.New("ACME response body larger than 1 MiB")

// ErrorText is err's message cut to a few hundred characters (on a rune boundary), for status
// and events: a problem document's detail is the CA's text, and can be long.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	return truncate(err.Error(), maxErrorText)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// limitBodies wraps a transport so each response body reads at most maxResponseBody bytes and
// fails past that, instead of being read whole.
type limitBodies struct{ next http.RoundTripper }

func (l limitBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBody}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
