#!/usr/bin/env bash
# The benchmark programs of `make bench` must keep working as the daemons
# change (chunkbench once broke when chunkd began refusing missing data
# folders, and nothing noticed until a bench run). This runs each briefly on
# the optimised build and checks it produced its figures; the figures
# themselves are not judged here — speed is measured by make bench only.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/cluster.sh
cluster_init

make -s -j2 build/casfs-metad build/casfs-chunkd build/chunkbench build/metabench \
	>"$T/make.log" 2>&1 || fail "building the bench programs: $(tail -5 "$T/make.log")"

build/chunkbench --seconds 0.2 >"$T/chunkbench.out" 2>&1 || fail "chunkbench: $(tail -5 "$T/chunkbench.out")"
for row in "PUT *chain=3 streams=8" "GET cached chain=1 streams=1"; do
	grep -Eq "^$row +[0-9.]+ MiB/s" "$T/chunkbench.out" ||
		fail "chunkbench printed no '$row' figure: $(cat "$T/chunkbench.out")"
done

build/metabench bench --metad build/casfs-metad --dir "$T/metabench" --files 20000 --seconds 0.3 \
	>"$T/metabench.out" 2>&1 || fail "metabench: $(tail -5 "$T/metabench.out")"
for row in "mutations/s .*sync=interval" "lookups/s" "bytes/file" "restart after kill -9"; do
	grep -Eq "$row" "$T/metabench.out" || fail "metabench printed no '$row' figure: $(cat "$T/metabench.out")"
done
echo "bench_smoke: ok"
