#!/usr/bin/env bash
# The route a script or a service outside the repository takes, as the README shows it: pack
# into a local folder, then use the packages from F# Interactive (#i + #r "nuget: ...") and from
# a new C# console project (dotnet add package), each with zero warnings. Runs with empty,
# private NuGet and CLI caches, so it uses the packages just made and nothing cached before.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/nuget" DOTNET_CLI_HOME="$work/home" HOME="$work/home"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
mkdir -p "$HOME"

fail() { echo "consumer check: $*" >&2; exit 1; }
no_warnings() { # file, what
  if grep -iE '(^|[^a-z])warning( |:)' "$1" | grep -v ' 0 Warning(s)'; then fail "$2 printed warnings"; fi
}

echo "-- pack (README: Use the packages)"
rm -rf out/packages
dotnet tool restore >/dev/null
dotnet pack Packages.slnf -c Release -o out/packages 2>&1 | tee "$work/pack.log"
no_warnings "$work/pack.log" "dotnet pack"
packages="$repo/out/packages"

echo "-- package metadata"
for id in Cotangent Cotangent.FSharp Cotangent.Testing; do
  nupkg="$packages/$id.0.1.0.nupkg"
  [ -f "$nupkg" ] || fail "$nupkg is missing"
  [ -f "${nupkg%.nupkg}.snupkg" ] || fail "the symbols package of $id is missing"
  spec=$(unzip -p "$nupkg" "$id.nuspec")
  for field in '<license type="expression">MIT</license>' '<readme>README.md</readme>' \
               '<repository type="git" url="https://' '<projectUrl>' '<tags>' '<copyright>'; do
    grep -qF "$field" <<<"$spec" || fail "$id.nuspec lacks $field"
  done
  grep -q '<description>Package Description</description>' <<<"$spec" && fail "$id has the default description"
  # listings are read whole first: grep -q stopping early would make unzip fail with SIGPIPE
  files=$(unzip -l "$nupkg")
  symbols=$(unzip -l "${nupkg%.nupkg}.snupkg")
  grep -q ' README.md$' <<<"$files" || fail "$id does not contain its readme"
  grep -q "\.pdb$" <<<"$symbols" || fail "$id.snupkg holds no PDB"
done
grep -qF 'id="FSharp.Core" version="10.0.111"' <<<"$(unzip -p "$packages/Cotangent.FSharp.0.1.0.nupkg" Cotangent.FSharp.nuspec)" \
  || fail "Cotangent.FSharp must ask for FSharp.Core 10.0.111 or newer (what every .NET 10 SDK ships)"
core=$(unzip -l "$packages/Cotangent.0.1.0.nupkg")
grep -q 'buildTransitive/Cotangent.targets' <<<"$core" || fail "Cotangent lacks its buildTransitive GC settings"

echo "-- F# Interactive (README: #i + #r \"nuget: Cotangent.FSharp\")"
cat >"$work/script.fsx" <<EOF
#i "nuget: $packages"
#r "nuget: Cotangent.FSharp"
open Cotangent.FSharp

let g = grad (fun w -> sum (tanh (w *@ w))) (ones [ 2; 2 ])
printfn "%O" g
EOF
(cd "$work" && dotnet fsi script.fsx) >"$work/fsi.log" 2>&1 || { cat "$work/fsi.log"; fail "the script failed"; }
cat "$work/fsi.log"
no_warnings "$work/fsi.log" "dotnet fsi"
# d/dw Σ tanh(w·w) at w = ones(2, 2): every entry is 2·(1 − tanh²(2))·2 = 0.2826
grep -q '0.2826' "$work/fsi.log" || fail "the script printed the wrong gradient"

echo "-- a C# project (README: dotnet add package Cotangent)"
(
  cd "$work"
  dotnet new console -o MyService >/dev/null
  cd MyService
  dotnet new nugetconfig >/dev/null
  dotnet nuget add source "$packages" --name cotangent-local >/dev/null
  dotnet add package Cotangent >/dev/null
  cat >Program.cs <<'EOF'
using Cotangent;

var x = Tensor.Randn(3).RequireGrad();
var y = x * 2;
while (y.Norm().Item<float>() < 1000) y = y * 2;
y.Backward(Tensor.From(0.1f, 1.0f, 0.0001f));
Console.WriteLine(x.Grad);
EOF
  sed -i 's#</PropertyGroup>#  <CotangentGcSettings>true</CotangentGcSettings>\n  </PropertyGroup>#' MyService.csproj
  dotnet build 2>&1 | tee build.log
  grep -q ' 0 Warning(s)' build.log || fail "the C# build printed warnings"
  dotnet run --no-build | tee run.log
  grep -q 'tensor(\[' run.log || fail "the C# program printed no gradient"
  grep -q '"System.GC.Gen0Size": 67108864' bin/Debug/net10.0/MyService.runtimeconfig.json \
    || fail "CotangentGcSettings did not reach the runtimeconfig"
)
echo "consumer check: OK"
