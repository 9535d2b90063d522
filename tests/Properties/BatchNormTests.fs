/// BatchNorm1d/2d against torch.nn.BatchNorm's documented formulas, written here as plain loops:
/// y = (x − E[x]) / √(Var[x] + eps) · γ + β per channel with the biased batch variance while
/// training; running statistics updated by momentum with the unbiased variance (or as a
/// cumulative average when momentum is None); evaluation with the running statistics.
module Cotangent.Tests.BatchNormTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Testing
open Cotangent.Tests.Check

/// Per-channel mean and biased variance of an [N, C, rest...] array, by loops.
let private channelStats (x: float[]) (n: int) (c: int) (rest: int) =
    Array.init c (fun ch ->
        let vs =
            [| for i in 0 .. n - 1 do
                   for k in 0 .. rest - 1 -> x.[(i * c + ch) * rest + k] |]

        let m = Array.average vs
        m, (vs |> Array.sumBy (fun v -> (v - m) ** 2.0)) / float vs.Length, vs.Length)

let private normalised (x: float[]) n c rest (mean: float[]) (var: float[]) (g: float[]) (b: float[]) eps =
    Array.init x.Length (fun idx ->
        let ch = (idx / rest) % c
        (x.[idx] - mean.[ch]) / sqrt (var.[ch] + eps) * g.[ch] + b.[ch])

let private draw (seed: int) (shape: int[]) =
    Sampling.tensorIn (Random seed) Sampling.Real shape * 3.0 + 1.0

let private withAffine (bn: BatchNorm) =
    bn.Weight.Assign(f64 [ 0.5; -2.0; 1.5 ])
    bn.Bias.Assign(f64 [ 0.1; 0.0; -0.3 ])
    bn

