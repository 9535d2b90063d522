// Trains the spiral MLP with DataParallel: one process, the batch split over several devices.
//   dotnet run --project examples/DataParallel -- [--devices sim:0,sim:1]
// By default the GPUs when there are two or more, else two simulated devices. The same
// training on one device (the CPU) runs beside it; exits non-zero if the two end with
// different parameters (float64, to 1e-8 relative).
open System
open Cotangent
open Cotangent.Nn
open Cotangent.Distributed
open Cotangent.Examples

let model () =
    Spirals.mlp (Generator 1UL) DType.Float64

/// Epochs of Adam over the data in batches of 64 through `forward`; the model's parameters after.
let train (net: Module) (forward: Tensor -> Tensor) (x: Tensor) (y: Tensor) epochs =
    let opt = Adam(net.Parameters(), 0.01)

    for _ in 1..epochs do
        for xb, yb in DataLoader(x, y, 64, shuffle = true, generator = Generator 3UL) do
            use _ = Tensor.Scope()
            opt.ZeroGrad()
            Tensor.CrossEntropy(forward xb, yb).Backward()
            opt.Step()

[<EntryPoint>]
let main argv =
    let devices =
        match Array.tryFindIndex ((=) "--devices") argv with
        | Some i when i + 1 < argv.Length -> argv.[i + 1].Split ',' |> Array.map Device.Parse |> List.ofArray
        | _ when Device.CudaCount >= 2 -> [ for i in 0 .. Device.CudaCount - 1 -> Device.Cuda i ]
        | _ -> [ Device.Simulated 0; Device.Simulated 1 ]

    let x, y = Spirals.make (Generator 2026UL) 300
    let x = x.To DType.Float64
    let nTest = x.Size 0 / 5
    let xTest, yTest = x.Slice(0, 0, nTest), y.Slice(0, 0, nTest)
    let xTrain, yTrain = x.Slice(0, nTest, x.Size 0), y.Slice(0, nTest, x.Size 0)
    let epochs = 20
    let sw = Diagnostics.Stopwatch.StartNew()
    // the parameters live on the first device; DataParallel copies them to the others each step
    let net = (model ()).To devices.Head
    let dp = DataParallel(net, devices)
    train net dp.Forward (xTrain.To devices.Head) (yTrain.To devices.Head) epochs
    let took = sw.Elapsed.TotalSeconds
    let alone = model ()
    train alone alone.Forward xTrain yTrain epochs

    let ours =
        [| for p in net.Parameters() -> p.Value.Cpu().ToArray<float>() |]
        |> Array.concat

    let theirs =
        [| for p in alone.Parameters() -> p.Value.ToArray<float>() |] |> Array.concat

    let worst =
        Array.map2 (fun (a: float) b -> abs (a - b) / max 1.0 (abs b)) ours theirs
        |> Array.max

    let accuracy = Spirals.accuracy alone xTest yTest

    printfn
        "DataParallel over %s: %d epochs in %.1f s; held-out accuracy %.1f%%; largest parameter difference from one device %.2e"
        (String.Join(", ", devices))
        epochs
        took
        (100.0 * accuracy)
        worst

    if worst <= 1e-8 then 0 else 1
