/// The joint pullbacks of layer norm and batch norm (∂x, ∂γ, ∂β from one kernel pass in a
/// plain backward) against their documented formulas written as plain loops in float64, in
/// both dtypes, with and without γ and β, rows of every length a vector body leaves a tail
/// for, strided inputs and cotangents, and runs long enough to be shared over the cores.
module Cotangent.Tests.NormPullbackTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

/// Layer norm over the last axis of [rows, d] by plain loops: the output of
/// (x − μ)/√(σ² + ε)·γ + β and, for a cotangent g, the documented pullbacks
/// ∂x = r·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)), ∂γ = Σ g·x̂, ∂β = Σ g.
let private layerNormByLoops (x: float[]) (gamma: float[]) (beta: float[]) (g: float[]) d =
    let rows = x.Length / d
    let y, dx = Array.zeroCreate x.Length, Array.zeroCreate x.Length
    let dgamma, dbeta = Array.zeroCreate d, Array.zeroCreate d

    for r in 0 .. rows - 1 do
        let at j = r * d + j
        let mu = Seq.averageBy (fun j -> x.[at j]) [ 0 .. d - 1 ]
        let var = Seq.averageBy (fun j -> (x.[at j] - mu) ** 2.0) [ 0 .. d - 1 ]
        let rs = 1.0 / sqrt (var + 1e-5)
        let xh = Array.init d (fun j -> (x.[at j] - mu) * rs)
        let gh = Array.init d (fun j -> g.[at j] * gamma.[j])
        let mg = Array.average gh
        let mgx = Array.map2 (*) gh xh |> Array.average

        for j in 0 .. d - 1 do
            y.[at j] <- xh.[j] * gamma.[j] + beta.[j]
            dx.[at j] <- rs * (gh.[j] - mg - xh.[j] * mgx)
            dgamma.[j] <- dgamma.[j] + g.[at j] * xh.[j]
            dbeta.[j] <- dbeta.[j] + g.[at j]

    y, [| dx; dgamma; dbeta |]

let private layerNormExamples =
    testList
        "layer norm's pullbacks, small and long"
        [ test "the loop formula's pullbacks are the central differences of its output" {
              // checks the oracle of the next test itself, on a small case
              let rng = Random 41
              let d, rows = 4, 3

              let draw n =
                  Array.init n (fun _ -> rng.NextDouble() * 4.0 - 2.0)

              let x, gamma, beta, g = draw (rows * d), draw d, draw d, draw (rows * d)

              let loss x gamma beta =
                  Array.map2 (*) g (fst (layerNormByLoops x gamma beta g d)) |> Array.sum

              let _, grads = layerNormByLoops x gamma beta g d

              let differences =
                  [| centralDifferences (fun x -> loss x gamma beta) x
                     centralDifferences (fun gm -> loss x gm beta) gamma
                     centralDifferences (fun b -> loss x gamma b) beta |]

              for k in 0..2 do
                  for i in 0 .. grads.[k].Length - 1 do
                      Expect.floatClose
                          { absolute = 1e-7; relative = 1e-6 }
                          grads.[k].[i]
                          differences.[k].[i]
                          (sprintf "input %d, element %d" k i)
          }
          test "a backward pass gives ∂x, ∂γ and ∂β as the loop formula does, whichever need one" {
              // 300 rows of 130: enough elements to share the parts of 64 rows over the cores,
              // the last part (44 rows) ending between the 32-row flushes of the column sums
              let rng = Random 42
              let d, rows = 130, 300

              let draw n =
                  Array.init n (fun _ -> rng.NextDouble() * 4.0 - 2.0)

              let x, gamma, beta, g = draw (rows * d), draw d, draw d, draw (rows * d)
              let _, expected = layerNormByLoops x gamma beta g d

              everyWantedSubset
                  1e-10
                  (fun ts -> Tensor.LayerNorm(ts.[0], 1, ts.[1], ts.[2]))
                  [| x, [| rows; d |]; gamma, [| d |]; beta, [| d |] |]
                  g
                  expected
          } ]


