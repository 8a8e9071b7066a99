#!/bin/sh
# `make demo`: tools/mta_demo (built into $1) and the example programs
# (built into $2).
#  1. mta_demo: two x400mta processes exchange 200 messages each way over
#     TCP (100 B .. 1 MiB), with a network cut and an MTA crash injected,
#     and check that every message arrived exactly once.
#  2. p1_exchange: the library API in one process (bind, transfer, report).
set -eu
tools=$1
bin=$2
"$tools/mta_demo" --bin "$bin"
"$bin/p1_exchange"
