#!/bin/bash
# Worker-seconds (setup + call + teardown) per test file and in all, from pytest's --durations=0 output:
#   bash benchmarks/test_suite/sum_durations.sh LOG
awk '/s (call|setup|teardown) /{t=$1; sub("s$","",t); s+=t; split($3,a,"::"); f[a[1]]+=t}
     END{for(k in f) printf "%8.1f %s\n", f[k], k; printf "%8.1f total\n", s}' "$1" | sort -rn
