package acme

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"
)

// TestOrdersWaitingMetric: securesite_acme_orders_waiting counts the queued orders a CA budget
// holds back at each scheduling decision (the dashboard's rate-limit waits), and drops to zero
// when the queue is empty.
func TestOrdersWaitingMetric(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewPool(Options{DNS: nopDNS{}, Now: func() time.Time { return now },
		Limits: Limits{OrdersPerAccount: Limit{1, time.Hour}}})
	for _, name := range []string{"a", "b", "c"} {
		p.seq++
		p.queue = append(p.queue, &queued{seq: p.seq, req: Request{Site: types.NamespacedName{Namespace: "ns", Name: name},
			Server: "https://ca.test/dir", Email: "e", Names: []string{name + ".example.com"}}})
	}
	if _, _, _, ok := p.next(); !ok {
		t.Fatal("the first order was not taken")
	}
	if got := waiting(t); got != 2 {
		t.Errorf("after the first send of a 1/h budget: %v orders waiting, want 2", got)
	}
	if _, _, _, ok := p.next(); ok {
		t.Fatal("a second order went out within a 1/h budget")
	}
	if got := waiting(t); got != 2 {
		t.Errorf("budget spent: %v orders waiting, want 2", got)
	}
	p.queue = nil
	p.next()
	if got := waiting(t); got != 0 {
		t.Errorf("empty queue: %v orders waiting, want 0", got)
	}
}

func waiting(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := OrdersWaiting.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
