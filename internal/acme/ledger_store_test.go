package acme_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/internal/acme"
)

// countingReader counts reads of the API server.
type countingReader struct {
	client.Reader
	gets atomic.Int64
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}

// Every order's send waits for the ledger's save. A store that wrote the Secret last writes over
// its own version without reading it first (the read was half of each save); when another
// replica or shard wrote since, the write conflicts and the store reads, merges and writes, so
// neither side's sends are lost.
func TestLedgerSavesWithoutReadingWhatItWroteLast(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ledger-"}}
	if err := world.k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	keep := func() time.Time { return time.Now().Add(-time.Hour) }
	ours, theirs := &countingReader{Reader: world.k8s}, &countingReader{Reader: world.k8s}
	store := acme.NewSecretLedgerStore(world.k8s, ours, ns.Name, keep)
	other := acme.NewSecretLedgerStore(world.k8s, theirs, ns.Name, keep)
	now := time.Now().Truncate(time.Second)
	sends := func(key string, n int) acme.Ledger {
		l := acme.Ledger{Orders: map[string][]time.Time{}, Holds: map[string]time.Time{}}
		for i := range n {
			l.Orders[key] = append(l.Orders[key], now.Add(time.Duration(i)*time.Second))
		}
		return l
	}

	if _, err := store.Save(ctx, sends("account/ours", 1)); err != nil {
		t.Fatal(err)
	}
	readsAfterFirst := ours.gets.Load()
	for n := 2; n <= 4; n++ {
		if _, err := store.Save(ctx, sends("account/ours", n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ours.gets.Load() - readsAfterFirst; got != 0 {
		t.Errorf("three saves over the store's own version read the Secret %d times, want 0", got)
	}

	if _, err := other.Save(ctx, sends("account/theirs", 2)); err != nil {
		t.Fatal(err)
	}
	merged, err := store.Save(ctx, sends("account/ours", 5))
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Orders["account/ours"]) != 5 || len(merged.Orders["account/theirs"]) != 2 {
		t.Errorf("after another store's write, the save kept %v, want both stores' sends", merged.Orders)
	}
	stored, err := acme.NewSecretLedgerStore(world.k8s, world.k8s, ns.Name, keep).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Orders["account/ours"]) != 5 || len(stored.Orders["account/theirs"]) != 2 {
		t.Errorf("stored ledger %v, want both stores' sends", stored.Orders)
	}
}
