#!/usr/bin/env bash
# bench/www/prepare.sh -- what a crunched site's build-time ETag digests save at start-up (not a test).
#
#   bench/www/prepare.sh
#
# StaticSite's constructor over (1) examples/www/site with gzip twins of its html and css (as crunch compiles it in)
# and (2) 200 generated 50 KB text files, once hashing every file (a store without digests: --site DIR) and once
# with the digests the generator emits for crunch (bench/www/SiteBench, JIT, best of 5 runs). Knobs: ROUNDS_SMALL
# (20000), ROUNDS_BIG (20).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/www-prepare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

dotnet build "$ROOT/bench/www/SiteBench" -c Release -nologo -clp:NoSummary -o "$WORK/bin" >/dev/null

cp -r "$ROOT/examples/www/site" "$WORK/www"
find "$WORK/www" \( -name '*.html' -o -name '*.css' \) -size +255c -exec gzip -9 -k {} \;
mkdir "$WORK/big"
python3 - "$WORK/big" <<'PY'
import random, sys
r = random.Random(1)
for i in range(200):
    open(f'{sys.argv[1]}/p{i}.html', 'w').write(''.join(r.choice('abcdefgh <>/\n') for _ in range(50000)))
PY

dotnet "$WORK/bin/SiteBench.dll" "$WORK/www" "${ROUNDS_SMALL:-20000}"
dotnet "$WORK/bin/SiteBench.dll" "$WORK/big" "${ROUNDS_BIG:-20}"
