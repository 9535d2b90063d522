/// Issue 15's optimizers and schedules against the algorithms torch.optim documents, worked out
/// here element by element in plain floats, and the schedules' documented examples.
module Cotangent.Tests.OptimTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Tests.Check

let private c = [| 1.0; 0.5; 2.0 |]
let private p0 = [| 1.0; -2.0; 0.5 |]

/// Steps the optimizer on f(p) = Σ cᵢpᵢ² (∇ = 2cp, set by hand) and checks every step against
/// `reference t p g` (element by element, its state in the closure) run alongside.
let private agrees
    (name: string)
    (make: Parameter -> Optimizer)
    (reference: unit -> int -> float -> float -> int -> float)
    =
    test name {
        let p = Parameter(Tensor.FromArray(p0, [| 3 |]))
        let opt = make p
        let step = reference ()
        let mutable expected = Array.copy p0

        for t in 1..6 do
            let v = values p.Value
            p.SetGrad(Tensor.FromArray(Array.map2 (fun ci vi -> 2.0 * ci * vi) c v, [| 3 |]))
            opt.Step()
            expected <- Array.init 3 (fun i -> step t expected.[i] (2.0 * c.[i] * expected.[i]) i)
            near 1e-12 expected p.Value (sprintf "%s step %d" name t)
    }

