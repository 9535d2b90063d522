/// Tensor values, views, broadcasting, kernels and printing, against plain-loop references.
module Cotangent.Tests.TensorTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.Testing.Sampling
open Cotangent.Tests.Check

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 40 }

let private seeded name (check: Random -> unit) =
    testPropertyWithConfig
        config
        name
        (Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed -> check (Random seed)))

/// Row-major index arithmetic, written independently of the library.
let private unravel (shape: int[]) i =
    let idx = Array.zeroCreate shape.Length
    let mutable rem = i

    for a in shape.Length - 1 .. -1 .. 0 do
        idx.[a] <- rem % shape.[a]
        rem <- rem / shape.[a]

    idx

let private ravel (shape: int[]) (idx: int[]) =
    Array.fold2 (fun acc d i -> acc * d + i) 0 shape idx

/// Reads element idx (of the broadcast shape) from a tensor of a smaller shape.
let private broadcastRead (full: int[]) (shape: int[]) (vals: float[]) (idx: int[]) =
    let lead = full.Length - shape.Length

    ravel shape (Array.init shape.Length (fun a -> if shape.[a] = 1 then 0 else idx.[a + lead]))
    |> Array.get vals

let creation =
    testList
        "creation"
        [ test "zeros, ones, full, scalar" {
              Expect.equal (Tensor.Zeros(2, 3).ToArray<float32>()) (Array.zeroCreate 6) "zeros"
              Expect.equal (Tensor.Ones([| 2 |], DType.Int64).ToArray<int64>()) [| 1L; 1L |] "int64 ones"

              Expect.equal
                  (Tensor.Full([| 2; 2 |], 7.5, DType.Float64).ToArray<float>())
                  [| 7.5; 7.5; 7.5; 7.5 |]
                  "full"

              let s = Tensor.Scalar 3.0
              Expect.equal s.Shape [||] "a scalar has no axes"
              Expect.equal (s.Item<float32>()) 3.0f "item"
          }
          test "arange, linspace and eye" {
              Expect.equal (Tensor.Arange(5).ToArray<float32>()) [| 0.0f; 1.0f; 2.0f; 3.0f; 4.0f |] "arange(5)"

              Expect.equal
                  (Tensor.Arange(1.0, 2.0, 0.25, DType.Float64).ToArray<float>())
                  [| 1.0; 1.25; 1.5; 1.75 |]
                  "arange by 0.25"

              Expect.equal
                  (Tensor.Arange(3.0, 0.0, -1.0, DType.Int64).ToArray<int64>())
                  [| 3L; 2L; 1L |]
                  "counting down"

              Expect.equal
                  (Tensor.Linspace(0.0, 1.0, 5, DType.Float64).ToArray<float>())
                  [| 0.0; 0.25; 0.5; 0.75; 1.0 |]
                  "linspace"

              Expect.equal (Tensor.Eye(2, 3).ToArray<float32>()) [| 1.0f; 0.0f; 0.0f; 0.0f; 1.0f; 0.0f |] "eye 2×3"
          }
          test "from 1-D and 2-D arrays" {
              let t = Tensor.From(array2D [ [ 1.0; 2.0; 3.0 ]; [ 4.0; 5.0; 6.0 ] ])
              Expect.equal t.Shape [| 2; 3 |] "shape"
              Expect.equal t.DType DType.Float64 "dtype from the array"
              Expect.equal (t.ToArray<float>()) [| 1.0 .. 6.0 |] "row-major"
              Expect.equal (Tensor.From(1L, 2L).DType) DType.Int64 "int64"
              let j = Tensor.From([| [| 1.0f; 2.0f |]; [| 3.0f; 4.0f |]; [| 5.0f; 6.0f |] |])
              Expect.equal j.Shape [| 3; 2 |] "jagged rows"
              Expect.equal (j.Select(1, -1).ToArray<float32>()) [| 2.0f; 4.0f; 6.0f |] "select the last column"

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.From([| [| 1.0 |]; [| 2.0; 3.0 |] |]))
                  [ "row 1"; "one length" ]
          }
          test "ToArray hands out a copy: the tensor never changes" {
              let t = Tensor.From(1.0f, 2.0f)
              let a = t.ToArray<float32>()
              a.[0] <- 99.0f
              Expect.equal (t.ToArray<float32>()) [| 1.0f; 2.0f |] "unchanged"
          }
          test "seeded generators repeat; rand lies in [0, 1); randn has mean 0 and variance 1; randint stays in range" {
              Tensor.ManualSeed 7UL
              let a = Tensor.Randn(5).ToArray<float32>()
              Tensor.ManualSeed 7UL
              Expect.equal (Tensor.Randn(5).ToArray<float32>()) a "same seed, same values"
              let u = Tensor.Rand([| 10000 |], DType.Float64, Generator 1UL).ToArray<float>()
              Expect.isTrue (u |> Array.forall (fun v -> v >= 0.0 && v < 1.0)) "uniform range"
              let n = Tensor.Randn([| 20000 |], DType.Float64, Generator 2UL).ToArray<float>()
              let mean = Array.average n
              let var = n |> Array.averageBy (fun v -> (v - mean) ** 2.0)
              Expect.isLessThan (abs mean) 0.03 "mean ≈ 0 (4 standard errors)"
              Expect.isLessThan (abs (var - 1.0)) 0.04 "variance ≈ 1"
              let k = Tensor.Randint(-3L, 4L, [| 5000 |], Generator 3UL).ToArray<int64>()

              Expect.equal
                  (k |> Array.distinct |> Array.sort)
                  [| -3L .. 3L |]
                  "every value in [-3, 4) appears, none outside"
          } ]

