/// Issue 15's elementwise ops against what PyTorch documents: the examples printed in its docs
/// (fmod, remainder, round), the formulas its docs give for each activation (evaluated here by
/// plain loops over a grid), and the edge cases its docs promise (log1p and expm1 near 0,
/// hypot without overflow, clamp with min > max, nan_to_num's defaults). The gradients are the
/// property suite's (OpCases); here it is the values.
module Cotangent.Tests.ElementwiseTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

/// x from −6 to 6 in steps of 1/16, with 0 and the kinks on it.
let private grid = Array.init 193 (fun i -> -6.0 + float i / 16.0)

let private sigma x = 1.0 / (1.0 + exp -x)

let private softplus x =
    Math.Max(x, 0.0) + Math.Log(1.0 + exp (-(abs x)))

/// torch.nn.functional's formulas, as its docs state them.
let private formulas: (string * (Tensor -> Tensor) * (float -> float)) list =
    [ "silu", (fun x -> x.Silu()), (fun x -> x * sigma x)
      "mish", (fun x -> x.Mish()), (fun x -> x * tanh (softplus x))
      "logsigmoid", (fun x -> x.LogSigmoid()), (fun x -> -(softplus -x))
      "leaky_relu 0.1", (fun x -> x.LeakyRelu 0.1), (fun x -> if x >= 0.0 then x else 0.1 * x)
      "elu 1.3", (fun x -> x.Elu 1.3), (fun x -> if x > 0.0 then x else 1.3 * (exp x - 1.0))
      "selu",
      (fun x -> x.Selu()),
      (fun x ->
          1.0507009873554804934193349852946
          * (Math.Max(0.0, x)
             + Math.Min(0.0, 1.6732632423543772848170429916717 * (exp x - 1.0))))
      "hardtanh",
      (fun x -> x.Hardtanh()),
      (fun x ->
          if x > 1.0 then 1.0
          elif x < -1.0 then -1.0
          else x)
      "hardsigmoid",
      (fun x -> x.Hardsigmoid()),
      (fun x ->
          if x <= -3.0 then 0.0
          elif x >= 3.0 then 1.0
          else x / 6.0 + 0.5)
      "hardswish",
      (fun x -> x.Hardswish()),
      (fun x ->
          if x <= -3.0 then 0.0
          elif x >= 3.0 then x
          else x * (x + 3.0) / 6.0)
      "relu6", (fun x -> x.Relu6()), (fun x -> Math.Min(Math.Max(0.0, x), 6.0))
      "softsign", (fun x -> x.Softsign()), (fun x -> x / (1.0 + abs x))
      "gelu tanh",
      (fun x -> x.Gelu "tanh"),
      (fun x ->
          0.5
          * x
          * (1.0 + tanh (sqrt (2.0 / Math.PI) * (x + 0.044715 * Math.Pow(x, 3.0)))))
      "log1p", (fun x -> (x.Abs() * 0.5).Log1p()), (fun x -> Math.Log(1.0 + abs x * 0.5))
      "expm1", (fun x -> x.Expm1()), (fun x -> exp x - 1.0)
      "tan", (fun x -> (x / 6.0).Tan()), (fun x -> tan (x / 6.0))
      "asin", (fun x -> (x / 6.0).Asin()), (fun x -> asin (x / 6.0))
      "acos", (fun x -> (x / 6.0).Acos()), (fun x -> acos (x / 6.0))
      "atan", (fun x -> x.Atan()), atan
      "sinh", (fun x -> x.Sinh()), sinh
      "cosh", (fun x -> x.Cosh()), cosh ]

