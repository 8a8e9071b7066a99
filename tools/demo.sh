#!/bin/sh
# `make demo`: run the example programs (built into $1).
#  1. mta_demo: two x400mta processes exchange 200 messages each way over
#     TCP (100 B .. 1 MiB), with a network cut and an MTA crash injected,
#     and check that every message arrived exactly once.
#  2. p1_exchange: the library API in one process (bind, transfer, report).
set -eu
bin=$1
"$bin/mta_demo" --bin "$bin"
"$bin/p1_exchange"
