#!/bin/sh
# `make demo`: run the example programs (built into $1).
set -eu
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin/primitives_demo" "$dir"
"$bin/p1_exchange"
