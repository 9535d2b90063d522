module Cotangent.Tests.Main

open System
open Expecto
open Expecto.Impl

/// Console output for a log: drops the ANSI escape sequences (colours, cursor moves) that
/// Expecto's console writer emits even at colour level 0, and the spaces that end a line.
type private PlainText(inner: IO.TextWriter) =
    inherit IO.TextWriter()
    let mutable state = 0 // 0: text, 1: after ESC, 2: inside a control sequence
    let mutable spaces = 0
    let out = Text.StringBuilder()

    let feed (c: char) =
        match state with
        | 0 when c = '\u001b' -> state <- 1
        | 0 when c = ' ' -> spaces <- spaces + 1
        | 0 ->
            if c <> '\n' && c <> '\r' then
                out.Append(' ', spaces) |> ignore

            spaces <- 0
            out.Append c |> ignore
        | 1 -> state <- if c = '[' then 2 else 0
        | _ ->
            if c >= '@' && c <= '~' then
                state <- 0

    // one write to the console per call, not one per character
    let emit () =
        if out.Length > 0 then
            inner.Write(out.ToString())
            out.Clear() |> ignore

    override _.Encoding = inner.Encoding

    override _.Write(c: char) =
        feed c
        emit ()

    override _.Write(text: string) =
        if not (isNull text) then
            for c in text do
                feed c

            emit ()

    override _.Flush() = inner.Flush()

/// The whole suite, as README's test command runs it.
let runAll (argv: string[]) =
    // in a log (CI, a pipe, a file) print plain text: no colours, no spinner redrawing a line
    let redirected = Console.IsOutputRedirected

    if redirected then
        Console.SetOut(new PlainText(Console.Out))

    let all =
        testList
            "cotangent"
            [ OpProperties.tests
              AutogradTests.tests
              TensorTests.tests
              ErrorTests.tests
              DeviceTests.tests
              DeviceOpTests.tests
              DeviceKernelTests.on (Cotangent.Device.Simulated 2)
              DeviceKernelTests.compiledForCuda
              BadInputTests.tests
              SilentTests.tests
              ChainRuleTests.tests
              NestedTests.tests
              DiffTests.tests
              DslTests.tests
              NnTests.tests
              FusedTests.tests
              ElementwiseTests.tests
              IndexingTests.tests
              OptimTests.tests
              LossTests.tests
              LayerTests.tests
              ParityTests.tests
              LinalgTests.tests
              AnomalyTests.tests
              BatchNormTests.tests
              NormPullbackTests.tests
              DistributedTests.tests
              MpiTests.tests
              CheckpointTests.tests
              ServiceTests.tests ]

    let mutable counts = None
    // keep Expecto's own summary, and remember the counts for the plain line CI reads
    let printer =
        { defaultConfig.printer with
            summary =
                fun config summary ->
                    counts <-
                        Some(
                            summary.passed.Length,
                            summary.failed.Length + summary.errored.Length,
                            summary.ignored.Length
                        )

                    defaultConfig.printer.summary config summary }

    let plain =
        if redirected then
            [ CLIArguments.Colours 0; CLIArguments.No_Spinner ]
        else
            []

    let rc = runTestsWithCLIArgs (CLIArguments.Printer printer :: plain) argv all

    match counts with
    | Some(passed, failed, skipped) -> printfn "\n%d passed, %d failed, %d skipped" passed failed skipped
    | None -> printfn "\n0 passed, 1 failed, 0 skipped"

    Console.Out.Flush()
    rc

[<EntryPoint>]
let main argv =
    match argv with
    | [| "--mpi-scenario"; name |] -> MpiTests.scenario name
    | _ -> runAll argv
