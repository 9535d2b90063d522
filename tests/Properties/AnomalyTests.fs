/// Autograd.DetectAnomaly (torch.autograd.detect_anomaly): the first op or VJP that makes a NaN
/// or ±∞ raises, naming the op, its inputs and the forward call's place; off, nothing changes.
module Cotangent.Tests.AnomalyTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

let private anomaly (f: unit -> unit) =
    try
        f ()
        failtest "expected an AnomalyException, but nothing was thrown"
    with
    | :? AnomalyException as e -> e
    | :? AssertException -> reraise ()
    | e -> failtestf "expected an AnomalyException, got %s: %s" (e.GetType().Name) e.Message

let tests =
    testSequenced
    <| testList
        "anomaly detection"
        [ test "off by default: a NaN passes through as IEEE arithmetic makes it" {
              let y = (f64 [ -1.0; 4.0 ]).Sqrt()
              Expect.isTrue (Double.IsNaN (values y).[0]) "sqrt(-1) is NaN"
          }
          test "a forward op that makes NaN raises, naming the op and its inputs" {
              use _ = Autograd.DetectAnomaly()
              let x = f64s [ 3 ] [ 1.0; 2.0; 3.0 ]
              let e = anomaly (fun () -> (x - 2.0).Log() |> ignore)
              Expect.equal e.Op "log" "the op"
              Expect.isFalse e.InBackward "in the forward pass"
              Expect.stringStarts e.Message "log: anomaly detection" "named first"
              Expect.stringContains e.Message "float64 [3]" "the input's shape and dtype"
              Expect.stringContains e.Message "AnomalyTests" "where it was called"
          }
          test "an op built on others is named, with the inner op that failed" {
              use _ = Autograd.DetectAnomaly()
              let e = anomaly (fun () -> (f64 [ 1.0; -1.0 ]).Rsqrt() |> ignore)
              Expect.equal e.Op "sqrt" "the primitive"
              Expect.stringStarts e.Message "rsqrt: anomaly detection: sqrt, which it is built on," "the op called"
          }
          test "a VJP that makes ±inf raises in backward with the forward call's stack trace" {
              use _ = Autograd.DetectAnomaly()
              let x = (f64 [ 0.0; 4.0 ]).RequireGrad()
              let loss = x.Sqrt().Sum()
              let e = anomaly (fun () -> loss.Backward())
              Expect.equal e.Op "sqrt" "sqrt's VJP divides by √0"
              Expect.isTrue e.InBackward "in backward"
              Expect.stringContains e.Message "<SqrtBackward>" "the node, as PyTorch names it"
              Expect.isNotNull e.ForwardStackTrace "the forward trace was kept"
              // the user's frame first: the core's own frames (sqrt, Result, Record) are dropped
              Expect.stringStarts
                  (e.ForwardStackTrace.TrimStart())
                  "at Cotangent.Tests.AnomalyTests"
                  "the caller of sqrt"

              Expect.stringContains e.ForwardStackTrace "AnomalyTests.fs:line" "with its line"
              Expect.isNull x.Grad "nothing accumulated"
          }
          test "a node made before detection was on says its trace was not kept" {
              let x = (f64 [ 0.0 ]).RequireGrad()
              let loss = x.Sqrt().Sum()
              use _ = Autograd.DetectAnomaly()
              let e = anomaly (fun () -> loss.Backward())
              Expect.isNull e.ForwardStackTrace "no trace"
              Expect.stringContains e.Message "before anomaly detection was on" "says why"
          }
          test "DetectAnomaly(false) turns it off inside, and closing the scope turns it off" {
              let inside () =
                  use _ = Autograd.DetectAnomaly()
                  use _ = Autograd.DetectAnomaly false
                  Expect.isTrue (Double.IsNaN (values ((f64 [ -1.0 ]).Log())).[0]) "off inside"

              inside ()

              Expect.isTrue (Double.IsNaN (values ((f64 [ -1.0 ]).Log())).[0]) "off after"
          }
          test "finite programs give the same values and gradients with detection on" {
              let run () =
                  let w = (f64s [ 2; 2 ] [ 0.5; -1.0; 2.0; 0.25 ]).RequireGrad()
                  let x = f64s [ 3; 2 ] [ 1.0; 2.0; -3.0; 0.5; 0.0; 1.5 ]
                  let loss = (Tensor.MatMul(x, w).Tanh().Square().Sum() + w.Norm()).LogSumExp([| 0 |])
                  loss.Backward()
                  values loss, values w.Grad

              let plain = run ()
              use _ = Autograd.DetectAnomaly()
              Expect.equal (run ()) plain "identical"
          } ]
