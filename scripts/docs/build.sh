#!/usr/bin/env bash
# Builds the documentation site into out/site (ignored) and checks it as CI does:
#   bash scripts/docs/build.sh
# fsdocs runs every tutorial in docs/ (a fragment that throws fails the build) and generates the
# API reference of Cotangent, Cotangent.FSharp and Cotangent.Testing from their XML docs; then
# check.fsx fails on public members without docs and on links, anchors and images that point at
# nothing, and browse.fsx on pages that show no text or an image that did not load in Chromium.
# Needs Graphviz's dot, Chromium and MPICH (Debian: apt-get install graphviz chromium mpich).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=out/site
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet tool restore >/dev/null
# the libraries the reference reads, and the folder the tutorials load them from
dotnet build scripts/docs/DocsKit.fsproj -c Release -v q -nologo
rm -rf .fsdocs "$out"
# fsdocs does not stop at a tutorial fragment that throws: it leaves the fragment's output
# empty and goes on (FSharp.Formatting's evaluator drops the error of an interaction). So every
# script first runs on its own, where an exception stops it and is shown.
for script in $(find docs -name '*.fsx' -not -path '*/.*' | sort); do
  if ! (cd "$(dirname "$script")" && dotnet fsi --quiet --exec "$(basename "$script")" >/dev/null); then
    echo "docs: $script threw (above); the site is not built" >&2
    exit 1
  fi
done
# the Guide pages are the README's sections (docs/guide is written here and ignored)
dotnet fsi scripts/docs/guide.fsx
if ! dotnet fsdocs build --strict --eval --clean --output "$out" \
  --properties Configuration=Release --parameters root / fsdocs-collection-name Cotangent \
  --projects src/Core.CSharp/Core.CSharp.csproj src/Dsl.FSharp/Dsl.FSharp.fsproj src/Testing.FSharp/Testing.FSharp.fsproj \
  >"$log" 2>&1; then
  cat "$log"
  echo "docs: fsdocs failed (above)" >&2
  exit 1
fi
# fsdocs finds no source file for a C# type and links it to "<repository>/startup#L1-1": such a
# link would send a reader to a page that does not exist, so it goes
find "$out/reference" -name '*.html' -exec perl -0pi -e 's|<a href="[^"]*/startup#L1-1" class="fsdocs-source-link".*?</a>||gs' {} +
# and a fragment whose value fsdocs could not show says so where the value belongs
failed=$(grep -rl --include='*.html' "No value returned by any evaluator" "$out" || true)
if grep -nE "error FS[0-9]+|Evaluation failed" "$log" || [ -n "$failed" ]; then
  echo "docs: a tutorial fragment did not evaluate under fsdocs: ${failed:-see above}" >&2
  exit 1
fi
dotnet fsi scripts/docs/check.fsx "$out" "$log"
# as a reader sees them: every page in headless Chromium, screenshots beside the site
dotnet fsi scripts/docs/browse.fsx "$out" out/site-screenshots
echo "docs: built $out"
