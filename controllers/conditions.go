package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/smithy-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// The functions in this file are pure: they turn what a pass observed into conditions.

func condition(t string, ok bool, reason, message string) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: message}
}

// phaseConditions are the per-phase conditions of a pass, in phase order. The condition of the
// phase whose error ended the pass says what failed.
func phaseConditions(s *scope) []metav1.Condition {
	conds := []metav1.Condition{
		dnsReadyCondition(s.dns),
		certificateReadyCondition(s.cert),
		exportReadyCondition(s.export),
		bucketReadyCondition(s.bucket.phaseObservation),
		distributionReadyCondition(s.distribution.phaseObservation),
	}
	if f := s.failed; f != nil {
		for i := range conds {
			if conds[i].Type == conditionOfPhase[f.phase] {
				conds[i] = failedCondition(conds[i].Type, f.err)
			}
		}
	}
	return conds
}

// conditionOfPhase names the condition that reports each phase.
var conditionOfPhase = map[string]string{
	phaseZone:         v1alpha1.ConditionDNSReady,
	phaseCertificate:  v1alpha1.ConditionCertificateReady,
	phaseExport:       v1alpha1.ConditionExportReady,
	phaseACM:          v1alpha1.ConditionDistributionReady,
	phaseBucket:       v1alpha1.ConditionBucketReady,
	phaseDistribution: v1alpha1.ConditionDistributionReady,
	phaseOrigin:       v1alpha1.ConditionBucketReady,
	phaseDNS:          v1alpha1.ConditionDNSReady,
}

// failedCondition reports a transient failure: the pass is retried with backoff.
func failedCondition(t string, err error) metav1.Condition {
	return condition(t, false, failureReason(err), err.Error())
}

// failureReason is AWSError when AWS (or the way to it) failed, else ReconcileError.
func failureReason(err error) string {
	var op *smithy.OperationError
	if errors.As(err, &op) {
		return v1alpha1.ReasonAWSError
	}
	return v1alpha1.ReasonReconcileError
}

func dnsReadyCondition(o dnsObservation) metav1.Condition {
	c := func(ok bool, reason, msg string) metav1.Condition {
		return condition(v1alpha1.ConditionDNSReady, ok, reason, msg)
	}
	switch {
	case o.skipped:
		return c(true, v1alpha1.ReasonNotConfigured, "no backend or static site: no DNS records to manage")
	case o.zoneProblem != "":
		return c(false, v1alpha1.ReasonZoneNotFound, o.zoneProblem)
	case o.zone.ID == "":
		return metav1.Condition{Type: v1alpha1.ConditionDNSReady, Status: metav1.ConditionUnknown,
			Reason: v1alpha1.ReasonProgressing, Message: "records not observed yet"}
	case len(o.conflicts) > 0:
		return c(false, v1alpha1.ReasonRecordConflict, conflictMessage(o.conflicts))
	case len(o.wouldChange) > 0:
		return c(false, v1alpha1.ReasonSuspended, "suspended; would change: "+strings.Join(o.wouldChange, ", "))
	case o.queued:
		return c(false, v1alpha1.ReasonRecordsPending, fmt.Sprintf("changes queued for zone %s's next Route53 call", o.zone.Name))
	case o.pending:
		return c(false, v1alpha1.ReasonRecordsPending, fmt.Sprintf("changes sent to zone %s, waiting for Route53 to report INSYNC", o.zone.Name))
	default:
		return c(true, v1alpha1.ReasonRecordsInSync, fmt.Sprintf("%d record(s) in sync in zone %s", len(o.records), o.zone.Name))
	}
}

func certificateReadyCondition(o certObservation) metav1.Condition {
	c := func(ok bool, reason string) metav1.Condition {
		return condition(v1alpha1.ConditionCertificateReady, ok, reason, o.message)
	}
	switch o.state {
	case certValid:
		return c(true, v1alpha1.ReasonIssued)
	case certIssuing:
		return c(false, v1alpha1.ReasonIssuing)
	case certBackingOff:
		return c(false, v1alpha1.ReasonBackingOff)
	case certConflict:
		return c(false, v1alpha1.ReasonSecretConflict)
	case certSuspended:
		return c(false, v1alpha1.ReasonSuspended)
	case certNameClaimed:
		return c(false, v1alpha1.ReasonRecordConflict)
	case certWaitingZone:
		return c(false, v1alpha1.ReasonWaitingForDNS)
	case certRateLimited:
		return c(false, v1alpha1.ReasonRateLimited)
	default:
		return metav1.Condition{Type: v1alpha1.ConditionCertificateReady, Status: metav1.ConditionUnknown,
			Reason: v1alpha1.ReasonProgressing, Message: "certificate not observed yet"}
	}
}

func exportReadyCondition(o phaseObservation) metav1.Condition {
	if o.skipped {
		return condition(v1alpha1.ConditionExportReady, true, v1alpha1.ReasonNotConfigured, "no export configured")
	}
	return phaseCondition(v1alpha1.ConditionExportReady, o)
}

