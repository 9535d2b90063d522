/// Issue 15's losses against the formulas torch.nn's docs give, evaluated here by plain loops:
/// class weights and ignore_index in the weighted mean, label smoothing, [N, C, d] inputs,
/// pos_weight, the −100 clamp of binary cross-entropy, KL's batchmean, the piecewise losses.
module Cotangent.Tests.LossTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

let private logSoftmax (row: float[]) =
    let m = Array.max row
    let lse = m + log (Array.sumBy (fun v -> exp (v - m)) row)
    row |> Array.map (fun v -> v - lse)

let private scalar (t: Tensor) = t.Item<float>()

let private r = Random 11

let private rand n =
    Array.init n (fun _ -> r.NextDouble() * 4.0 - 2.0)

let tests =
    testList
        "losses"
        [ test "cross_entropy: class weights and ignore_index in the weighted mean" {
              let n, c = 4, 3
              let x = rand (n * c)
              let labels = [| 2L; -100L; 0L; 2L |]
              let w = [| 0.5; 2.0; 1.5 |]
              let lp = Array.init n (fun i -> logSoftmax x.[i * c .. i * c + c - 1])
              let kept = [ 0; 2; 3 ]

              let num =
                  kept |> List.sumBy (fun i -> -w.[int labels.[i]] * lp.[i].[int labels.[i]])

              let den = kept |> List.sumBy (fun i -> w.[int labels.[i]])
              let logits = Tensor.FromArray(x, [| n; c |])
              let target = Tensor.FromArray(labels, [| n |])
              let wt = Tensor.FromArray(w, [| c |])
              Expect.floatClose Accuracy.veryHigh (scalar (Tensor.CrossEntropy(logits, target, wt))) (num / den) "mean"

              Expect.floatClose
                  Accuracy.veryHigh
                  (scalar (Tensor.CrossEntropy(logits, target, wt, reduction = Reduction.Sum)))
                  num
                  "sum"

              let none = Tensor.CrossEntropy(logits, target, wt, reduction = Reduction.None)
              Expect.equal (values none).[1] 0.0 "the ignored sample's loss is 0"
              // label smoothing 0.2, as ATen mixes it: (1 − ε)·nll + ε/C · Σ_c −w_c log p_c over the same weights
              let eps = 0.2

              let smooth =
                  kept
                  |> List.sumBy (fun i -> -(Array.fold2 (fun a wc l -> a + wc * l) 0.0 w lp.[i]))

              let expected = (1.0 - eps) * num / den + eps / float c * smooth / den

              Expect.floatClose
                  Accuracy.veryHigh
                  (scalar (Tensor.CrossEntropy(logits, target, wt, labelSmoothing = eps)))
                  expected
                  "smoothing"
          }
          test "cross_entropy over [N, C, d] and against probabilities" {
              let n, c, d = 2, 3, 2
              let x = rand (n * c * d)
              let labels = [| 0L; 2L; 1L; 1L |]
              let at i k j = x.[(i * c + k) * d + j]
              let mutable total = 0.0

              for i in 0 .. n - 1 do
                  for j in 0 .. d - 1 do
                      let lp = logSoftmax (Array.init c (fun k -> at i k j))
                      total <- total - lp.[int labels.[i * d + j]]

              let y =
                  Tensor.CrossEntropy(Tensor.FromArray(x, [| n; c; d |]), Tensor.FromArray(labels, [| n; d |]))

              Expect.floatClose Accuracy.veryHigh (scalar y) (total / float (n * d)) "spatial mean"
              let p = [| 0.2; 0.5; 0.3; 1.0; 0.0; 0.0 |]
              let x2 = rand 6
              let lp = [| logSoftmax x2.[0..2]; logSoftmax x2.[3..5] |]

              let expected =
                  -(Array.sum (Array.init 6 (fun k -> p.[k] * lp.[k / 3].[k % 3])) / 2.0)

              Expect.floatClose
                  Accuracy.veryHigh
                  (scalar (Tensor.CrossEntropy(Tensor.FromArray(x2, [| 2; 3 |]), Tensor.FromArray(p, [| 2; 3 |]))))
                  expected
                  "probabilities"
          }
          test "a mean over only ignored targets is refused, not NaN" {
              let logits = Tensor.FromArray(rand 6, [| 2; 3 |])
              let target = Tensor.FromArray([| -100L; -100L |], [| 2 |])

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.CrossEntropy(logits, target, ignoreIndex = -100))
                  [ "cross_entropy"; "ignored"; "NaN" ]

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> Tensor.NllLoss(logits, Tensor.FromArray([| 0L; 3L |], [| 2 |]), reduction = Reduction.Sum))
                  [ "nll_loss"; "label 3"; "3 classes" ]
          }
          test "binary cross-entropy: pos_weight, weights, and the −100 clamp" {
              let x, t = [| 0.3; -1.2; 2.0 |], [| 1.0; 0.0; 0.4 |]
              let pw, w = [| 3.0; 3.0; 3.0 |], [| 1.0; 0.5; 2.0 |]
              let sigma v = 1.0 / (1.0 + exp -v)

              let expected =
                  Array.init 3 (fun i ->
                      -w.[i]
                      * (pw.[i] * t.[i] * log (sigma x.[i]) + (1.0 - t.[i]) * log (1.0 - sigma x.[i])))

              let y =
                  Tensor.BinaryCrossEntropyWithLogits(
                      f64 (List.ofArray x),
                      f64 (List.ofArray t),
                      f64 (List.ofArray w),
                      f64 [ 3.0 ],
                      Reduction.None
                  )

              near 1e-14 expected y "with logits"
              let probs = f64 [ 0.0; 1.0; 0.25 ]
              // log 0 is clamped to −100: a confident wrong answer costs 100, not ∞
              near
                  1e-14
                  [| 100.0; 100.0; -(0.5 * log 0.25 + 0.5 * log 0.75) |]
                  (Tensor.BinaryCrossEntropy(probs, f64 [ 1.0; 0.0; 0.5 ], reduction = Reduction.None))
                  "bce"

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.BinaryCrossEntropy(f64 [ 1.5 ], f64 [ 1.0 ]))
                  [ "bce"; "[0, 1]" ]

              // at exactly 0 and 1 (σ of a large logit in float32) the gradient stays finite: (1 − t)/(1 − x) − t/x
              let edge = (f64 [ 0.0; 1.0 ]).RequireGrad()
              Tensor.BinaryCrossEntropy(edge, f64 [ 0.0; 1.0 ], reduction = Reduction.Sum).Backward()
              near 0.0 [| 1.0; -1.0 |] edge.Grad "finite at the ends"
          }
          test "kl_div: t·(log t − x), 0 where t = 0, and batchmean" {
              let x = [| -1.0; -2.0; -0.5; -3.0 |]
              let t = [| 0.5; 0.0; 0.25; 0.25 |]

              let pointwise =
                  Array.map2 (fun xi ti -> if ti > 0.0 then ti * (log ti - xi) else 0.0) x t

              let input, target = Tensor.FromArray(x, [| 2; 2 |]), Tensor.FromArray(t, [| 2; 2 |])
              near 1e-15 pointwise (Tensor.KlDiv(input, target, Reduction.None)) "pointwise"

              Expect.floatClose
                  Accuracy.veryHigh
                  (scalar (Tensor.KlDiv(input, target, Reduction.BatchMean)))
                  (Array.sum pointwise / 2.0)
                  "batchmean"

              let lt = t |> Array.map (fun v -> log (v + 0.1))
              let expectedLog = Array.map2 (fun xi l -> exp l * (l - xi)) x lt

              near
                  1e-15
                  expectedLog
                  (Tensor.KlDiv(input, Tensor.FromArray(lt, [| 2; 2 |]), Reduction.None, true))
                  "log target"

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.L1Loss(input, target, Reduction.BatchMean))
                  [ "l1_loss"; "BatchMean" ]
          }
          test "the piecewise losses and the embedding losses, by their formulas" {
              let d = [| -3.0; -0.4; 0.0; 0.7; 2.5 |]
              let a, b = f64 (List.ofArray d), Tensor.Zeros([| 5 |], DType.Float64)
              near 0.0 (d |> Array.map abs) (Tensor.L1Loss(a, b, Reduction.None)) "l1"

              let huber delta v =
                  if abs v < delta then
                      0.5 * v * v
                  else
                      delta * (abs v - 0.5 * delta)

              near 1e-15 (d |> Array.map (huber 2.0)) (Tensor.HuberLoss(a, b, 2.0, Reduction.None)) "huber δ = 2"

              let smooth beta v =
                  if abs v < beta then
                      0.5 * v * v / beta
                  else
                      abs v - 0.5 * beta

              near
                  1e-15
                  (d |> Array.map (smooth 0.5))
                  (Tensor.SmoothL1Loss(a, b, 0.5, Reduction.None))
                  "smooth l1 β = 0.5"

              let x1, x2 = [| 1.0; 0.0; 1.0; 1.0 |], [| 0.0; 2.0; 1.0; 1.0 |]

              let y =
                  Tensor.CosineEmbeddingLoss(
                      Tensor.FromArray(x1, [| 2; 2 |]),
                      Tensor.FromArray(x2, [| 2; 2 |]),
                      f64 [ 1.0; -1.0 ],
                      0.1,
                      Reduction.None
                  )
              // (1, 0) and (0, 2): cos 0, y = 1 → 1 − 0; (1, 1) and (1, 1): cos 1, y = −1 → max(0, 1 − 0.1)
              near 1e-15 [| 1.0; 0.9 |] y "cosine embedding"

              near
                  0.0
                  [| 0.0; 2.5 |]
                  (Tensor.MarginRankingLoss(f64 [ 2.0; 0.0 ], f64 [ 1.0; 1.5 ], f64 [ 1.0; 1.0 ], 1.0, Reduction.None))
                  "margin ranking"

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.MarginRankingLoss(f64 [ 1.0 ], f64 [ 1.0 ], f64 [ 0.5 ]))
                  [ "margin_ranking_loss"; "1 or −1" ]
          }
          test "ctc_loss is −log Σ over every alignment that collapses to the target (all C^T paths enumerated)" {
              let t, n, c = 4, 3, 3
              // per frame and sample, log-probabilities over the classes (blank 0)
              let lp = Array.init (t * n) (fun _ -> logSoftmax (rand c))
              let logProbs = Tensor.FromArray(Array.concat lp, [| t; n; c |])
              let targets = [| [| 1L; 2L |]; [| 2L; 2L |]; [| 1L |] |]
              let inputLengths = [| 4; 4; 3 |]

              /// merge repeats, then drop blanks
              let collapse (path: int list) =
                  path
                  |> List.fold (fun (acc, prev) k -> ((if k <> prev && k <> 0 then k :: acc else acc), k)) ([], -1)
                  |> fst
                  |> List.rev

              let rec paths len =
                  if len = 0 then
                      [ [] ]
                  else
                      [ for k in 0 .. c - 1 do
                            for p in paths (len - 1) -> k :: p ]

              let expected =
                  Array.init n (fun i ->
                      let target = targets.[i] |> Array.map int |> List.ofArray

                      paths inputLengths.[i]
                      |> List.filter (fun p -> collapse p = target)
                      |> List.sumBy (fun p -> exp (p |> List.mapi (fun f k -> lp.[f * n + i].[k]) |> List.sum))
                      |> fun total -> -(log total))

              // [N, S] padded (the pad value is never read) and the 1-D concatenation give the same
              let padded = Tensor.FromArray([| 1L; 2L; 2L; 2L; 1L; 0L |], [| 3; 2 |])
              let lengths = [| 2; 2; 1 |]

              near
                  1e-12
                  expected
                  (Tensor.CtcLoss(logProbs, padded, inputLengths, lengths, reduction = Reduction.None))
                  "per sample"

              let flat = Tensor.FromArray([| 1L; 2L; 2L; 2L; 1L |], [| 5 |])

              near
                  1e-12
                  expected
                  (Tensor.CtcLoss(logProbs, flat, inputLengths, lengths, reduction = Reduction.None))
                  "1-D targets"

              let mean = (expected.[0] / 2.0 + expected.[1] / 2.0 + expected.[2] / 1.0) / 3.0

              Expect.floatClose
                  Accuracy.veryHigh
                  (scalar (Tensor.CtcLoss(logProbs, padded, inputLengths, lengths)))
                  mean
                  "mean of loss / target length"

              // [2, 2, 2] needs 2, blank, 2, blank, 2: five frames, and only four exist
              let x = logProbs.RequireGrad()
              let far = Tensor.FromArray([| 2L; 2L; 2L; 1L; 0L; 0L; 1L; 0L; 0L |], [| 3; 3 |])

              let inf =
                  Tensor.CtcLoss(x, far, inputLengths, [| 3; 1; 1 |], reduction = Reduction.None)

              Expect.isTrue (Double.IsPositiveInfinity (values inf).[0]) "an unreachable target costs +∞"

              let zeroed =
                  Tensor.CtcLoss(x, far, inputLengths, [| 3; 1; 1 |], reduction = Reduction.Sum, zeroInfinity = true)

              zeroed.Backward()
              let g = values x.Grad
              Expect.isTrue (Array.forall Double.IsFinite g) "finite gradients"

              Expect.isTrue
                  (Array.init t (fun f -> Array.init c (fun k -> g.[(f * n + 0) * c + k]))
                   |> Array.forall (Array.forall ((=) 0.0)))
                  "no gradient from the unreachable sample"

              Expect.isTrue (g |> Array.exists (fun v -> v <> 0.0)) "the others have one"

              throwsWith<OpArgumentException, _>
                  (fun () ->
                      Tensor.CtcLoss(
                          logProbs,
                          Tensor.FromArray([| 0L; 1L; 1L; 1L; 1L; 1L |], [| 3; 2 |]),
                          inputLengths,
                          lengths
                      )
                      |> ignore)
                  [ "ctc_loss"; "sample 0"; "blank" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.CtcLoss(logProbs, padded, [| 5; 4; 3 |], lengths) |> ignore)
                  [ "ctc_loss"; "input length 5"; "[0, 4]" ]
          } ]
