/// The training toolkit against the update rules PyTorch documents, worked out here in plain
/// scalar loops, and the behaviour of modules, schedules and the data loader.
module Cotangent.Tests.NnTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Tests.Check

/// A parameter whose gradient is set by hand, so updates can be followed exactly.
let private param (values: float list) = Parameter(f64 values)

let private withGrad (p: Parameter) (g: float list) = p.SetGrad(f64 g)

/// Runs `steps` optimizer steps with the gradient of f(p) = Σ cᵢ pᵢ² (g = 2cp) computed in plain
/// floats, and returns the parameter after each step.
let private follow (make: Parameter -> Optimizer) (c: float[]) (p0: float[]) steps =
    let p = Parameter(Tensor.FromArray(p0, [| p0.Length |]))
    let opt = make p

    [ for _ in 1..steps do
          let v = values p.Value
          p.SetGrad(Tensor.FromArray(Array.map2 (fun ci vi -> 2.0 * ci * vi) c v, [| v.Length |]))
          opt.Step()
          yield values p.Value ]

let private c = [| 1.0; 0.5; 2.0 |]
let private p0 = [| 1.0; -2.0; 0.5 |]

let private grad (p: float[]) =
    Array.map2 (fun ci vi -> 2.0 * ci * vi) c p

let optimizers =
    testList
        "optimizers follow torch.optim's rules"
        [ test "SGD with momentum, dampening and weight decay" {
              let lr, mu, damp, wd = 0.1, 0.9, 0.1, 0.01

              let actual =
                  follow (fun p -> Sgd([ p ], lr, momentum = mu, dampening = damp, weightDecay = wd)) c p0 4

              let mutable p = Array.copy p0
              let mutable b: float[] option = None

              for k in 0..3 do
                  let g = Array.map2 (fun gi pi -> gi + wd * pi) (grad p) p

                  let buf =
                      match b with
                      | None -> g
                      | Some b -> Array.map2 (fun bi gi -> mu * bi + (1.0 - damp) * gi) b g

                  b <- Some buf
                  p <- Array.map2 (fun pi bi -> pi - lr * bi) p buf
                  near 1e-12 p (f64 (List.ofArray actual.[k])) (sprintf "step %d" (k + 1))
          }
          test "SGD with Nesterov momentum" {
              let lr, mu = 0.05, 0.8
              let actual = follow (fun p -> Sgd([ p ], lr, momentum = mu, nesterov = true)) c p0 4
              let mutable p = Array.copy p0
              let mutable b: float[] option = None

              for k in 0..3 do
                  let g = grad p

                  let buf =
                      match b with
                      | None -> g
                      | Some b -> Array.map2 (fun bi gi -> mu * bi + gi) b g

                  b <- Some buf
                  p <- Array.map3 (fun pi gi bi -> pi - lr * (gi + mu * bi)) p g buf
                  near 1e-12 p (f64 (List.ofArray actual.[k])) (sprintf "step %d" (k + 1))
          }
          test "Adam with L2 weight decay" {
              let lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
              let actual = follow (fun p -> Adam([ p ], lr, b1, b2, eps, wd)) c p0 5
              let mutable p = Array.copy p0
              let m, v = Array.zeroCreate 3, Array.zeroCreate 3

              for k in 0..4 do
                  let t = float (k + 1)
                  let g = Array.map2 (fun gi pi -> gi + wd * pi) (grad p) p

                  for i in 0..2 do
                      m.[i] <- b1 * m.[i] + (1.0 - b1) * g.[i]
                      v.[i] <- b2 * v.[i] + (1.0 - b2) * g.[i] * g.[i]

                  p <-
                      Array.init 3 (fun i ->
                          p.[i] - lr * (m.[i] / (1.0 - b1 ** t)) / (sqrt (v.[i] / (1.0 - b2 ** t)) + eps))

                  near 1e-12 p (f64 (List.ofArray actual.[k])) (sprintf "step %d" (k + 1))
          }
          test "AdamW decays the weights, not the gradient" {
              let lr, wd = 0.01, 0.1
              let actual = follow (fun p -> AdamW([ p ], lr, weightDecay = wd)) c p0 5
              let mutable p = Array.copy p0
              let m, v = Array.zeroCreate 3, Array.zeroCreate 3

              for k in 0..4 do
                  let t = float (k + 1)
                  let g = grad p
                  let decayed = p |> Array.map (fun pi -> pi * (1.0 - lr * wd))

                  for i in 0..2 do
                      m.[i] <- 0.9 * m.[i] + 0.1 * g.[i]
                      v.[i] <- 0.999 * v.[i] + 0.001 * g.[i] * g.[i]

                  p <-
                      Array.init 3 (fun i ->
                          decayed.[i]
                          - lr * (m.[i] / (1.0 - 0.9 ** t)) / (sqrt (v.[i] / (1.0 - 0.999 ** t)) + 1e-8))

                  near 1e-12 p (f64 (List.ofArray actual.[k])) (sprintf "step %d" (k + 1))
          }
          test "a parameter without a gradient is left alone" {
              let a, b = param [ 1.0 ], param [ 2.0 ]
              withGrad a [ 1.0 ]
              Sgd([ a; b ], 0.5).Step()
              near 0.0 [| 0.5 |] a.Value "stepped"
              near 0.0 [| 2.0 |] b.Value "untouched"
          }
          test "gradients survive an update until ZeroGrad, as .grad does" {
              let w = param [ 1.0 ]
              (w.Value * 3.0).Sum().Backward()
              let opt = Sgd([ w ], 0.1)
              opt.Step()
              near 0.0 [| 3.0 |] w.Grad "kept after the step"
              (w.Value * 3.0).Sum().Backward()
              near 0.0 [| 6.0 |] w.Grad "accumulates on the new value"
              opt.ZeroGrad()
              Expect.isNull w.Grad "cleared"
          }
          test "clipping scales the joint norm down to the maximum and reports the norm before" {
              let a, b = param [ 0.0; 0.0 ], param [ 0.0 ]
              withGrad a [ 3.0; 0.0 ]
              withGrad b [ 4.0 ]
              let norm = GradClip.ClipGradNorm([ a; b ], 1.0)
              Expect.floatClose Accuracy.veryHigh norm 5.0 "norm before"
              let s = 1.0 / (5.0 + 1e-6)
              near 1e-12 [| 3.0 * s; 0.0 |] a.Grad "a"
              near 1e-12 [| 4.0 * s |] b.Grad "b"

              Expect.floatClose
                  Accuracy.veryHigh
                  (GradClip.ClipGradNorm([ a; b ], 10.0))
                  (5.0 * s)
                  "under the maximum: unchanged"
          }
          test "step and cosine schedules follow their closed forms" {
              let opt = Sgd([ param [ 0.0 ] ], 1.0)
              let step = StepLr(opt, 2, 0.5)

              let rates =
                  [ for _ in 1..5 ->
                        step.Step()
                        opt.LearningRate ]

              Expect.equal rates [ 1.0; 0.5; 0.5; 0.25; 0.25 ] "halved every two epochs"
              let opt2 = Sgd([ param [ 0.0 ] ], 0.1)
              let cosine = CosineAnnealingLr(opt2, 4, 0.01)

              let rates2 =
                  [ for _ in 1..4 ->
                        cosine.Step()
                        opt2.LearningRate ]

              let expected =
                  [ for e in 1..4 -> 0.01 + 0.09 * (1.0 + cos (Math.PI * float e / 4.0)) / 2.0 ]

              List.iter2 (fun a e -> Expect.floatClose Accuracy.veryHigh a e "cosine") rates2 expected
          } ]

