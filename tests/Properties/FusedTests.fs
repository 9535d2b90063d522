/// The fused kernels of issue 14 (one pass where a composition took many) against references
/// written here: tables of erf and Φ, plain loops, and the compositions they replace.
module Cotangent.Tests.FusedTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

/// x from −12 to 12 in steps of 1/1024: both polynomial pieces, their seam at |x/√2| = 1, and the far tail.
let private grid = Array.init (24 * 1024 + 1) (fun i -> -12.0 + float i / 1024.0)

let private f32 (xs: float[]) =
    Tensor.FromArray(Array.map float32 xs, [| xs.Length |])

let private read32 (t: Tensor) = t.ToArray<float32>() |> Array.map float

/// Largest |a − b| / (|b| + floor) over the grid.
let private worst (floor: float) (a: float[]) (b: float[]) =
    Array.map2 (fun x y -> abs (x - y) / (abs y + floor)) a b |> Array.max

let gauss =
    testList
        "gauss"
        [ test "float32 erf and Φ match tables" {
              // Abramowitz & Stegun table 7.1 and 26.1 values
              let erf = read32 ((f32 [| 0.5; 1.0; 2.0; -1.5 |]).Erf())

              near
                  2e-7
                  [| 0.5204998778130465
                     0.8427007929497149
                     0.9953222650189527
                     -0.9661051464753108 |]
                  (Tensor.FromArray(erf, [| 4 |]))
                  "erf"
              // gelu(x) = x·Φ(x); Φ(−5) = 2.866515718791939e−7 and Φ(−3) = 1.3498980316300946e−3
              let g = read32 ((f32 [| -5.0; -3.0 |]).Gelu())
              let expected = [| -5.0 * 2.866515718791939e-7; -3.0 * 1.3498980316300946e-3 |]

              for i in 0..1 do
                  Expect.isLessThan
                      (abs (g.[i] - expected.[i]) / abs expected.[i])
                      1e-5
                      $"gelu tail at {i}: {g.[i]} vs {expected.[i]}"
          }
          test "float32 erf, gelu and gelu_backward agree with float64 over [−12, 12]" {
              let x64 = Tensor.FromArray(grid, [| grid.Length |])
              let x32 = f32 grid
              let g = Array.init grid.Length (fun i -> 0.5 + float (i % 7) / 4.0)
              let g64, g32 = Tensor.FromArray(g, [| g.Length |]), f32 g
              let erfErr = worst 1e-30 (read32 (x32.Erf())) (values (x64.Erf()))
              let geluErr = worst 1e-30 (read32 (x32.Gelu())) (values (x64.Gelu()))

              let backErr =
                  worst 1e-3 (read32 (Tensor.GeluBackward(g32, x32))) (values (Tensor.GeluBackward(g64, x64)))
              // the float32 inputs are the float64 ones exactly (multiples of 1/1024)
              Expect.isLessThan erfErr 1e-6 "erf: relative error"
              // relative to the value even at x = −12 (gelu ≈ −1e−32): no 1 + erf cancellation; what is
              // left there is float32's rounding of x²/2 inside the exp, ~72 · 6e−8
              Expect.isLessThan geluErr 3e-5 "gelu: relative error, tail included"
              // gelu′ crosses 0 near x = −0.75: Φ and x·φ cancel there (0.23 each), so relative with a floor of 1e−3
              Expect.isLessThan backErr 3e-5 "gelu_backward: relative error"
          }
          test "a value's gelu does not depend on where it sits in the tensor" {
              let xs = [| for i in 0..12 -> -3.3 + 0.57 * float i |]
              let whole = read32 ((f32 xs).Gelu())
              let one = xs |> Array.map (fun x -> (read32 ((f32 [| x |]).Gelu())).[0])
              Expect.sequenceEqual whole one "gelu of 13 values (8 + a padded 5) vs one at a time"
              let back = read32 (Tensor.GeluBackward(f32 (Array.create 13 1.0), f32 xs))

              let backOne =
                  xs
                  |> Array.map (fun x -> (read32 (Tensor.GeluBackward(f32 [| 1.0 |], f32 [| x |]))).[0])

              Expect.sequenceEqual back backOne "gelu_backward likewise"
          }
          test "float32 erf and gelu at ±∞ and NaN" {
              let special = f32 [| infinity; -infinity; nan |]
              let erf = read32 (special.Erf())
              Expect.equal erf.[0..1] [| 1.0; -1.0 |] "erf(±∞) = ±1"
              Expect.isTrue (Double.IsNaN erf.[2]) "erf(NaN) = NaN"
              let gelu = read32 (special.Gelu())
              Expect.equal gelu.[0] infinity "gelu(∞) = ∞"
              Expect.isTrue (Double.IsNaN gelu.[2]) "gelu(NaN) = NaN"
          } ]

let tests = testList "fused" [ gauss ]
