(**
---
title: Cotangent from C#, and a C# service
category: Tutorials
categoryindex: 2
index: 7
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"

open System
open System.IO
open System.Net.Http
open Cotangent

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "../.."))

/// A repository file as a fenced C# block (HTML-escaped: the page shows what was compiled).
let source (file: string) =
    let text = File.ReadAllText(Path.Combine(root, file)).TrimEnd()

    sprintf
        "<p><code>%s</code></p>\n<pre><code class=\"language-csharp\">%s</code></pre>"
        file
        (Net.WebUtility.HtmlEncode text)

/// Runs dotnet with the arguments from the repository's root; its output, or an error with it.
let dotnet (args: string) = DocsKit.run root "dotnet" args []
(**
# Cotangent from C#, and a C# service

The core is a C# library: `Tensor`, its operators and methods, `Autograd`'s transforms, the
layers and optimizers of `Cotangent.Nn`. The F# DSL is a thin layer over it; nothing needs F#.
Both programs on this page are projects of the repository, compiled and run when the page was
built (and by CI), so what you read here compiles.

## The seed example in C#

`examples/QuickstartCSharp` is the seed chapter's program: a leaf that requires its gradient,
doubled until its norm passes 1000, `Backward(v)` as Jᵀv, and the `GradFn` chain walked back
to the leaf.
*)
(*** hide ***)
source "examples/QuickstartCSharp/Program.cs"
(*** include-it-raw ***)
(**
`dotnet run --project examples/QuickstartCSharp -c Release` printed:
*)
(*** hide ***)
printf "%s" (dotnet "run --project examples/QuickstartCSharp -c Release")
(*** include-output ***)
(**
The same calls from F# are the same names: `Tensor.Randn(3).RequireGrad()`, `y.Backward v`,
`x.Grad`; the DSL adds literals, operators and `diff { }` (see the other tutorials).

## A service that predicts and explains

`examples/CSharpService` is an ASP.NET Core minimal API over a checkpoint: `POST /predict`
answers class probabilities, and `POST /saliency` the gradient ∂ log p_k/∂x of the predicted
class with respect to the input, computed with `Autograd.Grad`, which accumulates nothing into
the model, so concurrent requests share it safely. Bad requests get 400 with the reason. The
model and its endpoints:
*)
(*** hide ***)
source "examples/CSharpService/ServiceApp.cs"
(*** include-it-raw ***)
(**
Started on a checkpoint of the spiral classifier's network, untrained (written here with
`Checkpoint.Save`, as `examples/TrainMlp` writes its trained one; so the probabilities below
are near a third each), called over HTTP, and stopped:

```sh
dotnet run --project examples/CSharpService -- out/mlp.safetensors 5080
curl -s localhost:5080/predict -H 'content-type: application/json' -d '{"inputs": [[0.3, -0.2]]}'
curl -s localhost:5080/saliency -H 'content-type: application/json' -d '{"input": [0.3, -0.2]}'
```
*)
(*** hide ***)
let checkpoint =
    Path.Combine(Path.GetTempPath(), sprintf "cotangent-docs-%d.safetensors" Environment.ProcessId)

Cotangent.Io.Checkpoint.Save(
    checkpoint,
    Cotangent.Examples.Spirals.mlp (Cotangent.Generator 2026UL) Cotangent.DType.Float32
)

dotnet "build examples/CSharpService -c Release -v q -nologo" |> ignore
let port = DocsKit.freePort ()

let service =
    new DocsKit.Running(
        root,
        "dotnet",
        sprintf "run --project examples/CSharpService -c Release --no-build -- %s %d" checkpoint port
    )

try
    use http = new HttpClient(BaseAddress = Uri(sprintf "http://127.0.0.1:%d" port))

    let rec waitHealthy tries =
        let ok =
            try
                http.GetAsync("/health").Result.IsSuccessStatusCode
            with _ ->
                false

        if not ok then
            if service.HasExited || tries = 0 then
                service.Stop()
                failwithf "the service did not start:\n%s\n%s" service.Output service.Errors

            Threading.Thread.Sleep 500
            waitHealthy (tries - 1)

    waitHealthy 120

    let post (path: string) (json: string) =
        use content = new StringContent(json, Text.Encoding.UTF8, "application/json")
        let r = http.PostAsync(path, content).Result
        sprintf "%d %s" (int r.StatusCode) (r.Content.ReadAsStringAsync().Result)

    printfn "POST /predict  %s" (post "/predict" """{"inputs": [[0.3, -0.2]]}""")
    printfn "POST /saliency %s" (post "/saliency" """{"input": [0.3, -0.2]}""")
    printfn "POST /predict  %s" (post "/predict" """{"inputs": [[0.3]]}""")
finally
    (service :> IDisposable).Dispose()
    File.Delete checkpoint
(*** include-output ***)
(**
The last request has a row of one number for a model of two inputs: the service answers 400
with the reason and goes on serving. The test suite starts the same service on a free port and
checks each of its answers.
*)
