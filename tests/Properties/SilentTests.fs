/// No silent wrong answers: where a result cannot be right (a NaN's gradient, an optimizer
/// step that fails half way, a recycled tensor, a dtype that would truncate), the library
/// raises or answers exactly; and every public entry point refuses a null argument by name.
module Cotangent.Tests.SilentTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Testing
open Cotangent.Testing.OpCases
open Cotangent.Tests.Check

/// SGD with a running sum of gradients as state, whose update can be made to fail at one parameter.
type private FailingSgd(ps: Parameter list) =
    inherit Optimizer(ps, 0.1)
    let sums: Tensor[] = Array.zeroCreate ps.Length
    member val FailAt = -1 with get, set

    override this.Update(i, p, g) =
        sums.[i] <- (if isNull sums.[i] then g else sums.[i] + g)

        if i = this.FailAt then
            invalidOp "update failed on purpose"

        p - g * 0.1

    override _.Buffers() = seq { struct ("sum", sums) }

let silentWrongAnswers =
    testList
        "no silent wrong answer"
        [ test "a C# number beside an int64 or bool tensor never wraps: beyond int64 it promotes to float32" {
              let big = Tensor.From(1L, 2L, 3L) + 1e19
              Expect.equal big.DType DType.Float32 "float32, not a wrapped int64"

              Expect.equal
                  (big.ToArray<float>() |> Array.map (fun v -> Math.Round(v / 1e19, 6)))
                  [| 1.0; 1.0; 1.0 |]
                  "1e19 + small"

              Expect.isFalse (Tensor.From(Int64.MaxValue).Eq(1e30).Item<bool>()) "no saturated equality"
              Expect.equal ((Tensor.From(true) + 1e30).DType) DType.Float32 "bool + 1e30"
              Expect.equal ((Tensor.From(2L) * 3.0).DType) DType.Int64 "a whole number keeps int64"
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Full([| 2 |], nan, DType.Int64)) [ "full:"; "int64" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Full([| 2 |], 2.5, DType.Int64)) [ "full:" ]
          }
          test "a dtype that is not one of the four is refused, not read as bool" {
              let bad = enum<DType> 7
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Zeros([| 2 |], bad)) [ "zeros:"; "not a dtype" ]
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Zeros(2).To(bad)) [ "cast:" ]
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Arange(0.0, 3.0, 1.0, bad)) [ "arange:" ]
          }
          test "prod's derivatives at zeros, to any order: jvp, createGraph, Hessian" {
              let x = f64 [ 0.0; 2.0; 3.0 ]
              let prod = Func<Tensor, Tensor>(fun x -> x.Prod())
              let struct (_, t0) = Autograd.Jvp(prod, x, f64 [ 1.0; 0.0; 0.0 ])
              Expect.equal (t0.Item<float>()) 6.0 "∂/∂x₀ = x₁x₂"
              let struct (_, t1) = Autograd.Jvp(prod, x, f64 [ 0.0; 1.0; 0.0 ])
              Expect.equal (t1.Item<float>()) 0.0 "∂/∂x₁ = x₀x₂ = 0"
              let l = x.Detach().RequireGrad()
              l.Prod().Backward(createGraph = true)
              near 0.0 [| 6.0; 0.0; 0.0 |] l.Grad "the first derivative, recorded"
              // H_ij = ∏_{k ≠ i, j} x_k off the diagonal, 0 on it
              near 0.0 [| 0.0; 3.0; 2.0; 3.0; 0.0; 0.0; 2.0; 0.0; 0.0 |] (Autograd.Hessian(prod, x)) "the Hessian"
              let twoZeros = f64 [ 0.0; 0.0; 5.0 ]
              near 0.0 [| 0.0; 5.0; 0.0; 5.0; 0.0; 0.0; 0.0; 0.0; 0.0 |] (Autograd.Hessian(prod, twoZeros)) "two zeros"
          }
          test "pow's gradients at a zero base are PyTorch's, not NaN" {
              let g =
                  Autograd.Grad(Func<_, _>(fun (e: Tensor) -> (f64 [ 0.0; 2.0 ]).Pow(e).Sum()), f64 [ 2.0; 1.0 ])

              near 1e-12 [| 0.0; log 2.0 * 2.0 |] g "∂/∂b aᵇ = 0 where a = 0, b ≥ 0"

              let gb =
                  Autograd.Grad(Func<_, _>(fun (a: Tensor) -> a.Pow(f64 [ 0.0; 0.0 ]).Sum()), f64 [ 0.0; 3.0 ])

              near 0.0 [| 0.0; 0.0 |] gb "∂/∂a a⁰ = 0, also at a = 0"
          }
          test "max, min, maximum and minimum give a NaN its cotangent, as they give it the value" {
              let x = f64 [ nan; 1.0 ]
              near 0.0 [| 1.0; 0.0 |] (Autograd.Grad(Func<_, _>(fun (x: Tensor) -> x.Max()), x)) "max"
              near 0.0 [| 1.0; 0.0 |] (Autograd.Grad(Func<_, _>(fun (x: Tensor) -> x.Min()), x)) "min"

              let g =
                  Autograd.Grad(Func<_, _>(fun (a: Tensor) -> Tensor.Maximum(a, f64 [ 0.0; 0.0 ]).Sum()), x)

              near 0.0 [| 1.0; 1.0 |] g "maximum: the NaN side, then the larger"
          }
          test "seeds and set gradients take the parameter's dtype; an int or bool one is refused" {
              let x = (Tensor.From(1.0f, 2.0f)).RequireGrad()

              throwsWith<DTypeMismatchException, _>
                  (fun () -> (x * 2.0).Backward(Tensor.From(1L, 1L)))
                  [ "backward:"; "int64" ]

              throwsWith<DTypeMismatchException, _>
                  (fun () -> x.Backward(Tensor.From(true, true)))
                  [ "backward:"; "bool" ]

              (x * 2.0).Backward(Tensor.From(1.0, 1.0))
              Expect.equal x.Grad.DType DType.Float32 "a float64 seed is cast to the output's float32"
              let p = Parameter(Tensor.Zeros 2)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> p.SetGrad(Tensor.Zeros([| 2 |], DType.Float64)))
                  [ "set_grad:"; "float64" ]
          }
          test "an optimizer step that fails changes nothing: parameters, state, step count" {
              let a, b = Parameter(Tensor.Ones 2), Parameter(Tensor.Ones 2)
              let opt = FailingSgd([ a; b ])
              a.SetGrad(Tensor.Ones 2)
              b.SetGrad(Tensor.Ones 2)
              opt.Step()

              let snapshot () =
                  values a.Value,
                  values b.Value,
                  opt.StepCount,
                  [ for kv in opt.StateDict() -> kv.Key, values kv.Value ]

              let before = snapshot ()
              // the update of the second parameter fails after the first one's was computed
              opt.FailAt <- 1
              Expect.throwsT<InvalidOperationException> (fun () -> opt.Step()) "the failure surfaces"
              Expect.equal (snapshot ()) before "parameters, state and step count as before"
              opt.FailAt <- -1
              opt.Step()
              Expect.equal opt.StepCount 2L "and the next step counts from there"
          }
          test
              "optimizer state keys must be spelled as StateDict writes them; buffers come together; the step cannot overflow" {
              let p = Parameter(Tensor.Ones 2)
              let opt = Adam([ p ], 0.1)
              p.SetGrad(Tensor.Ones 2)
              opt.Step()
              let st = opt.StateDict()

              let withKeys (rename: string -> string) =
                  readOnlyDict [ for kv in st -> rename kv.Key, kv.Value ]

              for odd in [ "+0.exp_avg"; " 0.exp_avg"; "00.exp_avg" ] do
                  throwsWith<StateDictMismatchException, _>
                      (fun () -> opt.LoadStateDict(withKeys (fun k -> if k = "0.exp_avg" then odd else k)))
                      [ "unexpected"; odd ]

              let partial =
                  readOnlyDict
                      [ for kv in st do
                            if kv.Key <> "0.exp_avg_sq" then
                                kv.Key, kv.Value ]

              throwsWith<StateDictMismatchException, _>
                  (fun () -> opt.LoadStateDict partial)
                  [ "parameter 0 has exp_avg but not exp_avg_sq" ]

              let atMax =
                  readOnlyDict
                      [ for kv in st ->
                            kv.Key,
                            (if kv.Key = "step" then
                                 Tensor.From(Int64.MaxValue)
                             else
                                 kv.Value) ]

              throwsWith<StateDictMismatchException, _> (fun () -> opt.LoadStateDict atMax) [ "'step'" ]
          }
          test "layer_norm's gamma and beta must have the normalised shape" {
              let x = Tensor.Zeros(2, 3)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.LayerNorm(x, 1, Tensor.Ones(5, 2, 3)))
                  [ "layer_norm:"; "gamma"; "[5, 2, 3]"; "[3]" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.LayerNorm(x, 1, beta = Tensor.Zeros(7, 1, 1)))
                  [ "beta" ]

              throwsWith<ShapeMismatchException, _> (fun () -> Tensor.LayerNorm(x, 1, Tensor.Ones 1)) [ "gamma"; "[1]" ]
          }
          test "DataLoader counts batches without overflow; Init.Uniform's bound never overflows" {
              let dl = DataLoader(Tensor.Zeros(5, 2), Tensor.Zeros 5, Int32.MaxValue)
              Expect.equal dl.Count 1 "one batch"
              Expect.equal (Seq.length dl) 1 "and one is yielded"
              let u = Init.Uniform([| 1000 |], 1e308, DType.Float64)

              Expect.isTrue
                  (values u |> Array.forall (fun v -> Double.IsFinite v && abs v <= 1e308))
                  "finite, within the bound"

              throwsWith<OpArgumentException, _> (fun () -> Init.Uniform([| 2 |], 1e308)) [ "float32" ]
          }
          test "a recycled tensor is refused where it would be stored, not at its first use" {
              let dead =
                  use _ = Tensor.Scope()
                  Tensor.Ones 300 * 2.0

              Expect.throwsT<ObjectDisposedException> (fun () -> Parameter(dead) |> ignore) "parameter"
              Expect.throwsT<ObjectDisposedException> (fun () -> DataLoader(dead, dead, 2) |> ignore) "data loader"
              let l = Linear(300, 1)
              let state = readOnlyDict [ "weight", dead.Reshape(1, 300); "bias", Tensor.Zeros 1 ]
              throwsWith<StateDictMismatchException, _> (fun () -> l.LoadStateDict state) [ "recycled" ]
          }
          test "layers check their settings when made: pooling kernels, dropout p" {
              throwsWith<OpArgumentException, _> (fun () -> MaxPool2d(0) |> ignore) [ "max_pool2d:" ]
              throwsWith<OpArgumentException, _> (fun () -> AvgPool2d(-3) |> ignore) [ "avg_pool2d:" ]
              throwsWith<OpArgumentException, _> (fun () -> Dropout(2.0) |> ignore) [ "dropout:" ]
              throwsWith<OpArgumentException, _> (fun () -> Dropout(nan) |> ignore) [ "dropout:" ]
          }
          test "edge sizes PyTorch allows: conv2d with no output channels, dropout p = 1, splitting an empty axis" {
              let y = Conv2d(1, 0, 2).Forward(Tensor.Zeros(1, 1, 4, 4))
              Expect.equal y.Shape [| 1; 0; 3; 3 |] "no channels out"
              // its weight gradient is empty too (the direct kernel once read g's first channel here)
              let dw =
                  Tensor.Conv2dWeightGrad(Tensor.Zeros(2, 0, 3, 3), Tensor.Ones(2, 1, 4, 4), 2, 2)

              Expect.equal dw.Shape [| 0; 1; 2; 2 |] "no weights, no gradient"
              let x = (Tensor.Ones 4).RequireGrad()
              let d = x.Dropout 1.0
              Expect.equal (d.ToArray<float32>()) [| 0.0f; 0.0f; 0.0f; 0.0f |] "all dropped"
              d.Sum().Backward()
              Expect.equal (x.Grad.ToArray<float32>()) [| 0.0f; 0.0f; 0.0f; 0.0f |] "and no gradient"
              Expect.equal (Tensor.Zeros(0).Split(2) |> Array.map (fun t -> t.Shape)) [| [| 0 |] |] "one empty piece"
          }
          test "a schedule that would make a bad rate refuses and stays at its epoch" {
              let opt = Sgd(Linear(2, 1).Parameters(), 0.1)
              let s = StepLr(opt, 1, gamma = 1e200)
              s.Step()
              throwsWith<InvalidOperationException, _> (fun () -> s.Step()) [ "steplr"; "epoch 2" ]
              Expect.equal s.Epoch 1 "still epoch 1"
              Expect.equal opt.LearningRate (0.1 * 1e200) "the last good rate"
          }
          test "empty tensors with huge axes print and reduce without allocating gigabytes" {
              let e = Tensor.Zeros(Int32.MaxValue, 0)
              Expect.stringContains (string e) "tensor([], shape=[2147483647, 0]" "printed"
              throwsWith<OpArgumentException, _> (fun () -> e.Sum 1) [ "sum:"; "more than one buffer" ]
          } ]

