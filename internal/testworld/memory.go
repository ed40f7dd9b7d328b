package testworld

import "runtime"

// LiveHeap is the heap in use right after a collection: what the process holds, not garbage
// waiting for the collector. The memory tests and benchmarks measure a structure as the difference
// of two readings.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