let modules =
    testList
        "modules"
        [ test "Sequential names parameters by position and counts them" {
              let net =
                  Sequential(Linear(4, 3, generator = Generator 1UL), ReLU(), Linear(3, 2, generator = Generator 2UL))

              let names = net.NamedParameters() |> Seq.map (fun struct (n, _) -> n) |> List.ofSeq
              Expect.equal names [ "0.weight"; "0.bias"; "2.weight"; "2.bias" ] "dotted names"
              Expect.equal (net.Forward(Tensor.Zeros(5, 4)).Shape) [| 5; 2 |] "forward shape"
          }
          test "Linear computes x·Wᵀ + b with PyTorch's initial bound" {
              let l = Linear(3, 2, generator = Generator 4UL)
              let x = Tensor.Randn([| 4; 3 |], DType.Float32, Generator 5UL)
              let w, b, vx = values l.Weight.Value, values l.Bias.Value, values x

              let expected =
                  Array.init 8 (fun k ->
                      let i, j = k / 2, k % 2 in
                      b.[j] + Seq.sum (seq { for q in 0..2 -> vx.[i * 3 + q] * w.[j * 3 + q] }))

              near 1e-6 expected (l.Forward x) "forward"
              let bound = 1.0 / sqrt 3.0
              Expect.isTrue (Array.append w b |> Array.forall (fun v -> abs v <= bound)) "U(−1/√in, 1/√in)"
          }
          test "dropout is active in training mode only, and keeps the expectation" {
              let d = Dropout(0.5, Generator 3UL)
              let x = Tensor.Ones([| 10000 |], DType.Float64)
              let y = values (d.Forward x)
              Expect.isTrue (y |> Array.forall (fun v -> v = 0.0 || v = 2.0)) "zero or scaled by 1/(1 − p)"
              Expect.isLessThan (abs (Array.average y - 1.0)) 0.05 "mean ≈ 1"
              d.Eval() |> ignore
              Expect.equal (values (d.Forward x)) (values x) "identity in eval mode"
          }
          test "LayerNorm gives each row mean 0 and variance 1 before γ and β" {
              let ln = LayerNorm([| 6 |])
              let y = ln.Forward(Tensor.Randn([| 3; 6 |], DType.Float32, Generator 6UL)) |> values

              for r in 0..2 do
                  let row = y.[r * 6 .. r * 6 + 5]
                  Expect.isLessThan (abs (Array.average row)) 1e-6 "mean 0"
                  Expect.isLessThan (abs ((row |> Array.averageBy (fun v -> v * v)) - 1.0)) 1e-3 "variance 1 (ε = 1e-5)"
          }
          test "Embedding looks rows up for indices of any shape" {
              let e = Embedding(5, 2, Generator 7UL)
              let w = values e.Weight.Value
              let y = e.Forward(Tensor.FromArray([| 4L; 0L; 4L; 1L |], [| 2; 2 |]))
              Expect.equal y.Shape [| 2; 2; 2 |] "shape ++ [dim]"
              near 0.0 (Array.concat [ w.[8..9]; w.[0..1]; w.[8..9]; w.[2..3] ]) y "rows"
          }
          test "conv and pooling layers produce the expected shapes" {
              let net =
                  Sequential(
                      Conv2d(1, 4, 3, padding = 1, generator = Generator 8UL),
                      ReLU(),
                      MaxPool2d 2,
                      Flatten(),
                      Linear(4 * 4 * 4, 3)
                  )

              Expect.equal (net.Forward(Tensor.Zeros(2, 1, 8, 8)).Shape) [| 2; 3 |] "[N, classes]"
          }
          test "a state of the wrong shape is refused and the module is unchanged" {
              let l = Linear(2, 2, generator = Generator 9UL)
              let before = values l.Weight.Value
              let bad = readOnlyDict [ "weight", Tensor.Zeros(3, 2); "bias", Tensor.Zeros(2) ]
              throwsWith<ShapeMismatchException, _> (fun () -> l.LoadStateDict bad) [ "weight"; "[3, 2]"; "[2, 2]" ]
              Expect.equal (values l.Weight.Value) before "unchanged"
          }
          test "an MLP learns XOR with Adam" {
              let net =
                  Sequential(Linear(2, 8, generator = Generator 10UL), Tanh(), Linear(8, 1, generator = Generator 11UL))

              let x =
                  Tensor.From(array2D [ [ 0.0f; 0.0f ]; [ 0.0f; 1.0f ]; [ 1.0f; 0.0f ]; [ 1.0f; 1.0f ] ])

              let y = Tensor.From(array2D [ [ 0.0f ]; [ 1.0f ]; [ 1.0f ]; [ 0.0f ] ])
              let opt = Adam(net.Parameters(), 0.05)

              for _ in 1..300 do
                  opt.ZeroGrad()
                  Tensor.BinaryCrossEntropyWithLogits(net.Forward x, y).Backward()
                  opt.Step()

              let p = (net.Forward x).Sigmoid() |> values
              Expect.isTrue (p.[0] < 0.1 && p.[1] > 0.9 && p.[2] > 0.9 && p.[3] < 0.1) (sprintf "XOR learnt: %A" p)
          } ]

