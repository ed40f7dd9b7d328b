package acme

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorTextIsCut(t *testing.T) {
	long := errors.New(strings.Repeat("é", 1000))
	got := ErrorText(long)
	if len(got) > maxErrorText+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("ErrorText kept %d bytes: %q...", len(got), got[:20])
	}
	if ErrorText(errors.New("short")) != "short" {
		t.Error("a short error is changed")
	}
}

func TestResponseBodiesAreLimited(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := maxResponseBody
		if r.URL.Path == "/big" {
			n++
		}
		_, _ = w.Write([]byte(strings.Repeat("x", n)))
	}))
	defer srv.Close()
	c, err := newHTTPClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, wantErr := range map[string]error{"/exact": nil, "/big": ErrResponseTooLarge} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, wantErr) {
			t.Errorf("%s: read error %v, want %v", path, err, wantErr)
		}
	}
}