func bucketReadyCondition(o phaseObservation) metav1.Condition {
	if o.skipped {
		return condition(v1alpha1.ConditionBucketReady, true, v1alpha1.ReasonNotConfigured, "no static site configured")
	}
	return phaseCondition(v1alpha1.ConditionBucketReady, o)
}

func distributionReadyCondition(o phaseObservation) metav1.Condition {
	if o.skipped {
		return condition(v1alpha1.ConditionDistributionReady, true, v1alpha1.ReasonNotConfigured, "no static site configured")
	}
	return phaseCondition(v1alpha1.ConditionDistributionReady, o)
}

func phaseCondition(t string, o phaseObservation) metav1.Condition {
	if o.reason == "" {
		return metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonProgressing, Message: "not observed yet"}
	}
	return condition(t, o.ready, o.reason, o.message)
}

// readyCondition summarises the phase conditions. Its message names the endpoints that are not
// served securely yet, so `kubectl describe` explains a browser's "Not Secure" or mixed-content
// warning.
func readyCondition(site *v1alpha1.SecureSite, phases []metav1.Condition, stalled *stalledError, urls v1alpha1.URLsStatus) metav1.Condition {
	if site.Spec.Suspend {
		return condition(v1alpha1.ConditionReady, false, v1alpha1.ReasonSuspended, "suspended: observing only, no changes are made in AWS")
	}
	if stalled != nil {
		return condition(v1alpha1.ConditionReady, false, stalled.reason, stalled.message)
	}
	var notReady []string
	reason := ""
	for _, c := range phases {
		if c.Status == metav1.ConditionTrue {
			continue
		}
		if reason == "" {
			reason = c.Reason
		}
		notReady = append(notReady, fmt.Sprintf("%s: %s", c.Type, c.Message))
	}
	insecure := insecureEndpoints(site, urls)
	if len(notReady) == 0 {
		return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReconciled, secureSummary(site))
	}
	msg := strings.Join(notReady, "; ")
	if len(insecure) > 0 {
		msg = "not secure yet: " + strings.Join(insecure, ", ") + ". " + msg
	}
	return condition(v1alpha1.ConditionReady, false, reason, msg)
}

func insecureEndpoints(site *v1alpha1.SecureSite, urls v1alpha1.URLsStatus) []string {
	var out []string
	if site.Spec.StaticSite != nil && urls.Site == "" {
		out = append(out, "site https://"+site.Spec.Domain+" (CloudFront)")
	}
	if site.Spec.Backend != nil && urls.API == "" {
		out = append(out, "API https://"+site.Spec.Backend.Hostname+" (backend)")
	}
	return out
}

func secureSummary(site *v1alpha1.SecureSite) string {
	var parts []string
	if site.Spec.StaticSite != nil {
		parts = append(parts, "site https://"+site.Spec.Domain)
	}
	if site.Spec.Backend != nil {
		parts = append(parts, "API https://"+site.Spec.Backend.Hostname)
	}
	if len(parts) == 0 {
		return "certificate for " + site.Spec.Domain + " is valid"
	}
	return "served over HTTPS with a valid certificate: " + strings.Join(parts, " and ")
}

// userMustAct are the reasons no amount of waiting clears: something the site needs is held by
// someone else. kstatus calls that Stalled, and tools that read only Stalled (Argo CD's health
// check, kstatus-based waits) must see the plain message there, not just a reason.
var userMustAct = []string{
	v1alpha1.ReasonRecordConflict,
	v1alpha1.ReasonSecretConflict,
	v1alpha1.ReasonBucketOwnedElsewhere,
	v1alpha1.ReasonInvalidSpec,
}

// problem is what only the user can fix in this pass: a stalled phase, or a phase condition
// reporting something held by someone else.
func problem(phases []metav1.Condition, stalled *stalledError) *stalledError {
	if stalled != nil {
		return stalled
	}
	for _, c := range phases {
		if c.Status == metav1.ConditionFalse && slices.Contains(userMustAct, c.Reason) {
			return &stalledError{reason: c.Reason, message: fmt.Sprintf("%s: %s", c.Type, c.Message)}
		}
	}
	return nil
}

// kstatus: Reconciling is True while work is under way; Stalled while only the user can help.
func reconcilingCondition(ready metav1.Condition, stalled *stalledError) metav1.Condition {
	if ready.Status == metav1.ConditionTrue || stalled != nil {
		return condition(v1alpha1.ConditionReconciling, false, v1alpha1.ReasonReconciled, "")
	}
	return condition(v1alpha1.ConditionReconciling, true, ready.Reason, ready.Message)
}

func stalledCondition(stalled *stalledError) metav1.Condition {
	if stalled == nil {
		return condition(v1alpha1.ConditionStalled, false, v1alpha1.ReasonReconciled, "")
	}
	return condition(v1alpha1.ConditionStalled, true, stalled.reason, stalled.message)
}