let private documented =
    testList
        "PyTorch's documented examples"
        [ test "fmod keeps the dividend's sign" {
              // torch.fmod docs: fmod([-3., -2, -1, 1, 2, 3], 2) and fmod([1., 2, 3, 4, 5], -1.5)
              let a = f64 [ -3.0; -2.0; -1.0; 1.0; 2.0; 3.0 ]
              let y = Tensor.Fmod(a, 2.0)
              near 0.0 [| -1.0; -0.0; -1.0; 1.0; 0.0; 1.0 |] y "fmod by 2"
              Expect.isTrue (Double.IsNegative (values y).[1]) "fmod(-2, 2) is -0, as C's fmod"
              near 0.0 [| 1.0; 0.5; 0.0; 1.0; 0.5 |] (Tensor.Fmod(f64 [ 1.0; 2.0; 3.0; 4.0; 5.0 ], -1.5)) "fmod by -1.5"
          }
          test "remainder takes the divisor's sign" {
              // torch.remainder docs: remainder([-3., -2, -1, 1, 2, 3], 2) and remainder([1, 2, 3, 4, 5], -1.5)
              near
                  0.0
                  [| 1.0; 0.0; 1.0; 1.0; 0.0; 1.0 |]
                  (Tensor.Remainder(f64 [ -3.0; -2.0; -1.0; 1.0; 2.0; 3.0 ], 2.0))
                  "remainder by 2"

              let ints = Tensor.FromArray([| 1L; 2L; 3L; 4L; 5L |], [| 5 |])
              let y = Tensor.Remainder(ints, -1.5)
              Expect.equal y.DType DType.Float32 "an int64 tensor by a fraction is float32"
              near 1e-7 [| -0.5; -1.0; 0.0; -0.5; -1.0 |] (y.To DType.Float64) "remainder by -1.5"
          }
          test "int64 fmod and remainder stay int64 and match C and Python" {
              let a = Tensor.FromArray([| -7L; -6L; -1L; 0L; 5L; 7L |], [| 6 |])
              let b = Tensor.FromArray([| 3L; -4L; 3L; 2L; -3L; -3L |], [| 6 |])
              let f = Tensor.Fmod(a, b)
              let r = Tensor.Remainder(a, b)
              Expect.equal f.DType DType.Int64 "fmod dtype"
              Expect.equal (f.ToArray<int64>()) [| -1L; -2L; -1L; 0L; 2L; 1L |] "fmod: C's %"
              Expect.equal (r.ToArray<int64>()) [| 2L; -2L; 2L; 0L; -1L; -2L |] "remainder: Python's %"

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Fmod(a, Tensor.FromArray([| 0L |], [| 1 |])))
                  [ "fmod"; "division by zero" ]
          }
          test "round halves to even" {
              // torch.round docs: round([4.7, -2.3, 9.1, -7.7]) and round([-0.5, 0.5, 1.5, 2.5])
              near 0.0 [| 5.0; -2.0; 9.0; -8.0 |] ((f64 [ 4.7; -2.3; 9.1; -7.7 ]).Round()) "round"
              near 0.0 [| -0.0; 0.0; 2.0; 2.0 |] ((f64 [ -0.5; 0.5; 1.5; 2.5 ]).Round()) "ties"
              let ints = Tensor.FromArray([| -3L; 4L |], [| 2 |])
              Expect.equal ((ints.Floor()).ToArray<int64>()) [| -3L; 4L |] "integers are their own floor"
          }
          test "atan2 puts each quadrant's angle in (−π, π]" {
              let y =
                  Tensor.Atan2(f64 [ 1.0; 1.0; -1.0; -1.0; 0.0 ], f64 [ 1.0; -1.0; -1.0; 1.0; -1.0 ])

              near
                  1e-15
                  [| Math.PI / 4.0
                     3.0 * Math.PI / 4.0
                     -3.0 * Math.PI / 4.0
                     -Math.PI / 4.0
                     Math.PI |]
                  y
                  "atan2"
          } ]

let private formulaTests =
    testList
        "activation formulas of torch.nn.functional"
        [ for name, f, g in formulas do
              yield
                  test name {
                      let x = Tensor.FromArray(grid, [| grid.Length |])
                      near 1e-13 (Array.map g grid) (f x) name
                      // float32 to float32 precision of the same formula
                      let y32 = (f (x.To DType.Float32)).To DType.Float64
                      near 2e-6 (Array.map g grid) y32 (name + " in float32")
                  } ]

