package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/cdn"
)

func TestInUseWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		wait     bool
		mentions string
	}{
		{"OAC in use", fmt.Errorf("origin access control E2OAC: %w", cdn.ErrInUse), true, "origin access control E2OAC"},
		{"certificate in use, wrapped", fmt.Errorf("deleting ACM certificate arn:x: %w", fmt.Errorf("ACM certificate arn:x: %w", acmimport.ErrInUse)), true, "ACM certificate arn:x"},
		{"no error", nil, false, ""},
		{"other failure", errors.New("AccessDenied"), false, ""},
		{"not found is no wait", fmt.Errorf("distribution D: %w", cdn.ErrNotFound), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := inUseWait(tc.err)
			if ok != tc.wait {
				t.Fatalf("wait = %v, want %v", ok, tc.wait)
			}
			if !ok {
				return
			}
			if w.after <= 0 || !w.inUse || !strings.Contains(w.message, tc.mentions) || !strings.Contains(w.message, "in use") {
				t.Errorf("wait %+v: want a positive delay and a message naming %q as in use", w, tc.mentions)
			}
		})
	}
}

func TestAnnounceWait(t *testing.T) {
	w := deleteWait{after: inUseRetryWait, inUse: true, message: "waiting: origin access control E2OAC: still in use"}
	reconciling := func(status metav1.ConditionStatus, msg string) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.ConditionReconciling, Status: status, Message: msg}}
	}
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		wait  deleteWait
		want  bool
	}{
		{"first in-use pass", nil, w, true},
		{"was reconciling something else", reconciling(metav1.ConditionTrue, "waiting for the disabled distribution to deploy"), w, true},
		{"was not reconciling", reconciling(metav1.ConditionFalse, ""), w, true},
		{"same wait again: no event per pass", reconciling(metav1.ConditionTrue, w.message), w, false},
		{"deploy wait: no event", nil, deleteWait{after: deployWait, message: "deploying"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := announceWait(tc.conds, tc.wait); got != tc.want {
				t.Errorf("announceWait = %v, want %v", got, tc.want)
			}
		})
	}
}
