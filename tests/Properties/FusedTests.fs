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
              let xs = [| for i in 0..28 -> -8.3 + 0.57 * float i |]
              let whole = read32 ((f32 xs).Gelu())
              let one = xs |> Array.map (fun x -> (read32 ((f32 [| x |]).Gelu())).[0])
              Expect.sequenceEqual whole one "gelu of 29 values (16 lanes, 8, then a padded 5) vs one at a time"
              let back = read32 (Tensor.GeluBackward(f32 (Array.create 29 1.0), f32 xs))

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

/// Four Adam or AdamW steps over a parameter of 1,003 elements (vector lanes and a scalar tail)
/// against a plain loop in float64; the moments in the state dict too.
let private adamAgainstLoop (device: Device) (dtype: DType) (decoupled: bool) tol =
    let n = 1003
    let rng = Random 17
    let p0 = Array.init n (fun _ -> rng.NextDouble() * 4.0 - 2.0)

    let grads =
        Array.init 4 (fun _ -> Array.init n (fun _ -> rng.NextDouble() * 2.0 - 1.0))

    let lr, b1, b2, eps, wd = 0.01, 0.8, 0.99, 1e-6, 0.05

    let toDevice (xs: float[]) =
        Tensor.FromArray(xs, [| n |]).To(dtype).To(device)

    let p = Nn.Parameter(toDevice p0)

    let opt: Nn.Optimizer =
        if decoupled then
            Nn.AdamW([ p ], lr, b1, b2, eps, wd)
        else
            Nn.Adam([ p ], lr, b1, b2, eps, wd)

    let mutable q = Array.copy p0
    let m, v = Array.zeroCreate n, Array.zeroCreate n

    for k in 0..3 do
        p.SetGrad(toDevice grads.[k])
        opt.Step()
        let t = float (k + 1)

        q <-
            Array.init n (fun i ->
                let g =
                    if decoupled then
                        grads.[k].[i]
                    else
                        grads.[k].[i] + wd * q.[i]

                let pi = if decoupled then q.[i] * (1.0 - lr * wd) else q.[i]
                m.[i] <- b1 * m.[i] + (1.0 - b1) * g
                v.[i] <- b2 * v.[i] + (1.0 - b2) * g * g
                pi - lr * (m.[i] / (1.0 - b1 ** t)) / (sqrt (v.[i] / (1.0 - b2 ** t)) + eps))

        near tol q (p.Value.To(Device.Cpu).To(DType.Float64)) $"step {k + 1}"

    let state = opt.StateDict()
    near tol m (state.["0.exp_avg"].To(Device.Cpu).To(DType.Float64)) "exp_avg"
    near (tol * 100.0) v (state.["0.exp_avg_sq"].To(Device.Cpu).To(DType.Float64)) "exp_avg_sq"

let adam =
    testList
        "adam"
        [ for device in [ Device.Cpu; Device.Simulated 0 ] do
              for dtype, tol in [ DType.Float64, 1e-12; DType.Float32, 2e-5 ] do
                  for decoupled in [ false; true ] do
                      let name = if decoupled then "AdamW" else "Adam"

                      test $"{name} in one pass on {device}, {dtype.Name()}: four steps follow the loop" {
                          adamAgainstLoop device dtype decoupled tol
                      } ]

/// max_pool2d by plain loops: the first maximum of each window in row-major order, and the
/// gradient of Σ c·y as c added at that position (several windows may pick one position).
let private poolLoop (x: float[]) (n, ch, h, w) k st =
    let oh, ow = (h - k) / st + 1, (w - k) / st + 1
    let y = Array.zeroCreate (n * ch * oh * ow)
    let at = Array.zeroCreate (n * ch * oh * ow)

    for p in 0 .. n * ch - 1 do
        for oy in 0 .. oh - 1 do
            for ox in 0 .. ow - 1 do
                let mutable best = (oy * st) * w + ox * st

                for i in 0 .. k - 1 do
                    for j in 0 .. k - 1 do
                        let q = (oy * st + i) * w + ox * st + j
                        let v, m = x.[p * h * w + q], x.[p * h * w + best]

                        if not (Double.IsNaN m) && (v > m || Double.IsNaN v) then
                            best <- q

                let o = (p * oh + oy) * ow + ox
                y.[o] <- x.[p * h * w + best]
                at.[o] <- p * h * w + best

    y, at