let private edges =
    testList
        "edge cases"
        [ test "log1p and expm1 keep the digits of tiny arguments" {
              let tiny = f64 [ 1e-20; -3e-17; 1e-10 ]
              // log(1 + x) = x − x²/2 + …, eˣ − 1 = x + x²/2 + …
              near 1e-15 [| 1e-20; -3e-17; 1e-10 - 5e-21 |] (tiny.Log1p()) "log1p"
              near 1e-15 [| 1e-20; -3e-17; 1e-10 + 5e-21 |] (tiny.Expm1()) "expm1"
              Expect.equal (values ((f64 [ infinity; -1.0 ]).Log1p())) [| infinity; -infinity |] "log1p at ∞ and −1"
              Expect.equal (values ((f64 [ infinity; -infinity ]).Expm1())) [| infinity; -1.0 |] "expm1 at ±∞"
          }
          test "hypot does not overflow or underflow in its squares" {
              near
                  1e-15
                  [| sqrt 2.0 * 1e200; 5e-200 |]
                  (Tensor.Hypot(f64 [ 1e200; 3e-200 ], f64 [ 1e200; 4e-200 ]))
                  "hypot"
          }
          test "clamp: min above max gives max, NaN stays NaN, a missing bound is not applied" {
              let x = f64 [ -2.0; 0.5; 3.0; nan ]
              let y = values (x.Clamp(1.0, 0.0))
              Expect.equal y.[0..2] [| 0.0; 0.0; 0.0 |] "min > max"
              Expect.isTrue (Double.IsNaN y.[3]) "NaN propagates"
              Expect.equal (values (x.Clamp(min = 0.0))).[0..2] [| 0.0; 0.5; 3.0 |] "min only"
              let ints = Tensor.FromArray([| -5L; 0L; 5L |], [| 3 |])
              let ci = ints.Clamp(-1.0, 2.0)
              Expect.equal ci.DType DType.Int64 "whole bounds keep int64"
              Expect.equal (ci.ToArray<int64>()) [| -1L; 0L; 2L |] "int clamp"
              throwsWith<OpArgumentException, _> (fun () -> x.Clamp()) [ "clamp"; "at least one" ]
          }
          test "clamp's cotangent reaches x inside the bounds and a tensor bound where it was picked" {
              let x = (f64 [ -2.0; 0.0; 2.0 ]).RequireGrad()
              let lo = (f64 [ -1.0; -1.0; -1.0 ]).RequireGrad()
              let hi = (f64 [ 1.0; 1.0; 1.0 ]).RequireGrad()
              x.Clamp(lo, hi).Sum().Backward()
              Expect.equal (values x.Grad) [| 0.0; 1.0; 0.0 |] "x"
              Expect.equal (values lo.Grad) [| 1.0; 0.0; 0.0 |] "min"
              Expect.equal (values hi.Grad) [| 0.0; 0.0; 1.0 |] "max"
          }
          test "elu's gradient stays finite where eˣ would overflow" {
              let x = (f64 [ 1000.0; -1000.0 ]).RequireGrad()
              x.Elu().Sum().Backward()
              Expect.equal (values x.Grad) [| 1.0; 0.0 |] "elu'"
              let y = (Tensor.FromArray([| -200.0f |], [| 1 |])).LogSigmoid()
              Expect.equal (y.ToArray<float32>()) [| -200.0f |] "logsigmoid(−200) in float32 is −200, not −∞"
          }
          test "nan_to_num defaults to 0 and the dtype's largest finite values" {
              let y = (Tensor.FromArray([| nan; infinity; -infinity; 1.5 |], [| 4 |])).NanToNum()
              Expect.equal (values y) [| 0.0; Double.MaxValue; -Double.MaxValue; 1.5 |] "float64"

              let z =
                  (Tensor.FromArray([| nan; infinity; -infinity |], [| 3 |])).To(DType.Float32).NanToNum()

              Expect.equal (z.ToArray<float32>()) [| 0.0f; Single.MaxValue; -Single.MaxValue |] "float32"
          }
          test "logical ops read nonzero as true and return masks" {
              let a = f64 [ 0.0; 0.0; 2.0; -1.0 ]
              let b = Tensor.FromArray([| 0L; 3L; 0L; 1L |], [| 4 |])
              let bools (t: Tensor) = t.ToArray<bool>()
              Expect.equal (bools (Tensor.LogicalAnd(a, b))) [| false; false; false; true |] "and"
              Expect.equal (bools (Tensor.LogicalOr(a, b))) [| false; true; true; true |] "or"
              Expect.equal (bools (Tensor.LogicalXor(a, b))) [| false; true; true; false |] "xor"
              Expect.equal (bools (a.LogicalNot())) [| true; true; false; false |] "not"
          }
          test "gelu refuses an unknown approximation by name" {
              throwsWith<OpArgumentException, _> (fun () -> (f64 [ 1.0 ]).Gelu "erf") [ "gelu"; "\"none\" or \"tanh\"" ]
          }
          test "F#'s built-in floor, ceil, round, truncate, tan, atan and atan2 apply to tensors" {
              let x = f64 [ -1.5; 0.25; 2.5 ]
              Expect.equal (values (floor x)) [| -2.0; 0.0; 2.0 |] "floor"
              Expect.equal (values (ceil x)) [| -1.0; 1.0; 3.0 |] "ceil"
              Expect.equal (values (round x)) [| -2.0; 0.0; 2.0 |] "round"
              Expect.equal (values (truncate x)) [| -1.0; 0.0; 2.0 |] "truncate"
              near 1e-15 (Array.map tan [| -1.5; 0.25; 2.5 |]) (tan x) "tan"
              near 1e-15 (Array.map atan [| -1.5; 0.25; 2.5 |]) (atan x) "atan"
              near 1e-15 [| atan2 -1.5 2.0; atan2 0.25 2.0; atan2 2.5 2.0 |] (atan2 x (f64 [ 2.0; 2.0; 2.0 ])) "atan2"
          } ]

let tests = testList "elementwise (issue 15)" [ documented; formulaTests; edges ]
