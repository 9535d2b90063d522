/// Issue 15's scans, sorts and indexing ops against what PyTorch documents: the examples in its
/// docs (sort, topk, scatter, index_fill, take_along_dim, nonzero, the padding layers'
/// printed outputs), hand-derived values (cumprod's gradient through a zero, the vector norms
/// of arange(9) − 4) and plain loops (einsum, logcumsumexp). The gradients are the property
/// suite's (OpCases); here it is what the ops compute, and what they refuse.
module Cotangent.Tests.IndexingTests

open System
open Expecto
open Cotangent
open Cotangent.FSharp
open Cotangent.Tests.Check

let private i64 (values: int64 list) =
    Tensor.FromArray(Array.ofList values, [| values.Length |])

let private longs (t: Tensor) = t.ToArray<int64>()

let private scans =
    testList
        "scans"
        [ test "cumsum and cumprod run along the axis they are given" {
              near 0.0 [| 1.0; 3.0; 6.0; 10.0 |] ((f64 [ 1.0; 2.0; 3.0; 4.0 ]).CumSum 0) "cumsum"
              let m = f64s [ 2; 2 ] [ 1.0; 2.0; 3.0; 4.0 ]
              near 0.0 [| 1.0; 2.0; 4.0; 6.0 |] (m.CumSum 0) "cumsum down the columns"
              near 0.0 [| 1.0; 2.0; 3.0; 12.0 |] (m.CumProd -1) "cumprod along the rows"
              let ints = (i64 [ 1L; 2L; 3L ]).CumSum 0
              Expect.equal ints.DType DType.Int64 "int64 sums stay int64"
              Expect.equal (longs ints) [| 1L; 3L; 6L |] "int64 cumsum"
              let b = Tensor.FromArray([| true; false; true |], [| 3 |]).CumSum 0
              Expect.equal (longs b) [| 1L; 1L; 2L |] "bool counts as int64, as in PyTorch"
          }
          test "cumprod's gradient through a zero is the product of the others" {
              // y = (x0, x0·x1, x0·x1·x2) at x = (2, 0, 3): ∂Σy/∂x = (1 + x1 + x1·x2, x0 + x0·x2, x0·x1)
              let x = (f64 [ 2.0; 0.0; 3.0 ]).RequireGrad()
              let y = x.CumProd 0
              near 0.0 [| 2.0; 0.0; 0.0 |] y "values"
              y.Sum().Backward()
              near 1e-15 [| 1.0; 8.0; 0.0 |] x.Grad "gradient"
              // two zeros: only the first one's place and those before it get a gradient
              let x2 = (f64 [ 2.0; 0.0; 3.0; 0.0; 5.0 ]).RequireGrad()
              (x2.CumProd 0).Sum().Backward()
              near 1e-15 [| 1.0; 8.0; 0.0; 0.0; 0.0 |] x2.Grad "gradient with two zeros"
          }
          test "logcumsumexp is log Σ exp of each prefix, without overflow" {
              let v = [| 0.3; -1.2; 2.5; 0.0; -0.7 |]

              let expected =
                  Array.init v.Length (fun i -> log (Array.sum (Array.map exp v.[..i])))

              near 1e-15 expected ((Tensor.FromArray(v, [| 5 |])).LogCumSumExp 0) "against a loop"
              near 1e-15 [| 1000.0; 1000.0 + log 2.0 |] ((f64 [ 1000.0; 1000.0 ]).LogCumSumExp 0) "large values"
              Expect.equal (values ((f64 [ -infinity; 0.0 ]).LogCumSumExp 0)) [| -infinity; 0.0 |] "−∞ leads"
          } ]