/// Batch norm over [n, c, l] by plain loops: the documented pullbacks for a cotangent g,
/// ∂x = γ·r·(g − mean(g) − x̂·mean(g·x̂)), ∂γ = Σ g·x̂, ∂β = Σ g, the means and sums per channel.
let private batchNormByLoops (x: float[]) (gamma: float[]) (g: float[]) n c l =
    let dx, dgamma, dbeta =
        Array.zeroCreate x.Length, Array.zeroCreate c, Array.zeroCreate c

    let count = float (n * l)

    for ch in 0 .. c - 1 do
        let at =
            [| for b in 0 .. n - 1 do
                   for k in 0 .. l - 1 -> (b * c + ch) * l + k |]

        let mu = at |> Array.averageBy (fun i -> x.[i])
        let var = at |> Array.averageBy (fun i -> (x.[i] - mu) ** 2.0)
        let rs = 1.0 / sqrt (var + 1e-5)
        let xh i = (x.[i] - mu) * rs
        let sg = at |> Array.sumBy (fun i -> g.[i])
        let sgx = at |> Array.sumBy (fun i -> g.[i] * xh i)

        for i in at do
            dx.[i] <- gamma.[ch] * rs * (g.[i] - sg / count - xh i * sgx / count)

        dgamma.[ch] <- sgx
        dbeta.[ch] <- sg

    [| dx; dgamma; dbeta |]

let private read (t: Tensor) =
    if t.DType = DType.Float32 then
        t.ToArray<float32>() |> Array.map float
    else
        values t

let private tensorOf dtype (xs: float[]) (shape: int[]) =
    if dtype = DType.Float32 then
        Tensor.FromArray(Array.map float32 xs, shape)
    else
        Tensor.FromArray(xs, shape)

/// The values of a [n, c, l] tensor, laid out either in place or as the transpose of an
/// [l, c, n] one (strides l·c… reversed), so the kernels read a strided view.
let private shaped dtype strided (xs: float[]) n c l =
    if not strided then
        tensorOf dtype xs [| n; c; l |]
    else
        let t =
            Array.init xs.Length (fun i -> let k, ch, b = i / (c * n), (i / n) % c, i % n in xs.[(b * c + ch) * l + k])

        (tensorOf dtype t [| l; c; n |]).Transpose(0, 2)

let private closeTo tol (expected: float[]) (t: Tensor) what =
    let actual = read t
    Expect.equal actual.Length expected.Length (what + ": element count")

    for i in 0 .. expected.Length - 1 do
        if not (abs (actual.[i] - expected.[i]) <= tol * (1.0 + abs expected.[i])) then
            failtestf "%s: element %d is %g, expected %g" what i actual.[i] expected.[i]

let private lengths = [ 1; 2; 3; 5; 7; 8; 9; 15; 16; 17; 31; 32; 33; 40 ]

