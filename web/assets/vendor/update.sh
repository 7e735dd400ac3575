#!/usr/bin/env bash
# Fetches the dashboard's vendored front-end packages from the npm registry (with the machine's
# npm client, which checks each tarball's integrity) and copies in the files the dashboard uses:
#
#   nhsuk-frontend  (MIT)      -> web/assets/vendor/nhsuk-frontend/   (served, embedded in csx)
#   axe-core        (MPL-2.0)  -> web/tests/vendor/axe-core/          (browser tests only)
#
# Usage: web/assets/vendor/update.sh [NHSUK_VERSION] [AXE_VERSION]
# With no arguments it re-fetches the pinned versions below (a reproducible refresh); give new
# versions to upgrade, then update the pins here, run the browser tests (web/tests/browser.rs)
# and look at the screenshots before committing.
set -euo pipefail
NHSUK_VERSION="${1:-10.6.1}"
AXE_VERSION="${2:-4.14.1}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
nhs="$root/web/assets/vendor/nhsuk-frontend"
axe="$root/web/tests/vendor/axe-core"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "nhsuk-frontend@$NHSUK_VERSION" "axe-core@$AXE_VERSION" >/dev/null
mkdir nhsuk axe
tar xzf "nhsuk-frontend-$NHSUK_VERSION.tgz" -C nhsuk --strip-components=1
tar xzf "axe-core-$AXE_VERSION.tgz" -C axe --strip-components=1

# nhsuk-frontend: the compiled CSS and ES module, and the images the CSS and pages refer to.
rm -rf "$nhs"
mkdir -p "$nhs/images"
dist=nhsuk/dist/nhsuk
# The CSS loads the Frutiger web font from an NHS CDN; an intranet has no internet, and the
# font is licensed for NHS.UK only, so those @font-face rules are removed: text falls back to
# Arial, as NHS.UK's own stack specifies.
sed -E 's/@font-face\{[^}]*https?:[^}]*\}//g' "$dist/nhsuk-frontend.min.css" > "$nhs/nhsuk-frontend.min.css"
if grep -q 'https\?://' "$nhs/nhsuk-frontend.min.css"; then
  echo "nhsuk-frontend.min.css still refers to an external address:" >&2
  grep -o 'url(https\?://[^)]*)' "$nhs/nhsuk-frontend.min.css" >&2
  exit 1
fi
cp "$dist/nhsuk-frontend.min.js" "$nhs/"
for f in favicon.ico favicon.svg nhsuk-icon-mask.svg; do cp "$dist/assets/images/$f" "$nhs/images/"; done
for f in $(grep -o 'url(/assets/images/[^)]*)' "$nhs/nhsuk-frontend.min.css" | sed -E 's#url\(/assets/images/([^)]*)\)#\1#' | sort -u); do
  cp "$dist/assets/images/$f" "$nhs/images/"
done
license="$(node -p "require('./nhsuk/package.json').license")"
cat > "$nhs/VERSION" <<INFO
nhsuk-frontend $NHSUK_VERSION from the npm registry ($license licence), fetched by web/assets/vendor/update.sh.
Files: dist/nhsuk/nhsuk-frontend.min.css (external @font-face rules removed), dist/nhsuk/nhsuk-frontend.min.js,
and the images they use from dist/nhsuk/assets/images/.
INFO
{
  echo "nhsuk-frontend $NHSUK_VERSION — licence: $license (package.json), as its README states:"
  echo
  awk '/^## Licence/{on=1; next} /^## /{on=0} on' nhsuk/README.md
  echo
  echo "The MIT Licence"
  echo
  echo "Copyright (c) NHS England"
  echo
  cat <<'MIT'
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
MIT
} > "$nhs/LICENCE.txt"

# axe-core: the minified engine and its licence, for the accessibility checks in browser tests.
rm -rf "$axe"
mkdir -p "$axe"
cp axe/axe.min.js axe/LICENSE "$axe/"
echo "axe-core $AXE_VERSION from the npm registry ($(node -p "require('./axe/package.json').license")), fetched by web/assets/vendor/update.sh; used only by the browser tests." > "$axe/VERSION"
echo "nhsuk-frontend $NHSUK_VERSION and axe-core $AXE_VERSION are in place."
