// Trains an MLP on a generated three-arm spiral (no downloads), with a progress bar, a
// loss-curve PNG and a checkpoint; exits non-zero below 95% held-out accuracy.
//   dotnet run --project examples/TrainMlp -- [output folder, default out/] [--device cpu|cuda:N|sim:N]
open System
open System.IO
open Cotangent
open Cotangent.FSharp
open Cotangent.Io
open Cotangent.Nn
open Spectre.Console
open Cotangent.Examples

/// The output folder (the first argument that is not an option) and the device (`--device d`).
let parseArgs (argv: string[]) =
    let rec go i (dir: string option) (device: Device) =
        if i >= argv.Length then
            defaultArg dir "out", device
        elif argv.[i] = "--device" && i + 1 < argv.Length then
            go (i + 2) dir (Device.Parse argv.[i + 1])
        elif argv.[i] = "--device" then
            failwith "--device needs a device: cpu, cuda:N or sim:N"
        else
            go (i + 1) (Some(defaultArg dir argv.[i])) device

    go 0 None Device.Cpu

[<EntryPoint>]
let main argv =
    let outDir, device = parseArgs argv
    // a progress bar on a terminal; plain lines in a log or a pipe
    let interactive =
        not Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive

    Directory.CreateDirectory outDir |> ignore
    let gen = Generator 2026UL
    let x, y = Spirals.make gen 600
    // hold out a fifth, chosen at random
    let order =
        DataLoader(x, y, x.Size 0, shuffle = true, generator = Generator 1UL)
        |> Seq.head

    let xAll, yAll = order.ToTuple()
    let nTest = x.Size 0 / 5
    let xTest, yTest = xAll.Slice(0, 0, nTest), yAll.Slice(0, 0, nTest)
    let xTrain, yTrain = xAll.Slice(0, nTest, x.Size 0), yAll.Slice(0, nTest, x.Size 0)
    // data and model on the device; the optimizer's state and every step's tensors follow them
    let xTest, yTest, xTrain, yTrain =
        xTest.To device, yTest.To device, xTrain.To device, yTrain.To device

    let net = (Spirals.mlp gen DType.Float32).To device

    let epochs = 100
    let opt = Adam(net.Parameters(), 0.01)
    let schedule = CosineAnnealingLr(opt, epochs, 0.0005)

    let loader =
        DataLoader(xTrain, yTrain, 64, shuffle = true, generator = Generator 2UL)

    let losses = ResizeArray<float>()

    /// One epoch of training; returns the epoch's summary line.
    let trainEpoch epoch =
        net.Train() |> ignore
        let mutable total = 0.0

        for xb, yb in loader do
            // the step's intermediates give their buffers back when the scope ends
            use _ = Tensor.Scope()
            opt.ZeroGrad()
            let loss = Tensor.CrossEntropy(net.Forward xb, yb)
            loss.Backward()
            opt.Step()
            total <- total + loss.Item<float>() * float (xb.Size 0)

        schedule.Step()
        losses.Add(total / float (xTrain.Size 0))
        net.Eval() |> ignore

        sprintf
            "epoch %3d/%d  loss %.4f  test acc %.1f%%"
            epoch
            epochs
            losses.[losses.Count - 1]
            (100.0 * Spirals.accuracy net xTest yTest)

    if interactive then
        AnsiConsole
            .Progress()
            .Columns(TaskDescriptionColumn(), ProgressBarColumn(), PercentageColumn(), ElapsedTimeColumn())
            .Start(fun ctx ->
                let task = ctx.AddTask("training", maxValue = float epochs)

                for epoch in 1..epochs do
                    task.Description <- trainEpoch epoch
                    task.Increment 1.0)
    else
        // a log, not a terminal: a plain line every tenth epoch instead of a redrawn bar
        for epoch in 1..epochs do
            let line = trainEpoch epoch

            if epoch % 10 = 0 || epoch = 1 then
                printfn "%s" line

    let testAccuracy = Spirals.accuracy net xTest yTest
    use plot = new ScottPlot.Plot()

    plot.Add.Scatter(Array.init losses.Count (fun i -> float (i + 1)), losses.ToArray())
    |> ignore

    plot.Title(sprintf "MLP on three spirals: %.1f%% held-out accuracy" (100.0 * testAccuracy))
    plot.XLabel "epoch"
    plot.YLabel "training cross-entropy"
    let png = Path.Combine(outDir, "loss.png")
    plot.SavePng(png, 800, 500) |> ignore
    let ckpt = Path.Combine(outDir, "mlp.safetensors")
    Checkpoint.Save(ckpt, net, opt)

    if interactive then
        AnsiConsole.MarkupLine(
            sprintf
                "held-out accuracy [bold]%.1f%%[/] on %d points; loss curve [blue]%s[/]; checkpoint [blue]%s[/]"
                (100.0 * testAccuracy)
                nTest
                (Markup.Escape png)
                (Markup.Escape ckpt)
        )
    else
        printfn
            "held-out accuracy %.1f%% on %d points (trained on %O); loss curve %s; checkpoint %s"
            (100.0 * testAccuracy)
            nTest
            device
            png
            ckpt

    if testAccuracy >= 0.95 then 0 else 1