let private batchNormCases =
    [ test "batch norm's ∂x, ∂γ, ∂β in float32 and float64, with γ and β, either or neither, rows of 1-40" {
          let rng = Random 43

          let draw k =
              Array.init k (fun _ -> rng.NextDouble() * 4.0 - 2.0)

          for dtype, tol in [ DType.Float64, 1e-9; DType.Float32, 2e-4 ] do
              for l in lengths do
                  let n, c = 3, 2
                  let x, g, gamma0, beta0 = draw (n * c * l), draw (n * c * l), draw c, draw c

                  for affine in 0..3 do
                      let strided = (l + affine) % 2 = 1
                      let hasGamma, hasBeta = affine &&& 1 <> 0, affine &&& 2 <> 0
                      let xt = (shaped dtype strided x n c l).RequireGrad()

                      let gt =
                          if hasGamma then
                              (tensorOf dtype gamma0 [| c |]).RequireGrad()
                          else
                              null

                      let bt =
                          if hasBeta then
                              (tensorOf dtype beta0 [| c |]).RequireGrad()
                          else
                              null

                      let expected =
                          batchNormByLoops x (if hasGamma then gamma0 else Array.create c 1.0) g n c l

                      Tensor.BatchNorm(xt, gt, bt).Backward(shaped dtype (not strided) g n c l)

                      let what name =
                          sprintf "%s, %A, l %d, γ %b, β %b, strided x %b" name dtype l hasGamma hasBeta strided

                      closeTo tol expected.[0] xt.Grad (what "∂x")

                      if hasGamma then
                          closeTo tol expected.[1] gt.Grad (what "∂γ")

                      if hasBeta then
                          closeTo tol expected.[2] bt.Grad (what "∂β")
      }
      test "batch norm's pullbacks over 48,000 elements (channels shared over the cores) match the loops" {
          let rng = Random 44
          let n, c, l = 8, 3, 2000

          let draw k =
              Array.init k (fun _ -> rng.NextDouble() * 4.0 - 2.0)

          let x, g, gamma0, beta0 = draw (n * c * l), draw (n * c * l), draw c, draw c
          let expected = batchNormByLoops x gamma0 g n c l

          for dtype, tol in [ DType.Float64, 1e-9; DType.Float32, 1e-3 ] do
              let xt = (tensorOf dtype x [| n; c; l |]).RequireGrad()

              let gt, bt =
                  (tensorOf dtype gamma0 [| c |]).RequireGrad(), (tensorOf dtype beta0 [| c |]).RequireGrad()

              Tensor.BatchNorm(xt, gt, bt).Backward(tensorOf dtype g [| n; c; l |])
              closeTo tol expected.[0] xt.Grad $"∂x, {dtype}"
              closeTo tol expected.[1] gt.Grad $"∂γ, {dtype}"
              closeTo tol expected.[2] bt.Grad $"∂β, {dtype}"
      } ]

let private layerNormCases =
    [ test "layer norm's ∂x, ∂γ, ∂β in float32 and float64, with γ and β, either or neither, rows of 1-40" {
          let rng = Random 45

          let draw k =
              Array.init k (fun _ -> rng.NextDouble() * 4.0 - 2.0)

          for dtype, tol in [ DType.Float64, 1e-9; DType.Float32, 2e-4 ] do
              for d in lengths do
                  // 70 rows: one part of 64 rows and the start of the next
                  let rows = 70
                  let x, g, gamma0, beta0 = draw (rows * d), draw (rows * d), draw d, draw d

                  for affine in 0..3 do
                      let hasGamma, hasBeta = affine &&& 1 <> 0, affine &&& 2 <> 0
                      let xt = (tensorOf dtype x [| rows; d |]).RequireGrad()

                      let gt =
                          if hasGamma then
                              (tensorOf dtype gamma0 [| d |]).RequireGrad()
                          else
                              null

                      let bt =
                          if hasBeta then
                              (tensorOf dtype beta0 [| d |]).RequireGrad()
                          else
                              null

                      let gammaOr1 = if hasGamma then gamma0 else Array.create d 1.0
                      let _, expected = layerNormByLoops x gammaOr1 (Array.zeroCreate d) g d
                      // the cotangent as the transpose of a [d, rows] tensor half the time
                      let gv =
                          if affine % 2 = 0 then
                              tensorOf dtype g [| rows; d |]
                          else
                              let t = Array.init g.Length (fun i -> g.[(i % rows) * d + i / rows])
                              (tensorOf dtype t [| d; rows |]).Transpose(0, 1)

                      Tensor.LayerNorm(xt, 1, gt, bt).Backward(gv)

                      let what name =
                          sprintf "%s, %A, d %d, γ %b, β %b" name dtype d hasGamma hasBeta

                      closeTo tol expected.[0] xt.Grad (what "∂x")

                      if hasGamma then
                          closeTo tol expected.[1] gt.Grad (what "∂γ")

                      if hasBeta then
                          closeTo tol expected.[2] bt.Grad (what "∂β")
      } ]

let tests =
    testList
        "norm pullbacks"
        [ layerNormExamples
          testList "layer norm, every row length" layerNormCases
          testList "batch norm, every row length" batchNormCases ]