let losses =
    testList
        "losses"
        [ test "label smoothing mixes the one-hot target with the uniform one" {
              let z = f64s [ 1; 3 ] [ 2.0; 0.5; -1.0 ]
              let lse = log (exp 2.0 + exp 0.5 + exp -1.0)
              let logp = [| 2.0 - lse; 0.5 - lse; -1.0 - lse |]
              let eps = 0.2
              let expected = -((1.0 - eps) * logp.[0] + eps / 3.0 * Array.sum logp)
              near 1e-12 [| expected |] (Tensor.CrossEntropy(z, Tensor.From 0L, eps)) "−Σ q log p"
          }
          test "binary cross-entropy with logits is stable and matches the textbook formula" {
              let z, t = f64 [ 0.3; -2.0; 800.0 ], f64 [ 1.0; 0.25; 0.0 ]
              let s x = 1.0 / (1.0 + exp -x)

              let term zi ti =
                  if zi > 700.0 then
                      zi * (1.0 - ti)
                  else
                      -(ti * log (s zi) + (1.0 - ti) * log (1.0 - s zi))

              let expected = (term 0.3 1.0 + term -2.0 0.25 + term 800.0 0.0) / 3.0
              near 1e-12 [| expected |] (Tensor.BinaryCrossEntropyWithLogits(z, t)) "mean"
          }
          test "nll_loss picks the log-probabilities at the labels" {
              near
                  0.0
                  [| 2.5 |]
                  (Tensor.NllLoss(f64s [ 2; 2 ] [ -1.0; -2.0; -3.0; -1.0 ], Tensor.From(1L, 0L)))
                  "−(−2 − 3)/2"
          } ]

