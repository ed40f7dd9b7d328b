package awsclient

import (
	"context"
	"errors"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Calls counts every AWS request attempt (retries included) by service, operation and result:
// "ok", or the AWS error code (Throttling, PriorRequestNotComplete, NoSuchBucket, ...), or
// "error" when there is none (timeouts, connection failures).
var Calls = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "securesite_aws_api_calls_total",
	Help: "AWS API request attempts by service, operation and result (ok or the AWS error code).",
}, []string{"service", "operation", "result"})

func init() {
	ctrlmetrics.Registry.MustRegister(Calls)
}

// countCalls adds a Finalize step after the retry middleware, so each attempt is counted once.
func countCalls(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("securesiteCountCalls",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			Calls.WithLabelValues(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), Result(err)).Inc()
			return out, md, err
		}), middleware.After)
}

// Result turns an SDK error into the metric's result label.
func Result(err error) string {
	if err == nil {
		return "ok"
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		return apiErr.ErrorCode()
	}
	return "error"
}

// ErrorCode returns the AWS error code of err, or "".
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// CallSample is one series of Calls: a service, operation and result with its count.
type CallSample struct {
	Service, Operation, Result string
	Count                      float64
}

// CallSamples reads every series of Calls (tests and benchmarks compare them before and after).
func CallSamples() []CallSample {
	ch := make(chan prometheus.Metric, 1024)
	go func() { Calls.Collect(ch); close(ch) }()
	var out []CallSample
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		s := CallSample{Count: pb.GetCounter().GetValue()}
		for _, l := range pb.GetLabel() {
			switch l.GetName() {
			case "service":
				s.Service = l.GetValue()
			case "operation":
				s.Operation = l.GetValue()
			case "result":
				s.Result = l.GetValue()
			}
		}
		out = append(out, s)
	}
	return out
}

// CallCount returns the number of counted calls for a service and operation, all results
// together (benchmarks and tests read it; operation "" sums every operation).
func CallCount(service, operation string) float64 {
	var total float64
	for _, s := range CallSamples() {
		if s.Service == service && (operation == "" || s.Operation == operation) {
			total += s.Count
		}
	}
	return total
}
