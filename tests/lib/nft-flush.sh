#!/bin/sh
# usage: nft-flush.sh
# Prints one line of sh for a root workload: write build/nft-flush (tests/lib/nft-flush.c)
# into the guest from base64, and run it: every nf_tables table, the kill switch
# included, is gone. What "nft flush ruleset" did when the image still held nft.
set -eu
bin=$(cd "$(dirname "$0")/../.." && pwd)/build/nft-flush
[ -x "$bin" ] || { echo "nft-flush.sh: $bin is missing (make)" >&2; exit 1; }
printf 'echo %s | base64 -d >/tmp/nft-flush && chmod 700 /tmp/nft-flush && /tmp/nft-flush' "$(base64 -w0 "$bin")"