let private sorting =
    testList
        "sort, argsort, topk"
        [ test "sort is stable and puts NaN last, first when descending" {
              let struct (v, i) = (f64 [ 3.0; 1.0; 2.0 ]).Sort()
              near 0.0 [| 1.0; 2.0; 3.0 |] v "values"
              Expect.equal (longs i) [| 1L; 2L; 0L |] "indices"
              let ties = f64 [ 1.0; 0.0; 1.0; 0.0 ]
              Expect.equal (longs (ties.ArgSort())) [| 1L; 3L; 0L; 2L |] "ascending keeps equal elements in order"
              Expect.equal (longs (ties.ArgSort(descending = true))) [| 0L; 2L; 1L; 3L |] "so does descending"
              let withNan = f64 [ 1.0; nan; 2.0 ]
              Expect.equal (longs (withNan.ArgSort())) [| 0L; 2L; 1L |] "NaN after the numbers"
              Expect.equal (longs (withNan.ArgSort(descending = true))) [| 1L; 2L; 0L |] "NaN first, descending"
          }
          test "topk as in torch.topk's docs" {
              // torch.topk(torch.arange(1., 6.), 3) = values [5, 4, 3], indices [4, 3, 2]
              let struct (v, i) = (f64 [ 1.0; 2.0; 3.0; 4.0; 5.0 ]).TopK 3
              near 0.0 [| 5.0; 4.0; 3.0 |] v "values"
              Expect.equal (longs i) [| 4L; 3L; 2L |] "indices"
              let struct (s, j) = (f64 [ 1.0; 2.0; 3.0; 4.0; 5.0 ]).TopK(2, largest = false)
              near 0.0 [| 1.0; 2.0 |] s "smallest"
              Expect.equal (longs j) [| 0L; 1L |] "their indices"
              throwsWith<OpArgumentException, _> (fun () -> (f64 [ 1.0 ]).TopK 2) [ "topk"; "k = 2"; "size 1" ]
          }
          test "the device's bitonic sort orders long rows as the CPU does" {
              let r = Random 7
              // rows of 1000 (not a power of two) with many ties and a few NaN
              let v = Array.init 3000 (fun _ -> if r.Next 50 = 0 then nan else float (r.Next 20))

              let x = Tensor.FromArray(v, [| 3; 1000 |])
              let sim = x.To(Device.Simulated 0)

              for descending in [ false; true ] do
                  for axis in [ 0; 1 ] do
                      Expect.equal
                          (longs ((sim.ArgSort(axis, descending)).To Device.Cpu))
                          (longs (x.ArgSort(axis, descending)))
                          (sprintf "axis %d descending %b" axis descending)
          }
          test "take_along_dim with argsort sorts, as its docs show" {
              // t = [[10, 30, 20], [60, 40, 50]]: take_along_dim(t, argsort(t, 1), 1) sorts each row
              let t = f64s [ 2; 3 ] [ 10.0; 30.0; 20.0; 60.0; 40.0; 50.0 ]
              near 0.0 [| 10.0; 20.0; 30.0; 40.0; 50.0; 60.0 |] (t.TakeAlongDim(t.ArgSort 1, 1)) "sorted rows"
              near 0.0 [| 60.0 |] (t.TakeAlongDim(t.ArgMax().Reshape 1)) "flat, at argmax"
          } ]