let private optimizers =
    testList
        "optimizers"
        [ agrees
              "RMSprop centered, with momentum and weight decay"
              (fun p -> RmsProp([ p ], 0.01, 0.9, 1e-8, 0.1, 0.5, true))
              (fun () ->
                  let v, avg, b = Array.zeroCreate 3, Array.zeroCreate 3, Array.zeroCreate 3

                  fun _ p g i ->
                      let g = g + 0.1 * p
                      v.[i] <- 0.9 * v.[i] + 0.1 * g * g
                      avg.[i] <- 0.9 * avg.[i] + 0.1 * g
                      b.[i] <- 0.5 * b.[i] + g / (sqrt (v.[i] - avg.[i] * avg.[i]) + 1e-8)
                      p - 0.01 * b.[i])
          agrees "RMSprop plain" (fun p -> RmsProp([ p ], 0.01)) (fun () ->
              let v = Array.zeroCreate 3

              fun _ p g i ->
                  v.[i] <- 0.99 * v.[i] + 0.01 * g * g
                  p - 0.01 * g / (sqrt v.[i] + 1e-8))
          agrees
              "Adagrad with lr decay and an initial accumulator"
              (fun p -> Adagrad([ p ], 0.1, 0.05, 0.01, 0.3))
              (fun () ->
                  let s = Array.create 3 0.3

                  fun t p g i ->
                      let g = g + 0.01 * p
                      s.[i] <- s.[i] + g * g
                      p - 0.1 / (1.0 + float (t - 1) * 0.05) * g / (sqrt s.[i] + 1e-10))
          agrees "Adadelta" (fun p -> Adadelta([ p ], 0.5, 0.8, 1e-6, 0.02)) (fun () ->
              let v, u = Array.zeroCreate 3, Array.zeroCreate 3

              fun _ p g i ->
                  let g = g + 0.02 * p
                  v.[i] <- 0.8 * v.[i] + 0.2 * g * g
                  let d = sqrt (u.[i] + 1e-6) / sqrt (v.[i] + 1e-6) * g
                  u.[i] <- 0.8 * u.[i] + 0.2 * d * d
                  p - 0.5 * d)
          agrees "Adamax" (fun p -> Adamax([ p ], 0.01, 0.8, 0.99, 1e-8, 0.1)) (fun () ->
              let m, u = Array.zeroCreate 3, Array.zeroCreate 3

              fun t p g i ->
                  let g = g + 0.1 * p
                  m.[i] <- 0.8 * m.[i] + 0.2 * g
                  u.[i] <- max (0.99 * u.[i]) (abs g + 1e-8)
                  p - 0.01 * m.[i] / ((1.0 - 0.8 ** float t) * u.[i]))
          agrees "NAdam" (fun p -> NAdam([ p ], 0.01, 0.9, 0.999, 1e-8, 0.05, 4e-3)) (fun () ->
              let m, v = Array.zeroCreate 3, Array.zeroCreate 3

              let mu t =
                  0.9 * (1.0 - 0.5 * 0.96 ** (float t * 4e-3))

              fun t p g i ->
                  let g = g + 0.05 * p
                  let product = List.fold (fun a k -> a * mu k) 1.0 [ 1..t ]
                  m.[i] <- 0.9 * m.[i] + 0.1 * g
                  v.[i] <- 0.999 * v.[i] + 0.001 * g * g

                  let mHat =
                      mu (t + 1) * m.[i] / (1.0 - product * mu (t + 1))
                      + (1.0 - mu t) * g / (1.0 - product)

                  p - 0.01 * mHat / (sqrt (v.[i] / (1.0 - 0.999 ** float t)) + 1e-8))
          // β₂ = 0.9 makes ρ∞ = 19, so ρ_t passes 5 at the fourth step: both branches run
          agrees "RAdam, before and after rectification" (fun p -> RAdam([ p ], 0.01, 0.9, 0.9, 1e-8, 0.0)) (fun () ->
              let m, v = Array.zeroCreate 3, Array.zeroCreate 3

              fun t p g i ->
                  let t' = float t
                  m.[i] <- 0.9 * m.[i] + 0.1 * g
                  v.[i] <- 0.9 * v.[i] + 0.1 * g * g
                  let mHat = m.[i] / (1.0 - 0.9 ** t')
                  let rhoInf = 2.0 / (1.0 - 0.9) - 1.0
                  let rho = rhoInf - 2.0 * t' * 0.9 ** t' / (1.0 - 0.9 ** t')

                  if rho > 5.0 then
                      let l = sqrt (1.0 - 0.9 ** t') / (sqrt v.[i] + 1e-8)

                      let r =
                          sqrt ((rho - 4.0) * (rho - 2.0) * rhoInf / ((rhoInf - 4.0) * (rhoInf - 2.0) * rho))

                      p - 0.01 * mHat * r * l
                  else
                      p - 0.01 * mHat)
          test "bad hyperparameters are refused by name" {
              let p = Parameter(f64 [ 1.0 ])
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> RmsProp([ p ], alpha = 1.0)) [ "rmsprop"; "alpha" ]
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> Adagrad([ p ], eps = -1.0)) [ "adagrad"; "eps" ]

              throwsWith<ArgumentOutOfRangeException, _>
                  (fun () -> NAdam([ p ], weightDecay = nan))
                  [ "nadam"; "weight decay" ]
          }
          test "LBFGS: the first step is min(1, 1/‖g‖₁)·lr down the gradient" {
              let p = Parameter(Tensor.FromArray(Array.copy p0, [| 3 |]))
              let opt = LBFGS([ p ], 0.5, maxIter = 1)

              let closure () =
                  opt.ZeroGrad()
                  let loss = (Tensor.FromArray(c, [| 3 |]) * p.Value * p.Value).Sum()
                  loss.Backward()
                  loss

              opt.Step(Func<Tensor>(closure)) |> ignore
              let g = Array.map2 (fun ci vi -> 2.0 * ci * vi) c p0
              let t = min 1.0 (1.0 / Array.sumBy abs g) * 0.5
              near 1e-15 (Array.map2 (fun v gi -> v - t * gi) p0 g) p.Value "x₀ − t·g"
          }
          test "LBFGS minimises a convex quadratic to A⁻¹b" {
              let rng = Random 8

              let m =
                  Tensor.FromArray(Array.init 25 (fun _ -> rng.NextDouble() - 0.5), [| 5; 5 |])

              let a = Tensor.MatMul(m, m.T) + Tensor.Eye(5, dtype = DType.Float64)
              let b = Tensor.FromArray(Array.init 5 (fun _ -> rng.NextDouble()), [| 5 |])
              let x = Parameter(Tensor.Zeros([| 5 |], DType.Float64))

              let opt =
                  LBFGS([ x ], maxIter = 100, toleranceGrad = 1e-12, toleranceChange = 1e-15)

              let closure () =
                  opt.ZeroGrad()
                  let v = x.Value
                  let loss = 0.5 * Tensor.Dot(v, Tensor.MatMul(a, v)) - Tensor.Dot(b, v)
                  loss.Backward()
                  loss

              opt.Step(Func<Tensor>(closure)) |> ignore
              near 1e-8 (values (Tensor.Solve(a, b))) x.Value "the minimiser"
              throwsWith<InvalidOperationException, _> (fun () -> opt.Step()) [ "lbfgs"; "closure" ]
          }
          test "parameter groups: each group's learning rate and weight decay, scheduled from its own rate" {
              let a, b = Parameter(f64 [ 1.0; 2.0 ]), Parameter(f64 [ -1.0 ])

              let groups =
                  ParamGroups(ParamGroup([ a ]), ParamGroup([ b ], learningRate = 0.5, weightDecay = 0.1))

              let opt = Sgd(groups, 0.1)
              a.SetGrad(f64 [ 1.0; 1.0 ])
              b.SetGrad(f64 [ 2.0 ])
              opt.Step()
              near 1e-15 [| 0.9; 1.9 |] a.Value "the optimizer's rate, no decay"
              near 1e-15 [| -1.0 - 0.5 * (2.0 + 0.1 * -1.0) |] b.Value "the group's rate and decay"
              let schedule = StepLr(opt, 1, 0.5)
              schedule.Step()
              Expect.floatClose Accuracy.veryHigh opt.LearningRate 0.05 "the optimizer's rate halves"

              Expect.floatClose
                  Accuracy.veryHigh
                  opt.Groups.[1].LearningRate.Value
                  0.25
                  "so does the group's, from its own"

              Expect.isFalse opt.Groups.[0].LearningRate.HasValue "a group without its own rate follows the optimizer's"
          }
          test "ClipGradValue clamps every element" {
              let a, b = Parameter(f64 [ 0.0; 0.0 ]), Parameter(f64 [ 0.0 ])
              a.SetGrad(f64 [ -3.0; 0.5 ])
              b.SetGrad(f64 [ 2.0 ])
              GradClip.ClipGradValue([ a; b ], 1.0)
              near 0.0 [| -1.0; 0.5 |] a.Grad "a"
              near 0.0 [| 1.0 |] b.Grad "b"
          }
          test "group options: each group's momentum and betas, by torch's names; unknown names and bad values refused" {
              // SGD with momentum 0.9 in one group and none in the other: b = g on the first step, then μb + g
              let a, b = Parameter(f64 [ 1.0 ]), Parameter(f64 [ 1.0 ])

              let opt =
                  Sgd(
                      ParamGroups(ParamGroup([ a ], options = readOnlyDict [ "momentum", 0.9 ]), ParamGroup([ b ])),
                      0.1
                  )

              for _ in 1..2 do
                  a.SetGrad(f64 [ 1.0 ])
                  b.SetGrad(f64 [ 1.0 ])
                  opt.Step()

              near 1e-12 [| 1.0 - 0.1 * 1.0 - 0.1 * 1.9 |] a.Value "momentum 0.9: steps of 1, then 1.9"
              near 1e-12 [| 1.0 - 0.2 |] b.Value "no momentum: two steps of 1"

              // Adam with beta1 = 0 in one group: m̂ = g, v̂ as usual, so the second step is lr·g/(√v̂ + ε) with v̂ = g² still
              let c, d = Parameter(f64 [ 0.0 ]), Parameter(f64 [ 0.0 ])

              let adam =
                  Adam(ParamGroups(ParamGroup([ c ], options = readOnlyDict [ "beta1", 0.0 ]), ParamGroup([ d ])), 0.1)

              c.SetGrad(f64 [ 1.0 ])
              d.SetGrad(f64 [ 1.0 ])
              adam.Step()
              c.SetGrad(f64 [ -1.0 ])
              d.SetGrad(f64 [ -1.0 ])
              adam.Step()
              near 1e-7 [| 0.0 |] c.Value "beta1 = 0: the second step undoes the first"
              // beta1 0.9: m = 0.1·1·0.9 − 0.1 = −0.01, m̂ = −0.01/0.19, v̂ = 1: the second step is +0.1·0.0526…
              near 1e-7 [| -0.1 + 0.1 * 0.01 / 0.19 |] d.Value "beta1 0.9 (the optimizer's)"

              throwsWith<ArgumentException, _>
                  (fun () ->
                      Adam(ParamGroups(ParamGroup([ c ], options = readOnlyDict [ "momentum", 0.9 ])), 0.1)
                      |> ignore)
                  [ "adam"; "group 0"; "'momentum'"; "beta1, beta2, eps" ]

              throwsWith<ArgumentOutOfRangeException, _>
                  (fun () ->
                      Adam(ParamGroups(ParamGroup([ c ], options = readOnlyDict [ "beta2", 1.0 ])), 0.1)
                      |> ignore)
                  [ "group 0"; "beta2 must be in [0, 1)" ]

              throwsWith<ArgumentException, _>
                  (fun () ->
                      RmsProp(ParamGroups(ParamGroup([ c ], options = readOnlyDict [ "momentum", 0.9 ])), 0.1)
                      |> ignore)
                  [ "rmsprop"; "'momentum'"; "alpha, eps" ]

              throwsWith<ArgumentException, _>
                  (fun () ->
                      Sgd(
                          ParamGroups(ParamGroup([ c ], options = readOnlyDict [ "momentum", 0.0 ])),
                          0.1,
                          momentum = 0.9,
                          nesterov = true
                      )
                      |> ignore)
                  [ "sgd"; "Nesterov"; "every group" ]
          }
          test "each parameter counts its own steps: a late first gradient gets the first step's bias correction" {
              // Adam's first step of a parameter is lr·g/(|g| + ε) (m̂ = g, v̂ = g²), whenever it comes
              let early, late = Parameter(f64 [ 1.0 ]), Parameter(f64 [ 1.0 ])
              let opt = Adam([ early; late ], 0.1)

              for _ in 1..3 do
                  early.SetGrad(f64 [ 0.5 ])
                  opt.Step()

              late.SetGrad(f64 [ 2.0 ])
              early.ZeroGrad()
              opt.Step()
              near 1e-12 [| 1.0 - 0.1 * 2.0 / (2.0 + 1e-8) |] late.Value "the late parameter's first step"

              Expect.equal
                  (opt.StepOf 0, opt.StepOf 1, opt.StepCount)
                  (3L, 1L, 4L)
                  "steps: its own, then the optimizer's"

              let state = opt.StateDict()
              Expect.equal (state.["0.step"].Item<int64>(), state.["1.step"].Item<int64>()) (3L, 1L) "in the state dict"

              // a restored optimizer continues each count; a state without them (written before) takes the optimizer's
              let again = Adam([ Parameter(f64 [ 1.0 ]); Parameter(f64 [ 1.0 ]) ], 0.1)
              again.LoadStateDict state
              Expect.equal (again.StepOf 0, again.StepOf 1) (3L, 1L) "restored"

              let older =
                  state
                  |> Seq.filter (fun kv -> not (kv.Key.EndsWith ".step"))
                  |> Seq.map (fun kv -> kv.Key, kv.Value)
                  |> dict

              again.LoadStateDict(Collections.Generic.Dictionary older)

              Expect.equal
                  (again.StepOf 0, again.StepOf 1)
                  (4L, 4L)
                  "an older state: every stepped parameter took every step"

              let bad = Collections.Generic.Dictionary state
              bad.["1.step"] <- Tensor.FromArray([| 9L |], [| 1 |])

              throwsWith<StateDictMismatchException, _>
                  (fun () -> again.LoadStateDict bad)
                  [ "'1.step' is 9"; "at most" ]
          } ]

/// The rates a schedule sets over its first epochs (the rate before any step first).
let private rates (make: Optimizer -> LrScheduler) lr epochs =
    let opt = Sgd([ Parameter(f64 [ 0.0 ]) ], lr)
    let s = make opt

    [| yield opt.LearningRate
       for _ in 1..epochs do
           s.Step()
           yield opt.LearningRate |]

let private schedules =
    testList
        "schedules"
        [ test "LinearLR as its docs print it" {
              // lr 0.05, start factor 0.5, 4 iterations: 0.025, 0.03125, 0.0375, 0.04375, then 0.05
              let r = rates (fun o -> LinearLr(o, 0.5, 1.0, 4)) 0.05 5
              near 1e-15 [| 0.025; 0.03125; 0.0375; 0.04375; 0.05; 0.05 |] (f64 (List.ofArray r)) "rates"
          }
          test "MultiStepLR as its docs print it" {
              // lr 0.05, milestones 30 and 80, γ 0.1
              let r = rates (fun o -> MultiStepLr(o, [ 30; 80 ], 0.1)) 0.05 100
              Expect.floatClose Accuracy.veryHigh r.[29] 0.05 "before 30"
              Expect.floatClose Accuracy.veryHigh r.[30] 0.005 "30 to 79"
              Expect.floatClose Accuracy.veryHigh r.[79] 0.005 "79"
              Expect.floatClose Accuracy.veryHigh r.[80] 0.0005 "from 80"
          }
          test "ExponentialLR multiplies every epoch" {
              near
                  1e-15
                  [| 1.0; 0.5; 0.25; 0.125 |]
                  (f64 (List.ofArray (rates (fun o -> ExponentialLr(o, 0.5)) 1.0 3)))
                  "rates"
          }
          test "SequentialLR: a linear warm-up, then exponential decay from the base rate" {
              let r =
                  rates (fun o -> SequentialLr(o, [ LinearLr(o, 0.25, 1.0, 2); ExponentialLr(o, 0.5) ], [ 2 ])) 1.0 5

              // the warm-up at epochs 0, 1; the decay counts its own epochs from 2
              near 1e-15 [| 0.25; 0.625; 1.0; 0.5; 0.25; 0.125 |] (f64 (List.ofArray r)) "rates"
          }
          test "OneCycleLR rises to the maximum and anneals to max/(div·final div)" {
              let total = 100
              let r = rates (fun o -> OneCycleLr(o, 1.0, total)) 0.1 (total - 1)
              Expect.floatClose Accuracy.veryHigh r.[0] (1.0 / 25.0) "starts at max/div"
              Expect.floatClose Accuracy.veryHigh r.[29] 1.0 "peaks at pct_start·total − 1"
              Expect.floatClose Accuracy.veryHigh r.[99] (1.0 / 25.0 / 1e4) "ends at the minimum"
              // halfway up the cosine: the mean of the ends
              let start, peak, pct = 1.0 / 25.0, 1.0, 14.0 / 29.0

              Expect.floatClose
                  Accuracy.veryHigh
                  r.[14]
                  (peak + (start - peak) / 2.0 * (cos (Math.PI * pct) + 1.0))
                  "cosine on the way up"

              let opt = Sgd([ Parameter(f64 [ 0.0 ]) ], 0.1)
              let s = OneCycleLr(opt, 1.0, 3)

              for _ in 1..3 do
                  s.Step()

              throwsWith<InvalidOperationException, _> (fun () -> s.Step()) [ "one_cycle_lr"; "3 total steps" ]
          }
          test "ReduceLROnPlateau cuts after patience bad epochs, then cools down" {
              let opt = Sgd([ Parameter(f64 [ 0.0 ]) ], 1.0)
              let s = ReduceLrOnPlateau(opt, factor = 0.5, patience = 2, cooldown = 1)
              let seen = ResizeArray()

              for metric in [ 10.0; 9.0; 9.5; 9.5; 9.5; 9.5; 9.5; 9.5; 9.5; 8.0 ] do
                  s.Step metric
                  seen.Add opt.LearningRate

              // bad epochs after 9.0: 1, 2, 3 → cut at the fifth metric; one cooldown epoch, then 1, 2, 3 again
              near 0.0 [| 1.0; 1.0; 1.0; 1.0; 0.5; 0.5; 0.5; 0.5; 0.25; 0.25 |] (f64 (List.ofSeq seen)) "rates"
          } ]

let tests = testList "torch.optim parity" [ optimizers; schedules ]
