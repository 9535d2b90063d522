#!/usr/bin/env bash
# The README's service commands, run as written from the repository root after TrainMlp wrote
# out/mlp.safetensors: start the service, wait for /health, call /predict and /saliency with
# the README's curl lines, check the answers, stop it.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet run --project examples/CSharpService -- out/mlp.safetensors 5080 >"$log" 2>&1 &
pid=$!
stop() { kill "$pid" 2>/dev/null; pkill -f 'CSharpService.*out/mlp.safetensors' 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"; }
trap stop EXIT
for _ in $(seq 1 120); do
  curl -sf localhost:5080/health >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "the service exited"; exit 1; }
  sleep 1
done
predict=$(curl -s localhost:5080/predict -H 'content-type: application/json' -d '{"inputs": [[0.3, -0.2]]}')
saliency=$(curl -s localhost:5080/saliency -H 'content-type: application/json' -d '{"input": [0.3, -0.2]}')
echo "predict:  $predict"
echo "saliency: $saliency"
grep -q '"probabilities":\[\[' <<<"$predict" || { cat "$log"; exit 1; }
grep -q '"gradient":\[' <<<"$saliency" || { cat "$log"; exit 1; }
