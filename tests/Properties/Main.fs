module Cotangent.Tests.Main

open Expecto
open Expecto.Impl

[<EntryPoint>]
let main argv =
    let all =
        testList
            "cotangent"
            [ OpProperties.tests
              AutogradTests.tests
              TensorTests.tests
              ErrorTests.tests
              ChainRuleTests.tests
              DslTests.tests
              NnTests.tests
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

    let rc = runTestsWithCLIArgs [ CLIArguments.Printer printer ] argv all

    match counts with
    | Some(passed, failed, skipped) -> printfn "\n%d passed, %d failed, %d skipped" passed failed skipped
    | None -> printfn "\n0 passed, 1 failed, 0 skipped"

    rc