let private indexing =
    testList
        "indexing"
        [ test "scatter as in torch.scatter's docs" {
              let src = Tensor.Arange(1.0, 11.0, 1.0, DType.Float64).Reshape(2, 5)

              let y0 =
                  Tensor
                      .Zeros([| 3; 5 |], DType.Float64)
                      .Scatter(0, Tensor.FromArray([| 0L; 1L; 2L; 0L |], [| 1; 4 |]), src)

              near 0.0 [| 1.0; 0.0; 0.0; 4.0; 0.0; 0.0; 2.0; 0.0; 0.0; 0.0; 0.0; 0.0; 3.0; 0.0; 0.0 |] y0 "along 0"
              let index = Tensor.FromArray([| 0L; 1L; 2L; 0L; 1L; 4L |], [| 2; 3 |])
              let y1 = Tensor.Zeros([| 3; 5 |], DType.Float64).Scatter(1, index, src)
              near 0.0 [| 1.0; 2.0; 3.0; 0.0; 0.0; 6.0; 7.0; 0.0; 0.0; 8.0; 0.0; 0.0; 0.0; 0.0; 0.0 |] y1 "along 1"

              throwsWith<OpArgumentException, _>
                  (fun () ->
                      Tensor
                          .Zeros([| 3; 5 |], DType.Float64)
                          .Scatter(1, Tensor.FromArray([| 0L; 0L |], [| 1; 2 |]), src))
                  [ "scatter"; "2 entries"; "undefined" ]
          }
          test "index_fill, index_put and masked_select" {
              // torch.Tensor.index_fill's docs: x.index_fill(1, [0, 2], -1)
              let x = f64s [ 3; 3 ] [ 1.0; 2.0; 3.0; 4.0; 5.0; 6.0; 7.0; 8.0; 9.0 ]

              near
                  0.0
                  [| -1.0; 2.0; -1.0; -1.0; 5.0; -1.0; -1.0; 8.0; -1.0 |]
                  (x.IndexFill(1, i64 [ 0L; 2L ], -1.0))
                  "index_fill"

              let z = Tensor.Zeros([| 3; 2 |], DType.Float64)
              let put = z.IndexPut([| i64 [ 0L; -1L ] |], f64s [ 2; 2 ] [ 1.0; 2.0; 3.0; 4.0 ])
              near 0.0 [| 1.0; 2.0; 0.0; 0.0; 3.0; 4.0 |] put "rows 0 and −1 (the last)"

              let acc =
                  z.IndexPut([| i64 [ 0L; 0L; 2L ]; i64 [ 1L; 1L; 0L ] |], f64 [ 1.0 ], accumulate = true)

              near 0.0 [| 0.0; 2.0; 0.0; 0.0; 1.0; 0.0 |] acc "accumulate adds repeats"

              throwsWith<OpArgumentException, _>
                  (fun () -> z.IndexPut([| i64 [ 1L; 1L ] |], f64 [ 5.0 ]))
                  [ "index_put"; "undefined" ]

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> z.IndexPut([| i64 [ 3L ] |], f64 [ 5.0 ]))
                  [ "index_put"; "index 3"; "size 3" ]

              let m = f64s [ 2; 2 ] [ 1.0; 2.0; 3.0; 4.0 ]
              near 0.0 [| 3.0; 4.0 |] (m.MaskedSelect(m.Gt 2.0)) "masked_select"
              near 0.0 [| 1.0; 3.0 |] (m.MaskedSelect(Tensor.FromArray([| true; false |], [| 2 |]))) "a broadcast mask"
          }
          test "nonzero as in torch.nonzero's docs" {
              Expect.equal (longs ((f64 [ 1.0; 1.0; 1.0; 0.0; 1.0 ]).Nonzero())) [| 0L; 1L; 2L; 4L |] "1-D"
              let d = f64s [ 4; 4 ] [ 0.6; 0; 0; 0; 0; 0.4; 0; 0; 0; 0; 1.2; 0; 0; 0; 0; -0.4 ]
              let nz = d.Nonzero()
              Expect.equal nz.Shape [| 4; 2 |] "count × rank"
              Expect.equal (longs nz) [| 0L; 0L; 1L; 1L; 2L; 2L; 3L; 3L |] "the diagonal"
          }
          test "triu of a bool mask stays bool" {
              let t = Tensor.Ones([| 2; 3 |], DType.Bool).Triu 1
              Expect.equal t.DType DType.Bool "dtype"
              Expect.equal (t.ToArray<bool>()) [| false; true; true; false; false; true |] "above the diagonal"
          }
          test "diag builds and reads diagonals" {
              let m = (f64 [ 1.0; 2.0; 3.0 ]).Diag 1
              Expect.equal m.Shape [| 4; 4 |] "shape"

              near
                  0.0
                  [| 0.0
                     1.0
                     0.0
                     0.0
                     0.0
                     0.0
                     2.0
                     0.0
                     0.0
                     0.0
                     0.0
                     3.0
                     0.0
                     0.0
                     0.0
                     0.0 |]
                  m
                  "above the main diagonal"

              near 0.0 [| 1.0; 2.0; 3.0 |] (m.Diag 1) "read back"
          }
          test "pad as the padding layers' docs print it" {
              // ReflectionPad1d(2), ReplicationPad1d(2), CircularPad1d(2) on arange(8).reshape(1, 2, 4)
              let x = Tensor.Arange(0.0, 8.0, 1.0, DType.Float64).Reshape(1, 2, 4)
              let rows (a: float list) (b: float list) = Array.ofList (a @ b)

              near
                  0.0
                  (rows [ 2; 1; 0; 1; 2; 3; 2; 1 ] [ 6; 5; 4; 5; 6; 7; 6; 5 ])
                  (x.Pad([| 2; 2 |], "reflect"))
                  "reflect"

              near
                  0.0
                  (rows [ 0; 0; 0; 1; 2; 3; 3; 3 ] [ 4; 4; 4; 5; 6; 7; 7; 7 ])
                  (x.Pad([| 2; 2 |], "replicate"))
                  "replicate"

              near
                  0.0
                  (rows [ 2; 3; 0; 1; 2; 3; 0; 1 ] [ 6; 7; 4; 5; 6; 7; 4; 5 ])
                  (x.Pad([| 2; 2 |], "circular"))
                  "circular"

              near
                  0.0
                  (rows [ 3.5; 0; 1; 2; 3 ] [ 3.5; 4; 5; 6; 7 ])
                  (x.Pad([| 1; 0 |], value = 3.5))
                  "constant 3.5 before"

              near 0.0 (rows [ 1; 2 ] [ 5; 6 ]) (x.Pad([| -1; -1 |])) "negative amounts crop"
              // ReflectionPad2d(2) on arange(9).reshape(1, 1, 3, 3): the docs' 7×7 output
              let y =
                  Tensor.Arange(0.0, 9.0, 1.0, DType.Float64).Reshape(1, 1, 3, 3).Pad([| 2; 2; 2; 2 |], "reflect")

              let r0, r1, r2 =
                  [ 8.0; 7; 6; 7; 8; 7; 6 ], [ 5.0; 4; 3; 4; 5; 4; 3 ], [ 2.0; 1; 0; 1; 2; 1; 0 ]

              near 0.0 (Array.ofList (r0 @ r1 @ r2 @ r1 @ r0 @ r1 @ r2)) y "reflect 2-D"

              throwsWith<OpArgumentException, _>
                  (fun () -> x.Pad([| 4; 0 |], "reflect"))
                  [ "pad"; "reflect"; "less than the size" ]

              throwsWith<OpArgumentException, _> (fun () -> x.Pad([| 1 |])) [ "pad"; "pairs" ]
          } ]