let pooling =
    testList
        "max_pool2d"
        [ for device in [ Device.Cpu; Device.Simulated 0 ] do
              test $"max_pool2d on {device}: ties go to the first maximum, NaN wins, overlapping windows add" {
                  let rng = Random 5

                  // 21 wide: a 2×2 pool's rows of 10 outputs run 8 through the vector path, 2 through its
                  // masked tail; 6 and 8 wide (LeNet's second pool) only the masked tail
                  for (n, ch, h, w), k, st in
                      [ (2, 3, 7, 6), 2, 2
                        (2, 2, 8, 8), 2, 2
                        (2, 3, 7, 6), 3, 1
                        (2, 3, 7, 6), 2, 3
                        (2, 2, 6, 21), 2, 2
                        (1, 1, 4, 37), 2, 2 ] do
                      // few distinct values: many ties
                      let x = Array.init (n * ch * h * w) (fun _ -> float (rng.Next 4))
                      x.[5] <- nan
                      x.[x.Length - 9] <- nan
                      let y, at = poolLoop x (n, ch, h, w) k st
                      let c = Array.init y.Length (fun i -> 1.0 + float i)
                      let grad = Array.zeroCreate x.Length

                      for o in 0 .. y.Length - 1 do
                          grad.[at.[o]] <- grad.[at.[o]] + c.[o]

                      // float32 too: the vector path is float32's (the values are small integers and NaN, exact in both)
                      for dtype in [ DType.Float64; DType.Float32 ] do
                          let xt = Tensor.FromArray(x, [| n; ch; h; w |]).To(dtype).To(device).RequireGrad()
                          let yt = xt.MaxPool2d(k, st)
                          let got = values (yt.To(Device.Cpu).To(DType.Float64))

                          for i in 0 .. y.Length - 1 do
                              if Double.IsNaN y.[i] then
                                  Expect.isTrue (Double.IsNaN got.[i]) $"k {k} stride {st}: output {i} is NaN"
                              else
                                  Expect.equal got.[i] y.[i] $"k {k} stride {st}: output {i}"

                          let ct = Tensor.FromArray(c, Array.ofSeq yt.Shape).To(dtype).To(device)
                          (yt * ct).Sum().Backward()

                          near
                              0.0
                              grad
                              (xt.Grad.To(Device.Cpu).To(DType.Float64))
                              $"k {k} stride {st} {dtype.Name()}: gradient"
              } ]