let nullArguments =
    let x = Tensor.Ones 3
    let nul: Tensor = null

    let calls: (string * (unit -> obj)) list =
        [ "add", (fun () -> box (Tensor.Add(nul, x)))
          "mul", (fun () -> box (nul * 2.0))
          "div", (fun () -> box (Tensor.Div(nul, x)))
          "maximum", (fun () -> box (Tensor.Maximum(x, nul)))
          "where", (fun () -> box (Tensor.Where(nul, x, x)))
          "matmul", (fun () -> box (Tensor.MatMul(x, nul)))
          "linear", (fun () -> box (Tensor.Linear(nul, Tensor.Ones(2, 3))))
          "conv2d", (fun () -> box (Tensor.Conv2d(Tensor.Ones(1, 1, 3, 3), nul)))
          "cross_entropy", (fun () -> box (Tensor.CrossEntropy(nul, Tensor.From 0L)))
          "mse_loss", (fun () -> box (Tensor.MseLoss(x, nul)))
          "layer_norm", (fun () -> box (Tensor.LayerNorm(nul, 1)))
          "index_select", (fun () -> box (x.IndexSelect(0, nul)))
          "slice_scatter", (fun () -> box (Tensor.SliceScatter(nul, [| 3 |], 0, 0)))
          "zeros_like", (fun () -> box (Tensor.ZerosLike nul))
          "from_array", (fun () -> box (Tensor.From(null: float[])))
          "grad", (fun () -> box (Autograd.Grad(Func<_, _>(fun (t: Tensor) -> t.Sum()), nul)))
          "jvp", (fun () -> box (Autograd.Jvp(Func<_, _>(fun (t: Tensor) -> t), x, nul)))
          "hvp", (fun () -> box (Autograd.Hvp(Func<_, _>(fun (t: Tensor) -> t.Sum()), x, nul)))
          "parameter", (fun () -> box (Parameter(nul)))
          "load_state_dict", (fun () -> box (Linear(2, 1).LoadStateDict(null)))
          "optimizer", (fun () -> box (Sgd(null, 0.1)))
          "data_loader", (fun () -> box (DataLoader(nul, x, 2)))
          "clip_grad_norm", (fun () -> box (GradClip.ClipGradNorm(null, 1.0)))
          "linear", (fun () -> box (Linear(3, 1).Forward nul))
          "relu", (fun () -> box (ReLU().Forward nul))
          "checkpoint", (fun () -> box (Cotangent.Io.Checkpoint.Save("/tmp/x.safetensors", null))) ]

    testList
        "null arguments"
        [ test "each is refused by the call that got it, never a NullReferenceException" {
              for name, call in calls do
                  match attempt call with
                  | None -> failtestf "%s accepted a null" name
                  | Some(:? NullReferenceException as e) ->
                      failtestf "%s: a raw NullReferenceException\n%s" name e.StackTrace
                  | Some e when not (e :? ArgumentException) -> failtestf "%s: %s: %s" name (e.GetType().Name) e.Message
                  | Some e -> Expect.stringContains e.Message (name + ":") (sprintf "%s names itself" name)
          } ]

let tests = testList "no silent wrong answers" [ silentWrongAnswers; nullArguments ]