/// Contractions by explicit loops over every index.
let private einsum =
    let r = Random 3

    let rand (s: int[]) =
        Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> r.NextDouble() - 0.5), s)

    testList
        "einsum"
        [ test "matrix products, attention scores and a chain of three" {
              let a, b = rand [| 3; 4 |], rand [| 4; 2 |]
              let av, bv = values a, values b

              let ab =
                  Array.init 6 (fun p -> Seq.sum (seq { for k in 0..3 -> av.[p / 2 * 4 + k] * bv.[k * 2 + p % 2] }))

              near 1e-14 ab (Tensor.Einsum("ij,jk->ik", a, b)) "ij,jk->ik"
              near 1e-14 ab (Tensor.Einsum("ij,jk", a, b)) "implicit output"

              near
                  1e-14
                  (Array.init 6 (fun p -> ab.[p % 3 * 2 + p / 3]))
                  (Tensor.Einsum("ij,jk->ki", a, b))
                  "transposed output"

              let q, k = rand [| 2; 3; 4; 5 |], rand [| 2; 3; 6; 5 |]
              let qv, kv = values q, values k
              // bhqd,bhkd->bhqk: scores[b,h,i,j] = Σ_d q[b,h,i,d]·k[b,h,j,d]
              let scores =
                  Array.init (2 * 3 * 4 * 6) (fun p ->
                      let bh, i, j = p / 24, p / 6 % 4, p % 6
                      Seq.sum (seq { for d in 0..4 -> qv.[(bh * 4 + i) * 5 + d] * kv.[(bh * 6 + j) * 5 + d] }))

              near 1e-14 scores (Tensor.Einsum("bhqd,bhkd->bhqk", q, k)) "attention scores"

              let x, y, z = rand [| 2; 3; 4 |], rand [| 2; 4; 5 |], rand [| 5; 3 |]
              let xv, yv, zv = values x, values y, values z
              // ijk,ikl,lm->jm
              let chain =
                  Array.init 9 (fun p ->
                      let j, m = p / 3, p % 3

                      Seq.sum (
                          seq {
                              for i in 0..1 do
                                  for kk in 0..3 do
                                      for l in 0..4 ->
                                          xv.[(i * 3 + j) * 4 + kk] * yv.[(i * 4 + kk) * 5 + l] * zv.[l * 3 + m]
                          }
                      ))

              near 1e-14 chain (Tensor.Einsum("ijk,ikl,lm->jm", x, y, z)) "three operands"
          }
          test "diagonals, traces, broadcasting ellipses" {
              let m = rand [| 3; 3 |]
              let mv = values m
              near 1e-15 [| mv.[0] + mv.[4] + mv.[8] |] (Tensor.Einsum("ii", m)) "trace"
              near 1e-15 [| mv.[0]; mv.[4]; mv.[8] |] (Tensor.Einsum("ii->i", m)) "diagonal"
              let a, b = rand [| 2; 1; 3; 4 |], rand [| 5; 4; 2 |]
              let y = Tensor.Einsum("...ij,...jk->...ik", a, b)
              Expect.equal y.Shape [| 2; 5; 3; 2 |] "batch axes broadcast"
              let av, bv = values a, values b

              let expected =
                  Array.init (2 * 5 * 3 * 2) (fun p ->
                      let s, t, i, kk = p / 30, p / 6 % 5, p / 2 % 3, p % 2
                      Seq.sum (seq { for j in 0..3 -> av.[(s * 3 + i) * 4 + j] * bv.[(t * 4 + j) * 2 + kk] }))

              near 1e-14 expected y "against loops"
          }
          test "implicit outputs sort capitals first, and size 1 broadcasts, as PyTorch's" {
              let x = rand [| 2; 3 |]
              Expect.equal (Tensor.Einsum("bA", x)).Shape [| 3; 2 |] "bA → Ab"

              near
                  0.0
                  [| 1.0; 1.0; 1.0 |]
                  (Tensor.Einsum("i,i->i", Tensor.Ones([| 1 |], DType.Float64), Tensor.Ones([| 3 |], DType.Float64)))
                  "a size-1 letter broadcasts"
          }
          test "bad equations name einsum and what is wrong" {
              let a, b = rand [| 3; 4 |], rand [| 5; 2 |]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.Einsum("ij,jk->ik", a, b))
                  [ "einsum"; "letter 'j'"; "size 4"; "5" ]

              throwsWith<OpArgumentException, _> (fun () -> Tensor.Einsum("ij->k", a)) [ "einsum"; "'k'" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Einsum("ij,jk", a))
                  [ "einsum"; "2 operand term(s)"; "1 tensor(s)" ]

              throwsWith<ShapeMismatchException, _> (fun () -> Tensor.Einsum("ijk", a)) [ "einsum"; "3 axes" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Einsum("i1", a)) [ "einsum"; "'1'" ]
          } ]

