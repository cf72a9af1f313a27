# bench/www/site.sh -- sourced by the web benchmarks: make_site DIR writes the site they all serve: small.html (the
# example's index.html) and 100k.html (100 KiB of seeded text, so gzip-able like a real page).
make_site() {
  mkdir -p "$1"
  cp "$ROOT/examples/www/site/index.html" "$1/small.html"
  python3 -c "
import random
random.seed(14)
words = ['unikernel', 'library', 'operating', 'system', 'network', 'appliance', 'sealed', 'image', 'static', 'http']
text = ' '.join(random.choice(words) for _ in range(30000))
open('$1/100k.html', 'w').write((text * 2)[:100 * 1024])
"
}
