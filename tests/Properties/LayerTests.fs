/// Issue 15's layers against torch.nn's documented equations, computed here by explicit loops:
/// RNN, LSTM and GRU unrolled step by step, multi-head attention head by head, the
/// normalisations by their formulas, pixel shuffle by its index map; and the containers.
module Cotangent.Tests.LayerTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Tests.Check

/// Row-major matrix [rows, cols] times a vector.
let private mv (m: float[]) rows cols (v: float[]) =
    Array.init rows (fun i -> Seq.sum (seq { for j in 0 .. cols - 1 -> m.[i * cols + j] * v.[j] }))

let private add (a: float[]) (b: float[]) = Array.map2 (+) a b
let private sigma x = 1.0 / (1.0 + exp -x)

let private param (m: Module) name =
    m.NamedParameters()
    |> Seq.pick (fun struct (n, p) -> if n = name then Some(values p.Value) else None)

let private rng = Random 5

let private rand (s: int[]) =
    Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> rng.NextDouble() * 2.0 - 1.0), s)

/// One layer of a recurrence over x [L, in] by loops: step gets (input projection, hidden projection, h, c).
let private unroll (m: Module) suffix (x: float[]) steps inSize hidden gates reverse step =
    let wih, whh = param m ("weight_ih_" + suffix), param m ("weight_hh_" + suffix)
    let bih, bhh = param m ("bias_ih_" + suffix), param m ("bias_hh_" + suffix)
    let mutable h, c = Array.zeroCreate hidden, Array.zeroCreate hidden
    let out = Array.zeroCreate (steps * hidden)

    for s in 0 .. steps - 1 do
        let t = if reverse then steps - 1 - s else s

        let xi =
            add (mv wih (gates * hidden) inSize x.[t * inSize .. t * inSize + inSize - 1]) bih

        let hh = add (mv whh (gates * hidden) hidden h) bhh
        let h', c' = step xi hh h c
        h <- h'
        c <- c'
        Array.blit h 0 out (t * hidden) hidden

    out, h, c

let private gate (v: float[]) hidden j =
    v.[j * hidden .. j * hidden + hidden - 1]

