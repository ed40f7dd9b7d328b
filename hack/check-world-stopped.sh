#!/usr/bin/env bash
# Fails when a process of the test world outlives the test run that started it.
#
# usage: hack/check-world-stopped.sh RUN_ID
#
# `make test` runs go test with SECURESITE_TEST_RUN=RUN_ID in its environment; every process the
# tests start (kube-apiserver, etcd, kumo, pebble, moto_server, manager binaries) inherits it.
# Each test binary's guard (internal/testworld/guard.go) stops its world when the binary ends, so
# after go test returns nothing marked should remain. This looks for marked processes, gives
# late exits a few seconds, then names and kills whatever is left and fails.
set -euo pipefail
run=${1:?usage: $0 RUN_ID}
marker="SECURESITE_TEST_RUN=$run"

marked() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "$marker"; then
      # A zombie has ended; its parent has not reaped it yet.
      [[ $(awk '{print $3}' "$d/stat" 2>/dev/null) == Z ]] && continue
      echo "$pid"
    fi
  done
}

for _ in $(seq 1 20); do
  left=$(marked)
  [[ -z $left ]] && { echo "test world: no process outlived the run"; exit 0; }
  sleep 0.5
done

echo "test world: these processes outlived the test run (stopping them now):" >&2
for pid in $left; do
  echo "  pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)" >&2
done
# shellcheck disable=SC2086
kill -9 $left 2>/dev/null || true
exit 1