let tests =
    testList
        "batch norm"
        [ test "training normalises each channel by the batch's mean and biased variance" {
              let bn = withAffine (BatchNorm2d(3, dtype = DType.Float64))
              let x = draw 1 [| 4; 3; 2; 5 |]
              let stats = channelStats (values x) 4 3 10

              let expected =
                  normalised
                      (values x)
                      4
                      3
                      10
                      (stats |> Array.map (fun (m, _, _) -> m))
                      (stats |> Array.map (fun (_, v, _) -> v))
                      [| 0.5; -2.0; 1.5 |]
                      [| 0.1; 0.0; -0.3 |]
                      1e-5

              near 1e-12 expected (bn.Forward x) "y"
          }
          test "running statistics follow momentum with the unbiased variance; eval uses them" {
              let bn = withAffine (BatchNorm1d(3, momentum = 0.25, dtype = DType.Float64))
              let xs = [ draw 2 [| 5; 3; 4 |]; draw 3 [| 5; 3; 4 |] ]
              let mutable rm = Array.zeroCreate 3
              let mutable rv = Array.create 3 1.0

              for x in xs do
                  bn.Forward x |> ignore
                  let stats = channelStats (values x) 5 3 4
                  rm <- Array.map2 (fun r (m, _, _) -> 0.75 * r + 0.25 * m) rm stats
                  rv <- Array.map2 (fun r (_, v, k) -> 0.75 * r + 0.25 * v * float k / float (k - 1)) rv stats

              near 1e-12 rm bn.RunningMean.Value "running_mean"
              near 1e-12 rv bn.RunningVar.Value "running_var"
              Expect.equal (bn.NumBatchesTracked.Value.Item<int64>()) 2L "num_batches_tracked"
              let before = values bn.RunningMean.Value
              bn.Eval() |> ignore
              let x = draw 4 [| 2; 3; 4 |]

              near
                  1e-12
                  (normalised (values x) 2 3 4 rm rv [| 0.5; -2.0; 1.5 |] [| 0.1; 0.0; -0.3 |] 1e-5)
                  (bn.Forward x)
                  "eval"

              near 0.0 before bn.RunningMean.Value "eval changes nothing"
          }
          test "momentum None keeps a cumulative average" {
              let bn = BatchNorm1d(2, momentum = Nullable(), dtype = DType.Float64)
              let a, b = draw 5 [| 4; 2 |], draw 6 [| 4; 2 |]
              bn.Forward a |> ignore
              bn.Forward b |> ignore
              let ma, mb = channelStats (values a) 4 2 1, channelStats (values b) 4 2 1

              near
                  1e-12
                  (Array.map2 (fun (x, _, _) (y, _, _) -> (x + y) / 2.0) ma mb)
                  bn.RunningMean.Value
                  "mean of the two batch means"

              near
                  1e-12
                  (Array.map2 (fun (_, x, _) (_, y, _) -> (x + y) / 2.0 * 4.0 / 3.0) ma mb)
                  bn.RunningVar.Value
                  "of the unbiased variances"
          }
          test "without tracking, evaluation normalises by the batch and there are no buffers" {
              let bn =
                  BatchNorm1d(3, trackRunningStats = false, affine = false, dtype = DType.Float64)

              bn.Eval() |> ignore
              let x = draw 7 [| 6; 3 |]
              let stats = channelStats (values x) 6 3 1

              near
                  1e-12
                  (normalised
                      (values x)
                      6
                      3
                      1
                      (stats |> Array.map (fun (m, _, _) -> m))
                      (stats |> Array.map (fun (_, v, _) -> v))
                      [| 1.0; 1.0; 1.0 |]
                      [| 0.0; 0.0; 0.0 |]
                      1e-5)
                  (bn.Forward x)
                  "y"

              Expect.isEmpty (bn.NamedBuffers()) "no buffers"
              Expect.isEmpty (bn.Parameters()) "no parameters"
          }
          test "gradients through the batch statistics match finite differences" {
              let bn =
                  withAffine (BatchNorm2d(3, trackRunningStats = false, dtype = DType.Float64))

              let x = draw 8 [| 3; 3; 2; 2 |]
              GradCheck.vjpVsDifferences { Eps = 1e-6; Rtol = 1e-6 } (fun xs -> bn.Forward xs.Head) [ x ] 11
              GradCheck.vjpVsJacobian { Eps = 1e-6; Rtol = 1e-6 } (fun xs -> bn.Forward xs.Head) [ x ] 12
          }
          test "a backward pass gives ∂x, ∂γ and ∂β as central differences of the formula do, whichever need one" {
              // loss Σ u·bn(x) over [4, 3, 2, 3]; the oracle differentiates the plain-loop formula
              let shape = [| 4; 3; 2; 3 |]
              let x0, u = values (draw 31 shape), values (draw 32 shape)
              let g0, b0 = [| 0.5; -2.0; 1.5 |], [| 0.1; 0.0; -0.3 |]

              let loss (x: float[]) (g: float[]) (b: float[]) =
                  let stats = channelStats x 4 3 6

                  normalised
                      x
                      4
                      3
                      6
                      (stats |> Array.map (fun (m, _, _) -> m))
                      (stats |> Array.map (fun (_, v, _) -> v))
                      g
                      b
                      1e-5
                  |> Array.map2 (*) u
                  |> Array.sum

              let expected =
                  [| centralDifferences (fun x -> loss x g0 b0) x0
                     centralDifferences (fun g -> loss x0 g b0) g0
                     centralDifferences (fun b -> loss x0 g0 b) b0 |]

              everyWantedSubset
                  1e-6
                  (fun ts -> Tensor.BatchNorm(ts.[0], ts.[1], ts.[2]))
                  [| x0, shape; g0, [| 3 |]; b0, [| 3 |] |]
                  u
                  expected
          }
          test "the state dict holds PyTorch's names, loads back, and moves to a device" {
              let bn = BatchNorm2d(2, dtype = DType.Float64)
              bn.Forward(draw 9 [| 3; 2; 2; 2 |]) |> ignore
              let state = bn.StateDict()

              Expect.equal
                  (state.Keys |> Seq.sort |> List.ofSeq)
                  [ "bias"; "num_batches_tracked"; "running_mean"; "running_var"; "weight" ]
                  "names"

              let other = BatchNorm2d(2, dtype = DType.Float64)
              other.LoadStateDict state
              near 0.0 (values bn.RunningVar.Value) other.RunningVar.Value "loaded"
              let wrong = BatchNorm2d(3, dtype = DType.Float64)
              throwsWith<StateDictMismatchException, _> (fun () -> wrong.LoadStateDict state) [ "running_mean" ]
              let sim = Device.Simulated 0
              other.To sim |> ignore
              Expect.equal other.RunningMean.Value.Device sim "buffer moved"
              let y = other.Eval().Forward((draw 10 [| 1; 2; 2; 2 |]).To sim)
              Expect.equal y.Device sim "runs there"
          }
          test "bad inputs are refused by the layer's name" {
              let bn = BatchNorm2d(3)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> bn.Forward(Tensor.Zeros [| 2; 4; 2; 2 |]))
                  [ "batch_norm2d"; "C = 3"; "[2, 4, 2, 2]" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> bn.Forward(Tensor.Zeros [| 2; 3 |]))
                  [ "batch_norm2d"; "[N, C, H, W]" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> (BatchNorm1d 3).Forward(Tensor.Zeros [| 1; 3 |]))
                  [ "more than 1 value per channel" ]

              throwsWith<DTypeMismatchException, _>
                  (fun () -> bn.Forward(Tensor.Zeros([| 2; 3; 2; 2 |], DType.Float64)))
                  [ "float64"; "float32" ]

              throwsWith<OpArgumentException, _> (fun () -> BatchNorm1d(3, momentum = 1.5)) [ "momentum" ]
          }
          test
              "under DataParallel every chunk is normalised by its own batch and the first device's updates the running statistics" {
              let bn = BatchNorm1d(2, dtype = DType.Float64)
              let dp = Distributed.DataParallel(bn, [| Device.Cpu; Device.Simulated 0 |])
              let x = [| 1.0; 2.0; 3.0; 6.0; -1.0; 0.0; 5.0; 4.0 |]
              let y = dp.Forward(Tensor.FromArray(x, [| 4; 2 |]))
              // chunk k is rows 2k, 2k + 1; per channel: (v − mean)/√(biased var + ε)
              let norm (a: float) (b: float) =
                  let m, v = (a + b) / 2.0, ((a - b) / 2.0) ** 2.0 in
                  (a - m) / sqrt (v + 1e-5), (b - m) / sqrt (v + 1e-5)

              let expected =
                  [| for k in 0..1 do
                         let r0, r1 = k * 4, k * 4 + 2
                         let a0, b0 = norm x.[r0] x.[r1]
                         let a1, b1 = norm x.[r0 + 1] x.[r1 + 1]
                         yield! [ a0; a1; b0; b1 ] |]

              near 1e-12 expected (y.To Device.Cpu) "outputs"
              // running ← 0.9·running + 0.1·(first chunk's mean, unbiased variance)
              near 1e-15 [| 0.1 * 2.0; 0.1 * 4.0 |] bn.RunningMean.Value "running mean from the first chunk"
              near 1e-15 [| 0.9 + 0.1 * 2.0; 0.9 + 0.1 * 8.0 |] bn.RunningVar.Value "running var from the first chunk"
              Expect.equal (bn.NumBatchesTracked.Value.Item<int64>()) 1L "one batch tracked"
          } ]