let data =
    testList
        "data loader"
        [ test "an epoch visits every row once, in batches, reshuffled each epoch" {
              let x = Tensor.Arange(10, DType.Float64).Reshape(10, 1)
              let y = Tensor.Arange(10, DType.Int64)
              let loader = DataLoader(x, y, 4, shuffle = true, generator = Generator 12UL)

              let epoch () =
                  [ for xb, yb in loader -> values xb |> Array.map int, yb.ToArray<int64>() |> Array.map int ]

              let e1, e2 = epoch (), epoch ()
              Expect.equal (e1 |> List.map (fst >> Array.length)) [ 4; 4; 2 ] "batch sizes, last kept"
              Expect.equal (e1 |> List.collect (fst >> List.ofArray) |> List.sort) [ 0..9 ] "every row once"
              Expect.isTrue (e1 |> List.forall (fun (a, b) -> a = b)) "inputs and targets stay paired"
              Expect.notEqual (e1 |> List.map fst) (e2 |> List.map fst) "a new order each epoch"
              let again = DataLoader(x, y, 4, shuffle = true, generator = Generator 12UL)

              Expect.equal
                  [ for xb, _ in again -> values xb ]
                  [ for xb, _ in DataLoader(x, y, 4, shuffle = true, generator = Generator 12UL) -> values xb ]
                  "same seed, same order"

              Expect.equal (Seq.length (DataLoader(x, y, 4, last = LastBatch.Drop))) 2 "drop the short batch"
          } ]