let private norms =
    testList
        "vector norms"
        [ test "the norms of arange(9) − 4, by their definitions" {
              let a = Tensor.Arange(0.0, 9.0, 1.0, DType.Float64) - 4.0
              near 1e-15 [| sqrt 60.0 |] (a.Norm 2.0) "2"
              near 0.0 [| 20.0 |] (a.Norm 1.0) "1"
              near 1e-15 [| Math.Cbrt 200.0 |] (a.Norm 3.0) "3: (2·(64 + 27 + 8 + 1))^(1/3)"
              near 0.0 [| 4.0 |] (a.Norm infinity) "∞"
              near 0.0 [| 0.0 |] (a.Norm -infinity) "−∞"
              near 0.0 [| 8.0 |] (a.Norm 0.0) "0 counts the nonzeros"
          }
          test "the gradient at the zero vector is 0, not NaN" {
              for p in [ 2.0; 3.0; 0.5 ] do
                  let x = Tensor.Zeros([| 3 |], DType.Float64).RequireGrad()
                  (x.Norm p).Backward()
                  near 0.0 [| 0.0; 0.0; 0.0 |] x.Grad (sprintf "p = %g" p)
          } ]


let private ix (e: TensorIndex list) = Array.ofList e
let private at (i: int) = TensorIndex.op_Implicit i
let private span (r: Range) = TensorIndex.op_Implicit r
let private tix (t: Tensor) = TensorIndex.op_Implicit t