/// 3 rows of len float32-representable logits over [-100, 100], each entry after a row's first
/// -inf (masked) with probability 1/5: inputs for the fp32 softmax kernels' tests.
let private maskedLogits (r: Random) len =
    Array.init (3 * len) (fun i ->
        if i % len <> 0 && r.Next 5 = 0 then
            -infinity
        else
            float (float32 (200.0 * r.NextDouble() - 100.0)))

/// op over one float32 row given as a list (the special rows of the softmax kernels' tests).
let private specialRow (op: Tensor -> Tensor) (row: float list) =
    op (Tensor.From(row |> List.map float32 |> Array.ofList).Reshape(1, -1))
    |> values

/// The same values, NaN matching NaN.
let private same (a: float[]) (b: float[]) =
    Array.forall2 (fun x y -> (Double.IsNaN x && Double.IsNaN y) || x = y) a b

let kernels =
    testList
        "kernels"
        [ seeded "broadcast add and mul match plain loops" (fun r ->
              let sa, sb = broadcastPair r
              let a, b = tensorIn r Real sa, tensorIn r Real sb
              let full = ShapeMath.Broadcast("add", sa, sb)
              let va, vb = values a, values b
              let n = Array.fold (*) 1 full

              let expected op =
                  Array.init n (fun i ->
                      let idx = unravel full i in op (broadcastRead full sa va idx) (broadcastRead full sb vb idx))

              near 0.0 (expected (+)) (a + b) "a + b"
              near 0.0 (expected (*)) (a * b) "a * b"
              near 0.0 (expected (-)) (a - b) "a - b")
          seeded "matmul matches a triple loop, batched and broadcast" (fun r ->
              let m, k, n, b = r.Next(1, 6), r.Next(1, 6), r.Next(1, 6), r.Next(1, 4)
              let a, w = tensorIn r Real [| b; m; k |], tensorIn r Real [| k; n |]
              let va, vw = values a, values w

              let expected =
                  Array.init (b * m * n) (fun i ->
                      let bi, rem = i / (m * n), i % (m * n)
                      let row, col = rem / n, rem % n
                      Seq.sum (seq { for p in 0 .. k - 1 -> va.[(bi * m + row) * k + p] * vw.[p * n + col] }))

              near 1e-12 expected (Tensor.MatMul(a, w)) "A @ W"
              near 1e-12 expected (Tensor.MatMul(a, w.T.Contiguous().T)) "A @ W through a transposed view")
          testPropertyWithConfig
              { config with maxTest = 25 }
              "fp32 packed GEMM matches float64 across block edges, transposes and batches"
              (Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed ->
                  let r = Random seed
                  let m, k, n = r.Next(1, 150), r.Next(1, 600), r.Next(1, 100)
                  let b = r.Next(1, 3)
                  let a64 = tensorIn r Real [| b; m; k |]
                  let w64 = tensorIn r Real [| n; k |]
                  // Wᵀ as a strided view and A through a transposed round trip: both read through strides
                  let a32 = a64.To(DType.Float32).Transpose(1, 2).Contiguous().Transpose(1, 2)
                  let w32 = w64.To(DType.Float32)
                  let expected = Tensor.MatMul(a64, w64.T) |> values
                  let actual = Tensor.MatMul(a32, w32.T) |> values

                  Array.iteri2
                      (fun i e a ->
                          if abs (e - a) > 1e-4 * (1.0 + abs e) * sqrt (float k) then
                              failtestf "element %d: %g vs %g (m %d k %d n %d)" i a e m k n)
                      expected
                      actual))
          test "the Vector256 GEMM kernel (machines without AVX-512) gives the same products" {
              let field =
                  typeof<Tensor>.Assembly
                      .GetType("Cotangent.Backends.Cpu.Sgemm")
                      .GetField("wide", Reflection.BindingFlags.Static ||| Reflection.BindingFlags.NonPublic)

              try
                  field.SetValue(null, false)
                  let r = Random 17

                  // edge strips, in-place and whole-block A (a core's share of the columns must reach 256:
                  // 1100 on up to 4 cores, 300 a core beyond; 30 rows of 48: full 6-row strips whose
                  // last 8-k transpose ends the block), row-major and transposed operands
                  let wideN = max 1100 (300 * Environment.ProcessorCount)

                  for m, k, n in [ 1, 1, 1; 13, 300, 17; 40, 70, 33; 100, 257, 50; 29, 40, wideN; 30, 48, wideN ] do
                      let a, w = tensorIn r Real [| m; k |], tensorIn r Real [| k; n |]
                      let expected = Tensor.MatMul(a, w) |> values
                      let a32, w32 = a.To DType.Float32, w.To DType.Float32

                      for x, y in [ a32, w32.T.Contiguous().T; a32.T.Contiguous().T, w32 ] do
                          Array.iteri2
                              (fun i e v ->
                                  if abs (e - v) > 1e-4 * (1.0 + abs e) * sqrt (float k) then
                                      failtestf "element %d of %dx%dx%d: %g vs %g" i m k n v e)
                              expected
                              (Tensor.MatMul(x, y) |> values)
              finally
                  // the hardware's value, which the other tests expect (the conv2d list flips it too)
                  field.SetValue(null, box Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
          }
          test "a wide fp32 product, where the GEMM packs whole blocks of A, matches float64" {
              let r = Random 23

              for m, k, n in [ 30, 40, 1100; 13, 300, 1500 ] do
                  let a64, w64 = tensorIn r Real [| m; k |], tensorIn r Real [| k; n |]
                  let expected = Tensor.MatMul(a64, w64) |> values

                  for a32 in [ a64.To DType.Float32; a64.To(DType.Float32).T.Contiguous().T ] do
                      Tensor.MatMul(a32, w64.To DType.Float32)
                      |> values
                      |> Array.iteri2
                          (fun i e x ->
                              if abs (e - x) > 1e-4 * (1.0 + abs e) * sqrt (float k) then
                                  failtestf "element %d of %dx%dx%d: %g vs %g" i m k n x e)
                          expected
          }
          test
              "the CPU worker team runs every part once, passes a part's exception to the caller, and runs nested jobs inline" {
              let forMethod =
                  typeof<Tensor>.Assembly
                      .GetType("Cotangent.Backends.Cpu.Team")
                      .GetMethod("For", Reflection.BindingFlags.Static ||| Reflection.BindingFlags.Public)

              let teamFor (count: int) (body: int -> unit) =
                  try
                      forMethod.Invoke(null, [| box count; box (Action<int> body) |]) |> ignore
                  with :? Reflection.TargetInvocationException as e ->
                      raise e.InnerException

              for count in [ 1; 2; 3; 17; 1000 ] do
                  let hits: int[] = Array.zeroCreate count
                  teamFor count (fun p -> Threading.Interlocked.Increment(&hits.[p]) |> ignore)
                  Expect.all hits ((=) 1) (sprintf "each of %d parts ran exactly once" count)

              let thrown =
                  Expect.throwsC
                      (fun () ->
                          teamFor 8 (fun p ->
                              if p = 5 then
                                  invalidOp "part 5 failed"))
                      id

              Expect.equal thrown.Message "part 5 failed" "the part's own exception reaches the caller"
              let inner = Array.zeroCreate 12
              teamFor 3 (fun p -> teamFor 4 (fun q -> inner.[p * 4 + q] <- 1))
              Expect.all inner ((=) 1) "a job started inside a job runs all its parts (inline)"
          }
          test "kernels called from many threads at once give the same results as called alone" {
              let a, w = Tensor.Randn(96, 300), Tensor.Randn(300, 200)
              let x = Tensor.Randn(1 <<< 17)
              let mm, ex = values (Tensor.MatMul(a, w)), values (x.Exp())

              let results =
                  Array.Parallel.init 8 (fun _ ->
                      [ for _ in 1..20 -> values (Tensor.MatMul(a, w)) = mm && values (x.Exp()) = ex ])

              Expect.all
                  (Array.concat (Array.map List.toArray results))
                  id
                  "every concurrent result equals the lone one"
          }
          test "matmul of a large product splits rows over cores and still matches" {
              let r = Random 5
              let a, w = tensorIn r Real [| 70; 80 |], tensorIn r Real [| 80; 90 |]
              let va, vw = values a, values w

              let expected =
                  Array.init (70 * 90) (fun i ->
                      Seq.sum (seq { for p in 0..79 -> va.[(i / 90) * 80 + p] * vw.[p * 90 + i % 90] }))

              near 1e-12 expected (Tensor.MatMul(a, w)) "70×80 @ 80×90"
          }
          seeded "sum over axes matches a plain loop" (fun r ->
              let s = shape r 1 4
              let x = tensorIn r Real s
              let axis = r.Next s.Length
              let out = s |> Array.mapi (fun a d -> if a = axis then 1 else d)
              let expected = Array.zeroCreate (Array.fold (*) 1 out)

              values x
              |> Array.iteri (fun i v ->
                  let idx = unravel s i in
                  idx.[axis] <- 0
                  let j = ravel out idx in
                  expected.[j] <- expected.[j] + v)

              near 1e-12 expected (x.Sum(axis, keepDim = true)) "sum with keepDim"
              near 1e-12 expected (x.Sum(axis)) "sum without keepDim")
          seeded "permute then contiguous reorders elements as index arithmetic says" (fun r ->
              let s = shape r 1 4
              let x = tensorIn r Real s
              let p = [| 0 .. s.Length - 1 |] |> Array.sortBy (fun _ -> r.Next())
              let ps = p |> Array.map (fun a -> s.[a])
              let vx = values x

              let expected =
                  Array.init vx.Length (fun i ->
                      let idx = unravel ps i in
                      vx.[ravel s (Array.init s.Length (fun a -> idx.[Array.findIndex ((=) a) p]))])

              near 0.0 expected (x.Permute(p).Contiguous()) "permuted")
          seeded "conv2d matches a direct sum over windows" (fun r ->
              let k, st, pad = r.Next(1, 4), r.Next(1, 3), r.Next(0, 2)

              let n, c, o, h, w =
                  r.Next(1, 3), r.Next(1, 3), r.Next(1, 3), r.Next(k, 6), r.Next(k, 6)

              let x, wt, b =
                  tensorIn r Real [| n; c; h; w |], tensorIn r Real [| o; c; k; k |], tensorIn r Real [| o |]

              let vx, vw, vb = values x, values wt, values b
              let oh, ow = (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1

              let at (bi, ci, y, xx) =
                  if y < 0 || y >= h || xx < 0 || xx >= w then
                      0.0
                  else
                      vx.[((bi * c + ci) * h + y) * w + xx]

              let expected =
                  [| for bi in 0 .. n - 1 do
                         for oi in 0 .. o - 1 do
                             for oy in 0 .. oh - 1 do
                                 for ox in 0 .. ow - 1 ->
                                     vb.[oi]
                                     + Seq.sum (
                                         seq {
                                             for ci in 0 .. c - 1 do
                                                 for i in 0 .. k - 1 do
                                                     for j in 0 .. k - 1 ->
                                                         vw.[((oi * c + ci) * k + i) * k + j]
                                                         * at (bi, ci, oy * st + i - pad, ox * st + j - pad)
                                         }
                                     ) |]

              near 1e-12 expected (Tensor.Conv2d(x, wt, b, st, pad)) "conv2d")
          test "max and average pooling over 2×2 windows" {
              let x = Tensor.Arange(16, DType.Float64).Reshape(1, 1, 4, 4)
              near 0.0 [| 5.0; 7.0; 13.0; 15.0 |] (x.MaxPool2d 2) "max"
              near 0.0 [| 2.5; 4.5; 10.5; 12.5 |] (x.AvgPool2d 2) "mean"
          }
          test "ops over large tensors split across cores and match sequential loops" {
              let n = 300_007
              let r = Random 11
              let x = tensorIn r Real [| n |]
              let y = tensorIn r Real [| n |]
              let vx, vy = values x, values y
              near 1e-15 (Array.map exp vx) (x.Exp()) "exp"
              near 0.0 (Array.map2 (+) vx vy) (x + y) "add"
              near 0.0 (vx |> Array.map (fun v -> v * 3.0)) (x * 3.0) "scalar mul"
              near 0.0 (vx |> Array.map (fun v -> 3.0 - v)) (3.0 - x) "scalar on the left"
              near 1e-9 [| Array.sum vx |] (x.Sum()) "sum"
              // past 4M elements the whole-tensor sum takes one contiguous share per core
              let big = Tensor.Randn([| (1 <<< 22) + 7 |], DType.Float64)
              let vbig = values big
              near 1e-9 [| Array.sum vbig |] (big.Sum()) "a sum past the caches"
              // float32: 4M roundings of the inputs, then sums of 8,192-element blocks (about 1,000
              // additions a lane each) and of the 512 block sums: an error near 2e-3, here held to
              // 0.02 (one running sum a lane, as before the blocks, reached 0.054 on an AVX2 machine)
              let s32 = (values (big.To(DType.Float32).Sum())).[0]
              Expect.isLessThan (abs (s32 - Array.sum vbig)) 0.02 "the same in float32"
              let z = x.Reshape(1, n).To(DType.Float32)
              near 1e-4 (values (z.To(DType.Float64).LogSoftmax(1))) (z.LogSoftmax 1) "one long log_softmax row"
          }
          test
              "fp32 log_softmax (its own vector exp) matches float64 for every row length, -inf logits and special rows" {
              let r = Random 29

              for len in 1..70 do
                  // float32 logits over [-100, 100] with some -inf (masked) entries, 3 rows: the float64
                  // result is then the exact answer, which the fp32 one may miss by a few ulps
                  let v = maskedLogits r len

                  let x64 = Tensor.FromArray(v, [| 3; len |])
                  let expected = values (x64.LogSoftmax 1)
                  let actual = values (x64.To(DType.Float32).LogSoftmax 1)

                  Array.iteri2
                      (fun i e a ->
                          let ok =
                              if Double.IsNegativeInfinity e then
                                  Double.IsNegativeInfinity a
                              else
                                  abs (a - e) <= 1e-6 + 4e-7 * abs e

                          if not ok then
                              failtestf "length %d, element %d: %g vs %g" len i a e)
                      expected
                      actual

              let special = specialRow (fun t -> t.LogSoftmax 1)

              Expect.isTrue (same (special [ infinity; 1.0 ]) [| nan; -infinity |]) "+inf: [nan, -inf] as PyTorch"
              Expect.isTrue (same (special [ nan; 1.0 ]) [| nan; nan |]) "a NaN poisons its row"
              Expect.isTrue (same (special [ -infinity; -infinity ]) [| nan; nan |]) "all -inf: NaN"
          }
          test
              "fp32 softmax (log softmax's last pass through the vector exp) matches the float64 formula for every row length" {
              let r = Random 31

              for len in 1..70 do
                  // as above: logits over [-100, 100], some -inf; the expected values straight from
                  // exp(xᵢ − m) / Σ exp(xⱼ − m) in float64 (no kernel involved)
                  let v = maskedLogits r len

                  let expected =
                      v
                      |> Array.chunkBySize len
                      |> Array.collect (fun row ->
                          let m = Array.max row
                          let e = row |> Array.map (fun x -> exp (x - m))
                          let total = Array.sum e
                          e |> Array.map (fun x -> x / total))

                  let actual = values (Tensor.FromArray(v, [| 3; len |]).To(DType.Float32).Softmax 1)

                  Array.iteri2
                      (fun i e a ->
                          // the log-space error of log_softmax's test, as a relative error; below
                          // e^-87.33 (float32's normal range) the kernel gives 0
                          let ok =
                              if e < 1.2e-38 then
                                  a >= 0.0 && a <= 1.2e-38
                              else
                                  abs (a - e) <= (2e-6 + 4e-7 * abs (log e)) * e

                          if not ok then
                              failtestf "length %d, element %d: %g vs %g" len i a e)
                      expected
                      actual

              let special = specialRow (fun t -> t.Softmax 1)

              Expect.isTrue (same (special [ infinity; 1.0 ]) [| nan; 0.0 |]) "+inf: [nan, 0] as PyTorch"
              Expect.isTrue (same (special [ nan; 1.0 ]) [| nan; nan |]) "a NaN poisons its row"
              Expect.isTrue (same (special [ -infinity; -infinity ]) [| nan; nan |]) "all -inf: NaN"
          }
          test "the softmax kernel's vector exp is within 4 ulps of exp over [-87.3, 0], and 0 below" {
              let r = Random 31

              for _ in 1..2000 do
                  let t = -87.3 * r.NextDouble() |> float32
                  // 16 copies fill one Vector512: the vector path, not the scalar tail
                  let sum =
                      Cotangent.Backends.Cpu.ShiftedExp.Sum(ReadOnlySpan(Array.create 16 t), 0.0f)

                  let expected = exp (float t)
                  let err = abs (float sum / 16.0 - expected) / expected

                  if err > 4.0 * 1.19e-7 then
                      failtestf "exp %g: %g vs %g (relative error %g)" t (float sum / 16.0) expected err

              for t in [ -87.5f; -100.0f; -1e30f; -infinityf ] do
                  Expect.equal
                      (Cotangent.Backends.Cpu.ShiftedExp.Sum(ReadOnlySpan(Array.create 16 t), 0.0f))
                      0.0f
                      (sprintf "exp %g" t)
          }
          test "slices follow Python's rules: negative indices, clamping, steps" {
              let x = Tensor.Arange(10, DType.Float64)
              near 0.0 [| 2.0; 3.0; 4.0 |] (x.Slice(0, 2, 5)) "[2:5]"
              near 0.0 [| 7.0; 8.0 |] (x.Slice(0, -3, -1)) "[-3:-1]"
              near 0.0 [| 1.0; 4.0; 7.0 |] (x.Slice(0, 1, 100, 3)) "[1:100:3]"
              Expect.equal (x.Slice(0, 5, 2).Shape) [| 0 |] "empty"
          }
          test "views share storage and need no copy; reshape of a non-contiguous view copies correctly" {
              let x = Tensor.Arange(6, DType.Float64).Reshape(2, 3)
              near 0.0 [| 0.0; 3.0; 1.0; 4.0; 2.0; 5.0 |] (x.T.Reshape(-1)) "transpose then flatten"
              near 0.0 [| 1.0; 4.0 |] (x.Slice(1, 1, 2).Reshape(2)) "column 1"
              near 0.0 [| 0.0; 1.0; 2.0; 0.0; 1.0; 2.0 |] (x.Slice(0, 0, 1).Expand(2, 3)) "expand a row"
          }
          test "dtype promotion follows bool < int64 < float32 < float64" {
              let f32, f64t, i64 = Tensor.From 1.0f, Tensor.From 1.0, Tensor.From 2L
              Expect.equal (f32 + f64t).DType DType.Float64 "float32 + float64"
              Expect.equal (i64 + f32).DType DType.Float32 "int64 + float32"
              Expect.equal (i64 * 3.0).DType DType.Int64 "int64 * an integral number"
              Expect.equal (i64 / 2.5).DType DType.Float32 "int64 / a fraction"
              Expect.equal ((i64 * 3.0).ToArray<int64>()) [| 6L |] "int64 arithmetic"
          }
          test "erf and gelu match known values" {
              let x = Tensor.From(0.0, 0.5, 1.0, -2.0, 3.5)

              near
                  1e-15
                  [| 0.0
                     0.5204998778130465
                     0.8427007929497149
                     -0.9953222650189527
                     0.9999992569016276 |]
                  (x.Erf())
                  "erf (tables)"

              near
                  1e-14
                  [| 0.0; 0.5 * 0.5 * (1.0 + 0.3829249225480262); 0.8413447460685429 |]
                  (x.Slice(0, 0, 3).Gelu())
                  "gelu = x Φ(x)"
          }
          test "where, comparisons and casts" {
              let x = Tensor.From(-1.0, 0.0, 2.0)
              Expect.equal (x.Gt(0.0).ToArray<bool>()) [| false; false; true |] "gt"
              near 0.0 [| 0.0; 0.0; 2.0 |] (Tensor.Where(x.Gt 0.0, x, 0.0)) "where"
              Expect.equal (x.To(DType.Int64).ToArray<int64>()) [| -1L; 0L; 2L |] "cast to int64"
              Expect.equal (x.Gt(0.0).Sum().ToArray<int64>()) [| 1L |] "summing a mask counts"
          } ]

let printing =
    testList
        "printing"
        [ test "1-D float32, with dtype and device" {
              Expect.equal
                  (string (Tensor.From(0.1f, 1.0f, 0.5f)))
                  "tensor([0.1000, 1.0000, 0.5000], shape=[3], dtype=float32, device=cpu)"
                  "1-D"
          }
          test "integral floats, int64, bool and scalars" {
              Expect.equal
                  (string (Tensor.From(1.0, 2.0)))
                  "tensor([1., 2.], shape=[2], dtype=float64, device=cpu)"
                  "integral"

              Expect.equal
                  (string (Tensor.From(3L, -12L)))
                  "tensor([  3, -12], shape=[2], dtype=int64, device=cpu)"
                  "int64"

              Expect.equal
                  (string (Tensor.From(true, false)))
                  "tensor([ True, False], shape=[2], dtype=bool, device=cpu)"
                  "bool"

              Expect.equal (string (Tensor.Scalar 2.5)) "tensor(2.5000, shape=[], dtype=float32, device=cpu)" "scalar"
          }
          test "2-D nests rows; grad_fn and requires_grad show" {
              let x = Tensor.From(array2D [ [ 1.5; 2.0 ]; [ 3.0; 4.0 ] ]).RequireGrad()

              Expect.equal
                  (string x)
                  "tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]], shape=[2, 2], dtype=float64, device=cpu, requires_grad=True)"
                  "2-D leaf"

              Expect.stringContains (string (x * 2.0)) "grad_fn=<MulBackward>" "grad_fn"
          }
          test "big tensors are elided to three items per edge" {
              let s = string (Tensor.Arange(2000))
              Expect.stringContains s "[   0.,    1.,    2., ..., 1997., 1998., 1999.]" "edges"
              Expect.isLessThan s.Length 200 "short"
          }
          test "Item on a non-scalar names the shape" {
              throwsWith<InvalidOperationException, _> (fun () -> Tensor.Zeros(2).Item<float32>()) [ "item"; "[2]" ]
          } ]

let tests = testList "tensor" [ creation; kernels; printing ]
