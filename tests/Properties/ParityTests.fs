/// Issue 15's sampling ops (seeded, with the frequencies their distributions promise, within
/// five standard errors), torch.autograd.backward over several outputs, and the C#
/// Function-style custom op with saved tensors.
module Cotangent.Tests.ParityTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

/// A custom op as a C# user writes it: y = x·w (elementwise), saving both for the backward.
type private Scale() =
    inherit Function()

    override _.Forward(ctx, inputs) =
        ctx.SaveForBackward(inputs.[0], inputs.[1])
        inputs.[0] * inputs.[1]

    override _.Backward(ctx, g) =
        let x, w = ctx.SavedTensors.[0], ctx.SavedTensors.[1]

        [| (if ctx.NeedsInputGrad.[0] then g * w else null)
           (if ctx.NeedsInputGrad.[1] then g * x else null) |]

let private sampling =
    testList
        "sampling"
        [ test "bernoulli and multinomial draw their frequencies" {
              let n = 20000
              let p = 0.3
              let draws = Tensor.Full([| n |], p, DType.Float64).Bernoulli(Generator 1UL)
              let mean = Array.average (values draws)
              Expect.isLessThan (abs (mean - p)) (5.0 * sqrt (p * (1.0 - p) / float n)) "bernoulli's mean"
              let w = f64 [ 1.0; 0.0; 3.0 ]
              let picks = w.Multinomial(n, true, Generator 2UL).ToArray<int64>()
              Expect.isFalse (picks |> Array.contains 1L) "a zero weight is never drawn"
              let share = float (picks |> Array.filter ((=) 2L) |> Array.length) / float n
              Expect.isLessThan (abs (share - 0.75)) (5.0 * sqrt (0.75 * 0.25 / float n)) "weight 3 of 4"

              let without =
                  (f64 [ 1.0; 2.0; 3.0; 4.0 ]).Multinomial(4, false, Generator 3UL).ToArray<int64>()

              Expect.equal (Array.sort without) [| 0L; 1L; 2L; 3L |] "without replacement, each once"
              throwsWith<OpArgumentException, _> (fun () -> w.Multinomial(3)) [ "multinomial"; "2 positive weights" ]
          }
          test "normal and uniform with tensor parameters, reparameterised" {
              let n = 20000

              let mean, std =
                  Tensor.Full([| n |], 2.0, DType.Float64).RequireGrad(),
                  Tensor.Full([| n |], 0.5, DType.Float64).RequireGrad()

              let x = Tensor.Normal(mean, std, Generator 4UL)
              let v = values x
              let m = Array.average v
              Expect.isLessThan (abs (m - 2.0)) (5.0 * 0.5 / sqrt (float n)) "mean"
              let sd = sqrt (v |> Array.averageBy (fun a -> (a - m) ** 2.0))
              Expect.isLessThan (abs (sd - 0.5)) 0.02 "standard deviation"
              x.Sum().Backward()
              Expect.isTrue (values mean.Grad |> Array.forall ((=) 1.0)) "∂/∂mean = 1"
              // ∂x/∂std = ε = (x − mean)/std
              near 1e-12 (v |> Array.map (fun a -> (a - 2.0) / 0.5)) std.Grad "∂/∂std = ε"

              let u =
                  values (
                      Tensor.Uniform(
                          Tensor.Full([| n |], -1.0, DType.Float64),
                          Tensor.Full([| n |], 3.0, DType.Float64),
                          Generator 5UL
                      )
                  )

              Expect.isTrue (u |> Array.forall (fun a -> a >= -1.0 && a < 3.0)) "inside [low, high)"
              Expect.isLessThan (abs (Array.average u - 1.0)) (5.0 * 4.0 / sqrt (12.0 * float n)) "uniform's mean"
          }
          test "randperm is a permutation, and seeds repeat" {
              let p = Tensor.Randperm(50, Generator 6UL).ToArray<int64>()
              Expect.equal (Array.sort p) [| 0L .. 49L |] "a permutation"
              Expect.equal (Tensor.Randperm(50, Generator 6UL).ToArray<int64>()) p "the same seed, the same permutation"
              Expect.notEqual (Tensor.Randperm(50, Generator 7UL).ToArray<int64>()) p "another seed, another one"
          } ]

let private autograd =
    testList
        "autograd parity"
        [ test "Autograd.Backward adds Σ Jₖᵀvₖ over several outputs" {
              let x = (f64 [ 1.0; 2.0 ]).RequireGrad()
              let a = x * x
              let b = (x * 3.0).Sum()
              Autograd.Backward([| a; b |], [| f64 [ 1.0; 0.5 ]; null |])
              // ∂/∂x of ⟨(1, 0.5), x²⟩ + 3·Σx = (2·1·1 + 3, 2·2·0.5 + 3)
              near 1e-15 [| 5.0; 5.0 |] x.Grad "gradient"

              throwsWith<InvalidOperationException, _>
                  (fun () -> Autograd.Backward([| x * x |]))
                  [ "backward"; "scalar" ]
          }
          test "a Function-style custom op with saved tensors" {
              let x, w = (f64 [ 1.0; -2.0 ]).RequireGrad(), (f64 [ 3.0; 4.0 ]).RequireGrad()
              let y = Scale().Apply(x, w)
              near 0.0 [| 3.0; -8.0 |] y "forward"
              (y * y).Sum().Backward()
              // ∂Σ(xw)²/∂x = 2xw·w, /∂w = 2xw·x
              near 1e-15 [| 18.0; -64.0 |] x.Grad "∂/∂x"
              near 1e-15 [| 6.0; 32.0 |] w.Grad "∂/∂w"
              Expect.equal y.GradFn.Name "scale" "named after the class"
          } ]

let tests = testList "pytorch parity" [ sampling; autograd ]