let private indexer =
    // x[a, b, c] = 12a + 4b + c
    let x = Tensor.Arange(0.0, 24.0, 1.0, DType.Float64).Reshape(2, 3, 4)

    testList
        "indexer and F# slicing"
        [ test "F# slices include their end and count negative bounds from it" {
              let y = x.[1, 0..1, *]
              Expect.equal y.Shape [| 2; 4 |] "x[1, 0..1, *]"
              near 0.0 [| 12.0 .. 19.0 |] y "values"
              near 0.0 [| 3.0; 7.0; 11.0; 15.0; 19.0; 23.0 |] x.[*, *, 3] "x[*, *, 3]"
              near 0.0 [| 10.0; 11.0 |] x.[0, -1, -2 ..] "x[0, -1, -2..]"
              near 0.0 [| 12.0 .. 23.0 |] x.[1..] "x[1..] keeps the other axes"
              near 0.0 [| 6.0 |] (x.[0, 1, 2].Reshape 1) "x[0, 1, 2], ints alone"
          }
          test "the core's indexer: ints, ranges, steps, ellipsis, new axes" {
              near 0.0 [| 12.0 .. 23.0 |] x.[ix [ at 1 ]] "x[1]"
              near 0.0 [| 23.0 |] (x.[ix [ at -1; at -1; at -1 ]].Reshape 1) "x[-1, -1, -1]"

              near
                  0.0
                  [| 20.0; 21.0; 22.0; 23.0 |]
                  x.[ix
                      [ TensorIndex.op_Implicit (Index(1, true))
                        span (Range(Index(2), Index(0, true))) ]]
                  "x[^1, 2..]"

              near
                  0.0
                  [| 0.0; 2.0; 12.0; 14.0 |]
                  x.[ix [ span Range.All; at 0; TensorIndex.Slice(Range.All, 2) ]]
                  "x[.., 0, ::2]"

              let e = x.[ix [ TensorIndex.Ellipsis; at 0 ]]
              Expect.equal e.Shape [| 2; 3 |] "x[..., 0]"
              near 0.0 [| 0.0; 4.0; 8.0; 12.0; 16.0; 20.0 |] e "values"
              Expect.equal (x.[ix [ TensorIndex.NewAxis; at 0; TensorIndex.NewAxis ]]).Shape [| 1; 1; 3; 4 |] "new axes"

              Expect.equal
                  (x.[ix [ span (Range(Index(5), Index(9))) ]]).Shape
                  [| 0; 3; 4 |]
                  "a range past the end is empty, as Python's"
          }
          test "tensor entries gather, pair up when adjacent, and masks pick" {
              let y = x.[ix [ tix (i64 [ 1L; 0L; 1L ]) ]]
              Expect.equal y.Shape [| 3; 3; 4 |] "x[[1, 0, 1]]"
              near 0.0 [| 12.0 .. 15.0 |] (y.[0, 0, *]) "first pick"
              let pairs = x.[ix [ tix (i64 [ 0L; 1L ]); tix (i64 [ 2L; -3L ]) ]]
              Expect.equal pairs.Shape [| 2; 4 |] "x[[0, 1], [2, -3]]"
              near 0.0 (Array.append [| 8.0 .. 11.0 |] [| 12.0 .. 15.0 |]) pairs "x[0, 2, :] and x[1, 0, :]"
              let mask = Tensor.FromArray([| true; false; false; false; true; true |], [| 2; 3 |])
              let m = x.[ix [ tix mask ]]
              Expect.equal m.Shape [| 3; 4 |] "x[mask]"

              near
                  0.0
                  (Array.concat [ [| 0.0 .. 3.0 |]; [| 16.0 .. 19.0 |]; [| 20.0 .. 23.0 |] ])
                  m
                  "rows where the mask holds"
          }
          test "gradients flow back through the indexer" {
              let v = x.RequireGrad()
              v.[1, 0..1, 1..2].Sum().Backward()
              let g = values v.Grad

              let expected =
                  Array.init 24 (fun p ->
                      if p / 12 = 1 && p / 4 % 3 <= 1 && p % 4 >= 1 && p % 4 <= 2 then
                          1.0
                      else
                          0.0)

              Expect.equal g expected "ones where the slice read"
          }
          test "bad indices name the indexer" {
              throwsWith<IndexOutOfRangeException, _> (fun () -> x.[ix [ at 2 ]]) [ "index"; "out of range"; "size 2" ]

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> x.[ix [ at 0; at 0; at 0; at 0 ]])
                  [ "index"; "too many" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> x.[ix [ TensorIndex.Ellipsis; TensorIndex.Ellipsis ]])
                  [ "index"; "ellipsis" ]

              throwsWith<IndexOutOfRangeException, _> (fun () -> x.[ix [ tix (i64 [ 2L ]) ]]) [ "index"; "2"; "size 2" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> x.[ix [ tix (i64 [ 0L ]); at 0; tix (i64 [ 0L ]) ]])
                  [ "index"; "apart" ]
          } ]

let tests =
    testList "indexing and scans" [ scans; sorting; indexing; einsum; norms; indexer ]