/// conv2d and its gradients by plain loops over y[n, o, oy, ox] = b[o] + Σ w[o, c, i, j]·x[n, c, oy·s + i − p, ox·s + j − p].
let private convLoop (x: float[]) (wt: float[]) (b: float[]) (gy: float[]) (n, c, h, w) (o, k) st pad =
    let oh, ow = (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1
    let y = Array.zeroCreate (n * o * oh * ow)
    let dx = Array.zeroCreate x.Length
    let dw = Array.zeroCreate wt.Length
    let db = Array.zeroCreate o

    for a in 0 .. n - 1 do
        for q in 0 .. o - 1 do
            for oy in 0 .. oh - 1 do
                for ox in 0 .. ow - 1 do
                    let yi = ((a * o + q) * oh + oy) * ow + ox
                    let mutable acc = b.[q]
                    db.[q] <- db.[q] + gy.[yi]

                    for ch in 0 .. c - 1 do
                        for i in 0 .. k - 1 do
                            for j in 0 .. k - 1 do
                                let yy, xx = oy * st + i - pad, ox * st + j - pad

                                if yy >= 0 && yy < h && xx >= 0 && xx < w then
                                    let xi = ((a * c + ch) * h + yy) * w + xx
                                    let wi = ((q * c + ch) * k + i) * k + j
                                    acc <- acc + wt.[wi] * x.[xi]
                                    dx.[xi] <- dx.[xi] + wt.[wi] * gy.[yi]
                                    dw.[wi] <- dw.[wi] + x.[xi] * gy.[yi]

                    y.[yi] <- acc

    y, dx, dw, db

// sequenced: each case flips the kernels' `masks` and the GEMM's `wide`, and a parallel case would read them off
let convolution =
    testSequenced
    <| testList
        "conv2d"
        // 8 images of 20×17 share the images over the cores; one image runs each GEMM over them;
        // stride 1 with padding copies each window row as one run between zeros (padding 4 > k: rows of zeros only).
        // 33 channels make 297 rows of columns, two k blocks of the GEMM, the second starting inside a
        // channel's window; 66×65 outputs are more columns than one GEMM panel (4096), so panels start mid-row.
        // On AVX-512 machines (masks of 16 lanes): 4 output channels run the direct kernels at stride 1;
        // 13 the implicit GEMM, its weight gradient from each image's transposed columns written out;
        // 20 and 33 with 16+ input channels at stride 1 Winograd's F(2×2, 3×3) (20: the weight gradient
        // below 32 channels), else 33 the weight gradient that reads blocks of 256 columns in place.
        // Masks of 8 lanes run Winograd's 8-tile transforms where 16 would run Winograd, else the implicit
        // GEMM (transposed columns packed into B); masks of 0 the implicit GEMM for all of them
        [ for o in [ 4; 13; 20; 33 ] do
              for n, st, pad, c, h, w, k in
                  [ 8, 2, 1, 3, 20, 17, 3
                    8, 1, 0, 3, 20, 17, 3
                    1, 1, 2, 3, 20, 17, 3
                    8, 1, 1, 3, 20, 17, 3
                    2, 1, 4, 3, 20, 17, 3
                    3, 1, 1, 33, 9, 11, 3
                    2, 2, 0, 33, 13, 12, 3
                    1, 1, 1, 33, 66, 65, 3
                    // 17 channels in and 33 out at stride 1 run Winograd's F(2×2, 3×3) with masks of 16
                    // or 8 lanes; padding 0 and 2 (the input gradient's padding is 2 − p), odd and even sizes
                    2, 1, 0, 17, 10, 13, 3
                    2, 1, 2, 17, 7, 20, 3
                    // Winograd with exactly 16 input channels over blocks of several tile rows: 16
                    // tiles a row (blocks of 4, 4 and 2 rows), then 20 (blocks of 3 and 2, a last
                    // chunk of 4 tiles)
                    2, 1, 1, 16, 20, 32, 3
                    2, 1, 1, 16, 9, 40, 3
                    // 7×7 windows: the written-out columns and the fold with taps past 8 lanes
                    2, 1, 3, 6, 14, 15, 7
                    // LeNet's second layer (5×5 over 12×12: a window row of 8 outputs), and with
                    // padding, so taps j reach past both ends of a row of 16 lanes
                    4, 1, 0, 6, 12, 12, 5
                    3, 1, 2, 6, 12, 19, 5 ] do
                  test
                      $"float32 conv2d of {n} images of {c}×{h}×{w} to {o} channels, {k}×{k}, stride {st}, padding {pad}: values and all three gradients follow the loops" {
                      let rng = Random(n * 10 + st)

                      let rand len =
                          Array.init len (fun _ -> rng.NextDouble() * 2.0 - 1.0)

                      let x, wt, b = rand (n * c * h * w), rand (o * c * k * k), rand o
                      let oh, ow = (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1
                      let gy = rand (n * o * oh * ow)
                      let y, dx, dw, db = convLoop x wt b gy (n, c, h, w) (o, k) st pad

                      let t (xs: float[]) shape =
                          (Tensor.FromArray(Array.map float32 xs, shape)).RequireGrad()

                      // float32 sums of up to n·oh·ow terms (4290 in the largest case): rounding grows with their square root
                      let tol = 1e-5 * max 1.0 (sqrt (float (max (n * oh * ow) (c * k * k)) / 256.0))

                      // every width of masked loads the machine has (16: direct kernels and masked packing
                      // of 32-column strips; 8: packing of 16-column strips, the narrow GEMM's; 0: element
                      // loops), so an AVX-512 machine checks the code that machines without it run
                      let kernels = typeof<Tensor>.Assembly.GetType("Cotangent.Backends.Cpu.CpuKernels")
                      let gemm = typeof<Tensor>.Assembly.GetType("Cotangent.Backends.Cpu.Sgemm")
                      let flags = Reflection.BindingFlags.Static ||| Reflection.BindingFlags.NonPublic
                      let masks, wide = kernels.GetField("masks", flags), gemm.GetField("wide", flags)

                      let hardware =
                          (if Runtime.Intrinsics.X86.Avx512F.IsSupported then 16
                           elif Runtime.Intrinsics.X86.Avx.IsSupported then 8
                           else 0),
                          Runtime.Intrinsics.Vector512.IsHardwareAccelerated

                      let settings =
                          List.distinct
                              [ hardware
                                if fst hardware >= 8 then
                                    (8, false)
                                (0, snd hardware) ]

                      try
                          for width, wideGemm in settings do
                              masks.SetValue(null, width)
                              wide.SetValue(null, wideGemm)
                              let xt, wtt, bt = t x [| n; c; h; w |], t wt [| o; c; k; k |], t b [| o |]
                              let yt = Tensor.Conv2d(xt, wtt, bt, st, pad)

                              let paths =
                                  $"masks of {width} lanes, {(if wideGemm then 32 else 16)}-column GEMM strips"

                              near tol y (yt.To DType.Float64) $"y ({paths})"
                              (yt * Tensor.FromArray(Array.map float32 gy, Array.ofSeq yt.Shape)).Sum().Backward()
                              near tol dx (xt.Grad.To DType.Float64) $"∂x ({paths})"
                              near tol dw (wtt.Grad.To DType.Float64) $"∂w ({paths})"
                              near tol db (bt.Grad.To DType.Float64) $"∂b ({paths})"
                      finally
                          masks.SetValue(null, fst hardware)
                          wide.SetValue(null, snd hardware)
                  } ]

let gemv =
    testList
        "linear at batch 1–4"
        [ test
              "float32 linear for 1 to 5 rows follows the loop (dot products along the weight's rows, with and without bias)" {
              let rng = Random 23

              for rows in 1..5 do
                  for inF, outF in [ 13, 7; 37, 10; 784, 257; 3, 1 ] do
                      let x = Array.init (rows * inF) (fun _ -> rng.NextDouble() - 0.5)
                      let w = Array.init (outF * inF) (fun _ -> rng.NextDouble() - 0.5)
                      let b = Array.init outF (fun _ -> rng.NextDouble() - 0.5)

                      let expected withBias =
                          Array.init (rows * outF) (fun k ->
                              let i, j = k / outF, k % outF

                              let dot =
                                  Seq.sum (seq { for p in 0 .. inF - 1 -> x.[i * inF + p] * w.[j * inF + p] })

                              if withBias then dot + b.[j] else dot)

                      let t (xs: float[]) shape =
                          Tensor.FromArray(Array.map float32 xs, shape)

                      let xt, wt = t x [| rows; inF |], t w [| outF; inF |]

                      near
                          1e-5
                          (expected true)
                          ((Tensor.Linear(xt, wt, t b [| outF |])).To DType.Float64)
                          $"{rows}×{inF} → {outF} with bias"

                      near 1e-5 (expected false) ((Tensor.Linear(xt, wt)).To DType.Float64) $"{rows}×{inF} → {outF}"
          } ]

let shiftedExp =
    testList
        "shifted exp"
        [ test "the eight-lane Σ exp(x − max) and log-softmax row (machines without AVX-512) follow float64" {
              let rng = Random 29

              for n in [ 1; 5; 8; 9; 15; 16; 17; 31; 40; 1000; 1003 ] do
                  let x = Array.init n (fun _ -> float32 (rng.NextDouble() * 40.0 - 30.0))

                  if n > 3 then
                      x.[2] <- -infinityf

                  let m = Array.max x
                  let expected = x |> Array.sumBy (fun v -> exp (float v - float m))
                  let got = float (Cotangent.Backends.Cpu.ShiftedExp.Sum256(ReadOnlySpan x, m))
                  Expect.isLessThan (abs (got - expected) / expected) 1e-6 $"Σ exp over {n}"
                  let dst = Array.zeroCreate<float32> n
                  let logSum = log (float32 got)
                  Cotangent.Backends.Cpu.ShiftedExp.LogSoftmax256(ReadOnlySpan x, m, logSum, Span dst)

                  for i in 0 .. n - 1 do
                      let e = float x.[i] - float m - log expected

                      if Double.IsInfinity e then
                          Expect.equal dst.[i] -infinityf $"row of {n}: −∞ stays −∞"
                      else
                          Expect.isLessThan (abs (float dst.[i] - e)) (1e-5 * (1.0 + abs e)) $"row of {n}, element {i}"
          } ]

let sliced =
    testList
        "sliced operands"
        [ test "layer_norm with γ and β sliced from one buffer (offset > 0) agrees on sim:0 and cpu" {
              let rng = Random 31
              let d = 5

              let x =
                  Tensor.FromArray(Array.init (3 * d) (fun _ -> rng.NextDouble() * 4.0 - 2.0), [| 3; d |])

              let p =
                  Tensor.FromArray(Array.init (3 * d) (fun _ -> rng.NextDouble() + 0.5), [| 3 * d |])

              let pv, xv = values p, values x

              let expected =
                  Array.init (3 * d) (fun k ->
                      let r = k / d
                      let row = xv.[r * d .. r * d + d - 1]
                      let mu = Array.average row
                      let var = row |> Array.averageBy (fun v -> (v - mu) ** 2.0)
                      (xv.[k] - mu) / sqrt (var + 1e-5) * pv.[d + k % d] + pv.[2 * d + k % d])

              for device in [ Device.Cpu; Device.Simulated 0 ] do
                  // sliced where they live, so the device's γ and β keep their offsets
                  let pd = p.To device

                  let y =
                      Tensor.LayerNorm(x.To device, 1, pd.Slice(0, d, 2 * d), pd.Slice(0, 2 * d, 3 * d))

                  near 1e-10 expected (y.To Device.Cpu) $"layer_norm on {device}"
          } ]

let tests =
    testList "fused" [ gauss; adam; pooling; convolution; gemv; shiftedExp; sliced ]