let private lstmStep hidden (xi: float[]) (hh: float[]) (_: float[]) (c: float[]) =
    let a = add xi hh
    let i, f, g, o = gate a hidden 0, gate a hidden 1, gate a hidden 2, gate a hidden 3
    let c' = Array.init hidden (fun k -> sigma f.[k] * c.[k] + sigma i.[k] * tanh g.[k])
    Array.init hidden (fun k -> sigma o.[k] * tanh c'.[k]), c'

let private gruStep hidden (xi: float[]) (hh: float[]) (h: float[]) (c: float[]) =
    let r =
        Array.init hidden (fun k -> sigma ((gate xi hidden 0).[k] + (gate hh hidden 0).[k]))

    let z =
        Array.init hidden (fun k -> sigma ((gate xi hidden 1).[k] + (gate hh hidden 1).[k]))

    let n =
        Array.init hidden (fun k -> tanh ((gate xi hidden 2).[k] + r.[k] * (gate hh hidden 2).[k]))

    Array.init hidden (fun k -> (1.0 - z.[k]) * n.[k] + z.[k] * h.[k]), c

let private recurrent =
    testList
        "recurrent layers against unrolled loops"
        [ test "LSTM, both directions" {
              let steps, inSize, hidden = 4, 2, 3

              let lstm =
                  LSTM(inSize, hidden, bidirectional = true, generator = Generator 1UL, dtype = DType.Float64)

              let x = rand [| steps; 1; inSize |]
              let y = lstm.Run(x)
              let xv = values x
              let fwd, hf, cf = unroll lstm "l0" xv steps inSize hidden 4 false (lstmStep hidden)

              let bwd, hb, cb =
                  unroll lstm "l0_reverse" xv steps inSize hidden 4 true (lstmStep hidden)

              Expect.equal y.Output.Shape [| steps; 1; 2 * hidden |] "output [L, N, 2H]"

              let expected =
                  Array.init steps (fun t ->
                      Array.append
                          fwd.[t * hidden .. t * hidden + hidden - 1]
                          bwd.[t * hidden .. t * hidden + hidden - 1])
                  |> Array.concat

              near 1e-13 expected y.Output "output: forward and reverse halves"
              near 1e-13 (Array.append hf hb) y.H "h_n"
              near 1e-13 (Array.append cf cb) y.C "c_n"
          }
          test "GRU, two layers, batch first" {
              let steps, inSize, hidden = 3, 2, 2

              let gru =
                  GRU(
                      inSize,
                      hidden,
                      numLayers = 2,
                      batchFirst = true,
                      generator = Generator 2UL,
                      dtype = DType.Float64
                  )

              let x = rand [| 1; steps; inSize |]
              let y = gru.Run(x)

              let l0, h0, _ =
                  unroll gru "l0" (values x) steps inSize hidden 3 false (gruStep hidden)

              let l1, h1, _ = unroll gru "l1" l0 steps hidden hidden 3 false (gruStep hidden)
              near 1e-13 l1 y.Output "the top layer's output"
              near 1e-13 (Array.append h0 h1) y.H "h_n of both layers"
              Expect.isTrue (isNull y.C) "a GRU has no cell state"
          }
          test "RNN with relu, from a given h0" {
              let rnn =
                  RNN(3, 2, nonlinearity = "relu", generator = Generator 3UL, dtype = DType.Float64)

              let x = rand [| 2; 3 |] // unbatched [L, in]
              let h0 = Tensor.FromArray([| 0.5; -0.25 |], [| 1; 2 |])
              let y = rnn.Run(x, h0)

              let wih, whh, bih, bhh =
                  param rnn "weight_ih_l0", param rnn "weight_hh_l0", param rnn "bias_ih_l0", param rnn "bias_hh_l0"

              let xv = values x

              let step (h: float[]) t =
                  add (add (mv wih 2 3 xv.[t * 3 .. t * 3 + 2]) bih) (add (mv whh 2 2 h) bhh)
                  |> Array.map (max 0.0)

              let h1 = step [| 0.5; -0.25 |] 0
              let h2 = step h1 1
              near 1e-14 (Array.append h1 h2) y.Output "outputs"
              Expect.equal y.Output.Shape [| 2; 2 |] "unbatched output"
              near 1e-14 h2 y.H "h_n"
          }
          test "gradients reach every weight, and bad shapes are named" {
              let lstm = LSTM(2, 3, numLayers = 2, dtype = DType.Float64)
              (lstm.Forward(rand [| 3; 2; 2 |])).Sum().Backward()

              for struct (name, p) in lstm.NamedParameters() do
                  Expect.isTrue (p.Grad <> null && (values p.Grad |> Array.exists (fun v -> v <> 0.0))) name

              throwsWith<ShapeMismatchException, _> (fun () -> lstm.Forward(rand [| 3; 2; 5 |])) [ "lstm"; "in = 2" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> lstm.Run(rand [| 3; 2; 2 |], rand [| 1; 2; 3 |]))
                  [ "lstm"; "h0"; "[2, 2, 3]" ]
          } ]

let private attention =
    testList
        "multi-head attention against loops"
        [ test "two heads, a padded key, batch first" {
              let e, heads, l, s = 4, 2, 2, 3

              let mha =
                  MultiheadAttention(e, heads, batchFirst = true, generator = Generator 4UL, dtype = DType.Float64)
              // give the biases values, so the test sees them used
              mha.InProjBias.Assign(rand [| 3 * e |])
              mha.OutProj.Bias.Assign(rand [| e |])
              let q, k, v = rand [| 1; l; e |], rand [| 1; s; e |], rand [| 1; s; e |]
              let pad = Tensor.FromArray([| false; false; true |], [| 1; s |])
              let struct (y, w) = mha.Attend(q, k, v, pad)
              let win, bin = values mha.InProjWeight.Value, values mha.InProjBias.Value
              let wo, bo = values mha.OutProj.Weight.Value, values mha.OutProj.Bias.Value

              let proj (x: float[]) rows part =
                  Array.init rows (fun t ->
                      add
                          (mv win.[part * e * e .. part * e * e + e * e - 1] e e x.[t * e .. t * e + e - 1])
                          bin.[part * e .. part * e + e - 1])

              let qp, kp, vp = proj (values q) l 0, proj (values k) s 1, proj (values v) s 2
              let hd = e / heads
              let weights = Array.zeroCreate (heads * l * s)

              let joined =
                  Array.init l (fun i ->
                      Array.init heads (fun h ->
                          let score j =
                              Seq.sum (seq { for d in 0 .. hd - 1 -> qp.[i].[h * hd + d] * kp.[j].[h * hd + d] })
                              / sqrt (float hd)

                          let ex = Array.init s (fun j -> if j = 2 then 0.0 else exp (score j))
                          let total = Array.sum ex
                          let a = ex |> Array.map (fun x -> x / total)
                          Array.iteri (fun j x -> weights.[(h * l + i) * s + j] <- x) a

                          Array.init hd (fun d ->
                              Seq.sum (seq { for j in 0 .. s - 1 -> a.[j] * vp.[j].[h * hd + d] })))
                      |> Array.concat)

              let expected = joined |> Array.collect (fun row -> add (mv wo e e row) bo)
              near 1e-13 expected y "output"
              let avg = Array.init (l * s) (fun p -> (weights.[p] + weights.[l * s + p]) / 2.0)
              near 1e-13 avg w "weights averaged over heads"
          }
          test "every key masked is refused" {
              let mha = MultiheadAttention(2, 1, dtype = DType.Float64)
              let x = rand [| 2; 1; 2 |]

              throwsWith<OpArgumentException, _>
                  (fun () -> mha.Attend(x, x, x, Tensor.FromArray([| true; true |], [| 1; 2 |])))
                  [ "multihead_attention"; "every key" ]
          } ]

let private normalisation =
    testList
        "normalisation, shuffling and containers"
        [ test "group, instance and RMS normalisation by their formulas" {
              let x = rand [| 2; 4; 3 |]
              let xv = values x

              let normalise (xs: float[]) eps =
                  let m = Array.average xs
                  let var = xs |> Array.averageBy (fun v -> (v - m) ** 2.0)
                  xs |> Array.map (fun v -> (v - m) / sqrt (var + eps))

              // 2 groups of 2 channels: each sample's 6 values of a group together
              let grouped =
                  Array.init 4 (fun g -> normalise xv.[g * 6 .. g * 6 + 5] 1e-5) |> Array.concat

              near 1e-12 grouped (Tensor.GroupNorm(x, 2)) "group_norm"

              let perChannel =
                  Array.init 8 (fun c -> normalise xv.[c * 3 .. c * 3 + 2] 1e-5) |> Array.concat

              near 1e-12 perChannel (Tensor.InstanceNorm(x.Unsqueeze(-1))) "instance_norm"

              let rms =
                  Array.init 8 (fun r ->
                      let row = xv.[r * 3 .. r * 3 + 2] in

                      row
                      |> Array.map (fun v -> v / sqrt ((row |> Array.averageBy (fun u -> u * u)) + 1e-6)))
                  |> Array.concat

              near 1e-12 rms (Tensor.RmsNorm(x, 1, eps = 1e-6)) "rms_norm"
              let layer = GroupNorm(2, 4, dtype = DType.Float64)
              near 1e-12 grouped (layer.Forward x) "the GroupNorm layer, γ = 1 and β = 0"
          }
          test "pixel_shuffle moves channel blocks into space" {
              let r, c, h, w = 2, 2, 2, 3

              let x =
                  Tensor.Arange(0.0, float (c * r * r * h * w), 1.0, DType.Float64).Reshape(1, c * r * r, h, w)

              let xv = values x
              // out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w]
              let expected =
                  Array.init (c * h * r * w * r) (fun p ->
                      let ch, rest = p / (h * r * w * r), p % (h * r * w * r)
                      let oh, ow = rest / (w * r), rest % (w * r)
                      xv.[((ch * r * r + (oh % r) * r + ow % r) * h + oh / r) * w + ow / r])

              near 0.0 expected (x.PixelShuffle r) "pixel_shuffle"
          }
          test "dropout2d drops whole channels" {
              let y =
                  Tensor.Ones([| 2; 6; 3; 3 |], DType.Float64).Dropout2d(0.5, true, Generator 9UL)

              let v = values y

              for ch in 0..11 do
                  let block = v.[ch * 9 .. ch * 9 + 8]

                  Expect.isTrue
                      (Array.forall (fun x -> x = 0.0) block || Array.forall (fun x -> x = 2.0) block)
                      (sprintf "channel %d is all dropped or all kept" ch)
          }
          test "ModuleList and ModuleDict register their modules; neither has a forward" {
              let list = ModuleList(Linear(2, 3), Identity())
              list.Add(Linear(3, 1))

              Expect.equal
                  [ for struct (n, _) in list.NamedParameters() -> n ]
                  [ "0.weight"; "0.bias"; "2.weight"; "2.bias" ]
                  "list names"

              let dict =
                  ModuleDict([ Collections.Generic.KeyValuePair("enc", Linear(2, 2, false) :> Module) ])

              Expect.equal [ for struct (n, _) in dict.NamedParameters() -> n ] [ "enc.weight" ] "dict names"

              throwsWith<InvalidOperationException, _>
                  (fun () -> list.Forward(rand [| 1; 2 |]))
                  [ "module_list"; "Sequential" ]

              Expect.equal (Identity().Forward(f64 [ 1.0 ])).Shape [| 1 |] "identity"
          }
          test "layers take a device and make their parameters there" {
              let sim = Device.Simulated 0

              let layers: Module list =
                  [ Linear(2, 3, device = sim)
                    Conv1d(2, 2, 3, device = sim)
                    LSTM(2, 2, device = sim)
                    MultiheadAttention(4, 2, device = sim)
                    BatchNorm1d(2, device = sim)
                    GroupNorm(1, 2, device = sim) ]

              for m in layers do
                  for struct (n, p) in m.NamedParameters() do
                      Expect.equal p.Value.Device sim (sprintf "%s.%s" (m.GetType().Name) n)

              let y =
                  (Linear(2, 3, dtype = DType.Float64, device = sim)).Forward((rand [| 4; 2 |]).To sim)

              Expect.equal y.Device sim "runs there"
          }
          test "Module.To(dtype) converts float parameters and buffers, not integer ones" {
              let net = Sequential(Linear(2, 2), BatchNorm1d(2))
              net.To DType.Float64 |> ignore

              for struct (n, p) in net.NamedParameters() do
                  Expect.equal p.Value.DType DType.Float64 n

              for struct (n, b) in net.NamedBuffers() do
                  Expect.equal
                      b.Value.DType
                      (if n.EndsWith "num_batches_tracked" then
                           DType.Int64
                       else
                           DType.Float64)
                      n

              Expect.equal (net.Forward(rand [| 3; 2 |])).DType DType.Float64 "runs in float64"
          } ]


let private windows =
    testList
        "windows against loops and PyTorch's examples"
        [ test "grouped, dilated, strided convolution by its definition" {
              let n, c, h, w, groups, o, kh, kw = 1, 4, 5, 6, 2, 4, 2, 3
              let sh, sw, ph, pw, dh, dw = 2, 1, 1, 0, 2, 1
              let x, wt, b = rand [| n; c; h; w |], rand [| o; c / groups; kh; kw |], rand [| o |]
              let xv, wv, bv = values x, values wt, values b

              let oh, ow =
                  (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1

              let cg, og = c / groups, o / groups

              let definition (xv: float[]) (wv: float[]) (bv: float[]) =
                  Array.init (o * oh * ow) (fun p ->
                      let oc, i, j = p / (oh * ow), p / ow % oh, p % ow
                      let g = oc / og
                      let mutable acc = bv.[oc]

                      for ci in 0 .. cg - 1 do
                          for a in 0 .. kh - 1 do
                              for bb in 0 .. kw - 1 do
                                  let y, z = i * sh - ph + a * dh, j * sw - pw + bb * dw

                                  if y >= 0 && y < h && z >= 0 && z < w then
                                      acc <-
                                          acc
                                          + xv.[((g * cg + ci) * h + y) * w + z]
                                            * wv.[((oc * cg + ci) * kh + a) * kw + bb]

                      acc)

              near
                  1e-13
                  (definition xv wv bv)
                  (Tensor.Conv2d(x, wt, b, [| sh; sw |], [| ph; pw |], [| dh; dw |], groups))
                  "convolution"

              // the layer with torch.nn.Conv2d's tuples: kernel (2, 3), stride (2, 1), padding (1, 0), dilation (2, 1)
              let layer =
                  Nn.Conv2d(
                      c,
                      o,
                      struct (kh, kw),
                      struct (sh, sw),
                      struct (ph, pw),
                      true,
                      null,
                      struct (dh, dw),
                      groups,
                      DType.Float64
                  )

              Expect.equal layer.Weight.Shape [| o; c / groups; kh; kw |] "weight [out, in / groups, kh, kw]"

              near
                  1e-13
                  (definition xv (values layer.Weight.Value) (values layer.Bias.Value))
                  (layer.Forward x)
                  "the layer"
          }
          test "conv_transpose2d scatters each input through the kernel, as its definition" {
              let c, o, h, w, k, s, p, op = 2, 3, 3, 2, 3, 2, 1, 1
              let x, wt = rand [| 1; c; h; w |], rand [| c; o; k; k |]
              let xv, wv = values x, values wt

              let oh, ow =
                  (h - 1) * s - 2 * p + (k - 1) + op + 1, (w - 1) * s - 2 * p + (k - 1) + op + 1

              let out = Array.zeroCreate (o * oh * ow)

              for ci in 0 .. c - 1 do
                  for i in 0 .. h - 1 do
                      for j in 0 .. w - 1 do
                          for oc in 0 .. o - 1 do
                              for a in 0 .. k - 1 do
                                  for bb in 0 .. k - 1 do
                                      let y, z = i * s - p + a, j * s - p + bb

                                      if y >= 0 && y < oh && z >= 0 && z < ow then
                                          out.[(oc * oh + y) * ow + z] <-
                                              out.[(oc * oh + y) * ow + z]
                                              + xv.[(ci * h + i) * w + j] * wv.[((ci * o + oc) * k + a) * k + bb]

              near 1e-13 out (Tensor.ConvTranspose2d(x, wt, null, [| s |], [| p |], [| op |])) "conv_transpose2d"
          }
          test "max pooling with padding and ceil mode, and its indices" {
              let x = rand [| 1; 1; 5; 5 |]
              let xv = values x
              // k 2, stride 2, pad 1, ceil mode: ⌈(5 + 2 − 2)/2⌉ + 1 = 4 windows a side, but the 4th would start in the right padding
              let struct (v, idx) = x.MaxPool2dWithIndices([| 2 |], [| 2 |], [| 1 |], null, true)
              Expect.equal v.Shape [| 1; 1; 3; 3 |] "3 windows a side"
              let expectedV, expectedI = ResizeArray(), ResizeArray()

              for i in 0..2 do
                  for j in 0..2 do
                      let cells =
                          [ for a in 0..1 do
                                for b in 0..1 do
                                    let y, z = i * 2 - 1 + a, j * 2 - 1 + b in

                                    if y >= 0 && y < 5 && z >= 0 && z < 5 then
                                        yield y * 5 + z ]

                      let best = cells |> List.maxBy (fun q -> xv.[q])
                      expectedV.Add xv.[best]
                      expectedI.Add(int64 best)

              near 0.0 (expectedV.ToArray()) v "values"
              Expect.equal (idx.ToArray<int64>()) (expectedI.ToArray()) "indices"
          }
          test "a window of −∞ with padding picks its place inside the image" {
              let x = Tensor.Full([| 1; 1; 2; 2 |], -infinity, DType.Float64)
              let struct (v, idx) = x.MaxPool2dWithIndices([| 2 |], [| 2 |], [| 1 |])
              Expect.isTrue (values v |> Array.forall Double.IsNegativeInfinity) "values"
              Expect.equal (idx.ToArray<int64>()) [| 0L; 1L; 2L; 3L |] "each window's one real place"
          }
          test "avg_pool2d counts the padding or not" {
              let x = Tensor.Ones([| 1; 1; 3; 3 |], DType.Float64)
              // 2×2 windows, stride 2, padding 1: corner windows hold one real element of four
              near
                  1e-15
                  [| 0.25; 0.5; 0.5; 1.0 |]
                  (x.AvgPool2d([| 2 |], [| 2 |], [| 1 |], false, true))
                  "count_include_pad"

              near
                  1e-15
                  [| 1.0; 1.0; 1.0; 1.0 |]
                  (x.AvgPool2d([| 2 |], [| 2 |], [| 1 |], false, false))
                  "exclude the padding"
          }
          test "adaptive_avg_pool2d averages PyTorch's variable windows" {
              let x = rand [| 1; 1; 5; 3 |]
              let xv = values x
              // 5 rows to 3: rows [0, 2), [1, 4), [3, 5); 3 columns to 2: [0, 2), [1, 3)
              let rows, cols = [ (0, 2); (1, 4); (3, 5) ], [ (0, 2); (1, 3) ]

              let expected =
                  [| for r0, r1 in rows do
                         for c0, c1 in cols do
                             yield
                                 Seq.average (
                                     seq {
                                         for y in r0 .. r1 - 1 do
                                             for z in c0 .. c1 - 1 -> xv.[y * 3 + z]
                                     }
                                 ) |]

              near 1e-15 expected (x.AdaptiveAvgPool2d(3, 2)) "adaptive average"
          }
          test "max_unpool2d as torch.nn.MaxUnpool2d's docs show" {
              let x = Tensor.Arange(1.0, 17.0, 1.0, DType.Float64).Reshape(1, 1, 4, 4)
              let struct (v, idx) = x.MaxPool2dWithIndices([| 2 |])
              near 0.0 [| 6.0; 8.0; 14.0; 16.0 |] v "pooled"
              let back = v.MaxUnpool2d(idx, [| 2 |])
              near 0.0 [| 0; 0; 0; 0; 0; 6; 0; 8; 0; 0; 0; 0; 0; 14; 0; 16 |] back "unpooled"
          }
          test "interpolate as torch.nn.Upsample's docs show" {
              let x = Tensor.FromArray([| 1.0; 2.0; 3.0; 4.0 |], [| 1; 1; 2; 2 |])

              near
                  0.0
                  [| 1; 1; 2; 2; 1; 1; 2; 2; 3; 3; 4; 4; 3; 3; 4; 4 |]
                  (x.Interpolate(scaleFactor = [| 2.0 |]))
                  "nearest"

              near
                  1e-15
                  [| 1.0
                     1.25
                     1.75
                     2.0
                     1.5
                     1.75
                     2.25
                     2.5
                     2.5
                     2.75
                     3.25
                     3.5
                     3.0
                     3.25
                     3.75
                     4.0 |]
                  (x.Interpolate(scaleFactor = [| 2.0 |], mode = "bilinear"))
                  "bilinear"

              let third = 1.0 / 3.0

              near
                  1e-15
                  [| 1.0
                     1.0 + third
                     1.0 + 2.0 * third
                     2.0
                     1.0 + 2.0 * third
                     2.0
                     2.0 + third
                     2.0 + 2.0 * third
                     2.0 + third
                     2.0 + 2.0 * third
                     3.0
                     3.0 + third
                     3.0
                     3.0 + third
                     3.0 + 2.0 * third
                     4.0 |]
                  (x.Interpolate(scaleFactor = [| 2.0 |], mode = "bilinear", alignCorners = true))
                  "align_corners"
          } ]

let tests = testList "layers" [ recurrent; attention; normalisation; windows ]
