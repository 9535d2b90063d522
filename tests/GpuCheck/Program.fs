// The GPU check: the device op suite on a GPU against the CPU, then a benchmark against
// PyTorch on the same GPU, written to gpu-results.md.
//   GpuCheck [--device cuda:0] [--out folder] [--quick] [--no-torch]
// scripts/gpu-check.sh publishes it; `--device sim:0 --quick --no-torch` tries it here.
module Cotangent.GpuCheck.Program

open System
open System.IO
open Expecto
open Cotangent

[<EntryPoint>]
let main argv =
    let arg name =
        argv
        |> Array.tryFindIndex ((=) name)
        |> Option.bind (fun i -> if i + 1 < argv.Length then Some argv.[i + 1] else None)

    let has name = Array.contains name argv

    let device =
        arg "--device" |> Option.map Device.Parse |> Option.defaultValue (Device.Cuda 0)

    let outDir = arg "--out" |> Option.defaultValue "bench"
    let quick = has "--quick"

    match
        (try
            Ok device.Name
         with :? DeviceUnavailableException as e ->
             Error e.Message)
    with
    | Error why ->
        eprintfn "gpu-check: %s" why
        2
    | Ok name ->
        printfn "gpu-check on %O: %s" device name
        let mutable counts = (0, 0)

        let suite =
            testList
                "gpu-check"
                [ Cotangent.Tests.DeviceOpTests.on device
                  Cotangent.Tests.DeviceKernelTests.on device ]

        let printer =
            { defaultConfig.printer with
                summary =
                    fun config summary ->
                        counts <- (summary.passed.Length, summary.failed.Length + summary.errored.Length)
                        defaultConfig.printer.summary config summary }

        let testsRc =
            runTestsWithCLIArgs
                [ CLIArguments.Printer printer
                  CLIArguments.Colours 0
                  CLIArguments.No_Spinner ]
                [||]
                suite

        let sizes = if quick then Bench.Sizes.Quick else Bench.Sizes.Full

        let torch =
            if has "--no-torch" || device.Type <> DeviceType.Cuda then
                Error "not asked for"
            else
                Bench.runTorch sizes quick

        let rows = Bench.runOurs device sizes quick (torch |> Result.defaultValue Map.empty)
        let memory = Bench.memoryOver device (if quick then 300 else 10000)
        let md = Bench.report device counts torch rows memory
        Directory.CreateDirectory outDir |> ignore
        let path = Path.Combine(outDir, "gpu-results.md")
        File.WriteAllText(path, md)
        printfn "%s\nwritten to %s" md path
        let (a0, r0), (a1, r1), _ = memory
        if testsRc <> 0 || (a0, r0) <> (a1, r1) then 1 else 0