let scopes =
    testList
        "scopes"
        [ test "a scope recycles what was made inside, and a tensor used after it says so" {
              let outside = Tensor.Ones(1000)
              let mutable escaped = Unchecked.defaultof<Tensor>
              let scope = Tensor.Scope()
              escaped <- outside * 2.0
              let kept = (outside * 3.0).Keep()
              scope.Dispose()
              Expect.isGreaterThan scope.Recycled 0 "buffers went back"
              throwsWith<ObjectDisposedException, _> (fun () -> escaped.ToArray<float32>()) [ "recycled"; "Keep()" ]
              Expect.equal (kept.ToArray<float32>() |> Array.distinct) [| 3.0f |] "kept values survive"

              Expect.equal
                  (outside.ToArray<float32>() |> Array.distinct)
                  [| 1.0f |]
                  "tensors made before the scope are untouched"
          }
          test "across threads: kept tensors read while the scope ends stay whole; recycled ones read later throw" {
              for round in 1..20 do
                  let scope = Tensor.Scope()
                  let kept = (Tensor.Ones 100_000 * float round).Keep()
                  let scoped = Tensor.Ones 100_000 * 2.0

                  let reader =
                      Threading.Tasks.Task.Run(fun () ->
                          [ for _ in 1..20 -> kept.ToArray<float32>() |> Array.distinct ])

                  scope.Dispose()
                  // reuse the recycled buffers at once, as the next training step would
                  use _ = Tensor.Scope()
                  let reused = Tensor.Ones 100_000 * -7.0

                  for seen in reader.Result do
                      Expect.equal seen [| float32 round |] "a kept tensor never sees another's values"

                  let late =
                      Threading.Tasks.Task.Run(fun () ->
                          try
                              scoped.ToArray<float32>() |> ignore
                              "read"
                          with :? ObjectDisposedException ->
                              "refused")

                  Expect.equal late.Result "refused" "a recycled tensor read from another thread afterwards"
                  Expect.equal (reused.ToArray<float32>() |> Array.distinct) [| -7.0f |] "the reuser's own values"
          }
          test "an inner scope leaves the outer scope's tensors alone" {
              use outer = Tensor.Scope()
              let a = Tensor.Ones(500) * 2.0

              do
                  use _ = Tensor.Scope()
                  let b = a * 3.0
                  Expect.equal (b.ToArray<float32>().[0]) 6.0f "inner work"

              Expect.equal (a.ToArray<float32>().[0]) 2.0f "outer tensor still readable"
          }
          test "backward through a graph whose buffers were recycled is a clear error" {
              let x = Tensor.Ones(300).RequireGrad()
              let mutable loss = Unchecked.defaultof<Tensor>

              do
                  use _ = Tensor.Scope()
                  loss <- (x.Exp() * 2.0).Sum()

              throwsWith<ObjectDisposedException, _> (fun () -> loss.Backward()) [ "Keep()" ]
          }
          test "training inside scopes gives bit-identical parameters, and gradients survive the scope" {
              let train useScopes =
                  let net =
                      Sequential(
                          Linear(20, 32, generator = Generator 1UL),
                          ReLU(),
                          Linear(32, 4, generator = Generator 2UL)
                      )

                  let opt = Adam(net.Parameters(), 0.01)
                  let sgd = Sgd(net.Parameters(), 0.0, momentum = 0.5)
                  let x = Tensor.Randn([| 64; 20 |], DType.Float32, Generator 3UL)
                  let y = Tensor.Randint(0L, 4L, [| 64 |], Generator 4UL)

                  for _ in 1..5 do
                      use scope = if useScopes then Tensor.Scope() else null
                      opt.ZeroGrad()
                      Tensor.CrossEntropy(net.Forward x, y).Backward()
                      opt.Step()
                      sgd.Step()

                  net.Parameters()
                  |> Seq.map (fun p -> p.Value.ToArray<float32>(), p.Grad.ToArray<float32>())
                  |> List.ofSeq

              Expect.equal (train true) (train false) "same values and gradients, bit for bit"
          }
          test "values a step replaced go back at the end of its scope; the starting tensor and kept snapshots stay" {
              let init = Tensor.Randn([| 300 |], DType.Float32, Generator 5UL)
              let initValues = init.ToArray<float32>()
              let p = Parameter(init)
              let opt = Sgd([ p ], 0.1)

              let step () =
                  use _ = Tensor.Scope()
                  opt.ZeroGrad()
                  (p.Value * p.Value).Sum().Backward()
                  opt.Step()

              step ()
              let made = p.Value
              step ()
              throwsWith<ObjectDisposedException, _> (fun () -> made.ToArray<float32>()) [ "recycled"; "Keep()" ]
              let snapshot = p.Value.Keep()
              let snapshotValues = snapshot.ToArray<float32>()
              step ()
              step ()
              Expect.equal (snapshot.ToArray<float32>()) snapshotValues "a kept snapshot is never recycled"

              Expect.equal
                  (init.ToArray<float32>())
                  initValues
                  "the tensor the parameter started from is never recycled"
          }
          test "a gradient that shares its buffer with a seed or another leaf's gradient is never recycled" {
              let v = Tensor.Ones(400) * 3.0
              let x = Tensor.Zeros(400).RequireGrad()

              do
                  use _ = Tensor.Scope()
                  x.Reshape(20, 20).Backward(v.Reshape(20, 20)) // x's gradient is a view of v
                  x.ZeroGrad()

              Expect.equal (v.ToArray<float32>() |> Array.distinct) [| 3.0f |] "the seed survives"
              let a, b = Tensor.Zeros(400).RequireGrad(), Tensor.Zeros(400).RequireGrad()

              do
                  use _ = Tensor.Scope()
                  ((a + b) * 2.0).Sum().Backward() // add hands one tensor to both inputs
                  a.ZeroGrad()

              Expect.equal (b.Grad.ToArray<float32>() |> Array.distinct) [| 2.0f |] "b's gradient survives a's ZeroGrad"
          }
          test "a scoped training step reuses its buffers: it allocates a small fraction of the parameters' size" {
              let net =
                  Sequential(
                      Linear(300, 400, generator = Generator 1UL),
                      ReLU(),
                      Linear(400, 10, generator = Generator 2UL)
                  )

              let opt = Sgd(net.Parameters(), 0.01)
              let x = Tensor.Randn([| 32; 300 |], DType.Float32, Generator 3UL)
              let y = Tensor.Randint(0L, 10L, [| 32 |], Generator 4UL)

              let step () =
                  use _ = Tensor.Scope()
                  opt.ZeroGrad()
                  Tensor.CrossEntropy(net.Forward x, y).Backward()
                  opt.Step()

              for _ in 1..5 do
                  step ()

              let before = GC.GetAllocatedBytesForCurrentThread()

              for _ in 1..10 do
                  step ()

              let perStep = float (GC.GetAllocatedBytesForCurrentThread() - before) / 10.0

              let parameterBytes =
                  net.Parameters() |> Seq.sumBy (fun p -> 4.0 * float p.Value.Numel)
              // without recycling each step makes new values and new gradients: twice the parameters' size
              Expect.isLessThan
                  perStep
                  (0.25 * parameterBytes)
                  (sprintf "%.0f bytes a step for %.0f bytes of parameters" perStep parameterBytes)
          } ]

let tests = testList "nn" [ optimizers; modules; losses; data; scopes ]
