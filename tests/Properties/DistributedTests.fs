/// Process groups, DistributedDataParallel and the sampler, with in-process ranks (one thread a
/// rank): collectives against sums worked out here, DDP against one process on the full batch,
/// failures that must end every rank with an error instead of a hang.
module Cotangent.Tests.DistributedTests

open System
open System.Diagnostics
open System.Threading.Tasks
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Distributed
open Cotangent.Tests.Check

/// Runs f on every rank of an in-process world, each on its own thread, and returns the ranks' results.
let onRanks (n: int) (timeout: TimeSpan) (f: ProcessGroup -> 'T) : 'T[] =
    let groups = ProcessGroup.InProcess n

    for g in groups do
        g.Timeout <- timeout

    let tasks =
        groups
        |> Array.map (fun g -> Task.Factory.StartNew((fun () -> f g), TaskCreationOptions.LongRunning))

    try
        Task.WaitAll(tasks |> Array.map (fun t -> t :> Task))
        tasks |> Array.map (fun t -> t.Result)
    with :? AggregateException as e ->
        raise (e.Flatten().InnerExceptions.[0])

/// What each rank threw (or None), when some are expected to fail.
let outcomes (n: int) (timeout: TimeSpan) (f: ProcessGroup -> unit) =
    onRanks n timeout (fun g ->
        try
            f g
            None
        with e ->
            Some e)

/// The rank's outcome was a DistributedException whose message holds every one of the parts.
let failedWith (what: string) (parts: string list) (outcome: exn option) =
    match outcome with
    | Some(:? DistributedException as d) ->
        for p in parts do
            Expect.stringContains d.Message p what
    | other -> failtestf "%s: expected DistributedException, got %A" what other

let private seconds (s: float) = TimeSpan.FromSeconds s

let collectives =
    testList
        "in-process collectives"
        [ test "all-reduce sums, averages, maxes and mins every rank's values, the same on every rank" {
              let value rank i = float (rank * 10 + i) * 0.5 - 3.0

              let results =
                  onRanks 3 (seconds 20.0) (fun g ->
                      let t = Tensor.FromArray(Array.init 4 (value g.Rank), [| 2; 2 |])

                      [ ReduceOp.Sum; ReduceOp.Average; ReduceOp.Max; ReduceOp.Min ]
                      |> List.map (fun op -> (g.AllReduce(t, op)).ToArray<float>()))

              let column i = [ for r in 0..2 -> value r i ]

              let expected =
                  [ List.sum; List.average; List.max; List.min ]
                  |> List.map (fun f -> Array.init 4 (column >> f))

              for r in 0..2 do
                  Expect.equal results.[r] expected (sprintf "rank %d" r)
          }
          test "broadcast copies the root's values, all-gather stacks every rank's in rank order" {
              let results =
                  onRanks 3 (seconds 20.0) (fun g ->
                      let mine = Tensor.FromArray([| int64 g.Rank; int64 (g.Rank * g.Rank) |], [| 2 |])
                      let b = g.Broadcast(mine, 1)
                      let all = g.AllGather mine
                      g.Barrier()
                      b.ToArray<int64>(), all.Shape, all.ToArray<int64>())

              for (b, shape, all) in results do
                  Expect.equal b [| 1L; 1L |] "rank 1's values"
                  Expect.equal shape [| 3; 2 |] "stacked"
                  Expect.equal all [| 0L; 0L; 1L; 1L; 2L; 4L |] "in rank order"
          }
          test "tensors on a simulated device stay there" {
              let results =
                  onRanks 2 (seconds 20.0) (fun g ->
                      let t = Tensor.Full([| 3 |], float (g.Rank + 1), DType.Float32, Device.Simulated 3)
                      let s = g.AllReduce t
                      s.Device, s.ToArray<float32>())

              for (d, v) in results do
                  Expect.equal d (Device.Simulated 3) "device"
                  Expect.equal v [| 3f; 3f; 3f |] "1 + 2"
          }
          test "ranks that call different collectives all fail, naming both" {
              let errors =
                  outcomes 2 (seconds 20.0) (fun g ->
                      let t = Tensor.Zeros [| 2 |]

                      if g.Rank = 0 then
                          g.AllReduce t |> ignore
                      else
                          g.Broadcast(t, 0) |> ignore)

              for e in errors do
                  failedWith "one kind" [ "all_reduce"; "broadcast" ] e
          }
          test "a rank that never comes makes the others fail within the timeout, naming it" {
              let sw = Stopwatch.StartNew()

              let errors =
                  outcomes 3 (seconds 1.0) (fun g ->
                      if g.Rank <> 2 then
                          g.AllReduce(Tensor.Ones [| 1 |]) |> ignore)

              Expect.isLessThan sw.Elapsed.TotalSeconds 10.0 "bounded"
              Expect.isNone errors.[2] "the absent rank itself did nothing"

              for r in 0..1 do
                  failedWith (sprintf "rank %d names the absent rank" r) [ "ranks 2 never joined" ] errors.[r]
          }
          test "a rank that aborts stops the others at once, with its reason" {
              let sw = Stopwatch.StartNew()

              let errors =
                  outcomes 2 (seconds 60.0) (fun g ->
                      if g.Rank = 1 then
                          g.Abort "the data ran out"
                      else
                          g.AllReduce(Tensor.Ones [| 1 |]) |> ignore)

              Expect.isLessThan sw.Elapsed.TotalSeconds 10.0 "not the 60 s timeout"

              failedWith "the reason" [ "rank 1 aborted the group: the data ran out" ] errors.[0]
          }
          test "bad arguments are refused by name" {
              let g = (ProcessGroup.InProcess 1).[0]

              throwsWith<OpArgumentException, _>
                  (fun () -> g.Broadcast(Tensor.Zeros [| 1 |], 1))
                  [ "broadcast:"; "root 1" ]

              throwsWith<OpArgumentException, _> (fun () -> ProcessGroup.InProcess 0) [ "process_group:"; "at least 1" ]
              throwsWith<DTypeMismatchException, _> (fun () -> g.AllReduce(Tensor.From(true))) [ "all_reduce:"; "bool" ]
              let single = g.AllReduce(Tensor.From(2.5))
              Expect.equal (single.Item<float>()) 2.5 "a world of one"
              g.Dispose()
              throwsWith<ObjectDisposedException, _> (fun () -> g.Barrier()) [ "barrier" ]
          } ]

/// The hook DDP relies on: a leaf is reported once its gradient is complete, before backward ends.
type private Recorder() =
    let ready = ResizeArray<Tensor * float[]>()
    member val Finished = 0 with get, set
    member _.Ready = ready

    interface IGradHook with
        member _.Order = 0L

        member _.Ready(leaf) =
            ready.Add(leaf, leaf.Grad.ToArray<float>())

        member this.Finished(failure) = this.Finished <- this.Finished + 1

let hooks =
    testList
        "gradient-ready hooks"
        [ test "each hooked leaf is reported once, with its complete gradient, output layer first" {
              let w1 = Tensor.FromArray([| 0.5; -1.0; 2.0; 0.25 |], [| 2; 2 |]).RequireGrad()
              let w2 = Tensor.FromArray([| 1.5; -0.5 |], [| 2; 1 |]).RequireGrad()
              let rec_ = Recorder()
              w1.Accumulator.Hook <- rec_
              w2.Accumulator.Hook <- rec_
              let x = Tensor.FromArray([| 1.0; 2.0; -1.0; 0.5 |], [| 2; 2 |])
              // w1 is used twice: its gradient is complete only after both uses are pulled back
              let h = (Tensor.MatMul(x, w1).Tanh() + Tensor.MatMul(x * 2.0, w1)).Relu()
              Tensor.MatMul(h, w2).Sum().Backward()
              Expect.equal rec_.Finished 1 "told once at the end"
              Expect.equal (rec_.Ready |> Seq.map fst |> List.ofSeq) [ w2; w1 ] "the output layer's weight first"

              for (leaf, atReady) in rec_.Ready do
                  Expect.equal atReady (leaf.Grad.ToArray<float>()) "complete when reported"
          } ]

/// A small float64 MLP with a fixed start, the same on every rank.
let modelOf (dtype: DType) (hidden: int) =
    let gen = Generator 5UL

    Sequential(
        Linear(3, hidden, generator = gen, dtype = dtype),
        Tanh(),
        Linear(hidden, 2, generator = gen, dtype = dtype)
    )

let model = modelOf DType.Float64

let data (dtype: DType) =
    let gen = Generator 9UL
    Tensor.Randn([| 12; 3 |], DType.Float64, gen).To dtype, Tensor.Randn([| 12; 2 |], DType.Float64, gen).To dtype

let mse (net: Module) (x: Tensor) (y: Tensor) =
    ((net.Forward x - y) * (net.Forward x - y)).Mean()

let values (net: Module) =
    net.Parameters() |> Seq.map (fun p -> p.Value.ToArray<float>()) |> Array.ofSeq

/// Trains on the full batch in one process: the reference.
let alone dtype steps (makeOpt: Module -> Optimizer) =
    let net = modelOf dtype 5
    let opt = makeOpt net
    let x, y = data dtype

    for _ in 1..steps do
        opt.ZeroGrad()
        (mse net x y).Backward()
        opt.Step()

    values net

/// Trains with DDP over k in-process ranks, each on its contiguous share of the batch; returns
/// every rank's parameters after every step.
let private distributed k dtype steps bucketMb (makeOpt: Module -> Optimizer) =
    onRanks k (seconds 60.0) (fun g ->
        let net = modelOf dtype 5
        let ddp = DistributedDataParallel(net, g, bucketCapMb = bucketMb)
        let opt = makeOpt ddp
        let x, y = data dtype
        let share = 12 / k

        let xs, ys =
            x.Slice(0, g.Rank * share, (g.Rank + 1) * share), y.Slice(0, g.Rank * share, (g.Rank + 1) * share)

        [ for _ in 1..steps do
              opt.ZeroGrad()
              (mse ddp xs ys).Backward()
              opt.Step()
              yield values net ])

/// Two parameters "a" and "b", registered in either order; the forward uses b only when asked.
type private Pair(swap: bool, useB: bool) =
    inherit Module()
    let mutable a: Parameter = null
    let mutable b: Parameter = null

    member this.Init() =
        let make () = Tensor.Ones([| 3 |], DType.Float64)

        if swap then
            b <- this.AddParameter("b", make ())
            a <- this.AddParameter("a", make ())
        else
            a <- this.AddParameter("a", make ())
            b <- this.AddParameter("b", make ())

        this

    member _.A = a
    member _.B = b

    override _.Forward x =
        let y = x * a.Value
        if useB then y * b.Value else y

let sgd (m: Module) =
    Sgd(m.Parameters(), 0.1, momentum = 0.9) :> Optimizer

let adam (m: Module) = Adam(m.Parameters(), 0.05) :> Optimizer

let closeRel tol (expected: float[][]) (actual: float[][]) what =
    for i in 0 .. expected.Length - 1 do
        for j in 0 .. expected.[i].Length - 1 do
            let e, a = expected.[i].[j], actual.[i].[j]

            if abs (a - e) > tol * max 1.0 (abs e) then
                failtestf "%s: parameter %d element %d is %.17g, alone %.17g" what i j a e

let bitsOf (ps: float[][]) =
    ps |> Array.map (Array.map BitConverter.DoubleToInt64Bits)

let ddp =
    testList
        "DistributedDataParallel"
        [ test "batch norm's buffers: rank 0's at construction and at every forward, then each rank's own update" {
              let results =
                  onRanks 2 (seconds 30.0) (fun g ->
                      let bn = BatchNorm1d(2, dtype = DType.Float64)
                      // rank 1 starts from other statistics: wrapping must replace them with rank 0's
                      if g.Rank = 1 then
                          bn.RunningMean.Assign(Tensor.Full([| 2 |], 5.0, DType.Float64))

                      let ddp = DistributedDataParallel(bn, g)
                      let atStart = bn.RunningMean.Value.ToArray<float>()

                      let batch (a: float) =
                          Tensor.FromArray([| a; 2.0 * a; a + 2.0; 2.0 * a + 2.0 |], [| 2; 2 |])

                      ddp.Forward(batch (float g.Rank * 10.0)) |> ignore
                      let afterOne = bn.RunningMean.Value.ToArray<float>()
                      ddp.Forward(batch (float g.Rank * 10.0 + 1.0)) |> ignore
                      atStart, afterOne, bn.RunningMean.Value.ToArray<float>())

              let s0, one0, _ = results.[0]
              let s1, one1, two1 = results.[1]
              Expect.equal s1 s0 "construction broadcasts rank 0's running mean"
              // first forward: each rank from 0 with its own batch, whose mean is (a + 1, 2a + 1)
              near 1e-15 [| 0.1; 0.1 |] (Tensor.FromArray(one0, [| 2 |])) "rank 0's own update"
              near 1e-15 [| 0.1 * 11.0; 0.1 * 21.0 |] (Tensor.FromArray(one1, [| 2 |])) "rank 1's own update"
              // second forward: rank 1 restarts from rank 0's (0.1, 0.1) and adds its batch's mean (12, 23)
              near
                  1e-15
                  [| 0.9 * 0.1 + 0.1 * 12.0; 0.9 * 0.1 + 0.1 * 23.0 |]
                  (Tensor.FromArray(two1, [| 2 |]))
                  "rank 1 from rank 0's statistics"
          }
          for k in [ 2; 3 ] do
              for name, makeOpt in [ "SGD", sgd; "Adam", adam ] do
                  test (
                      sprintf
                          "%d ranks with %s give one process's parameters, float64 to 1e-10, the same bits on every rank"
                          k
                          name
                  ) {
                      let steps = 4
                      let per = distributed k DType.Float64 steps 25.0 makeOpt
                      let ref = alone DType.Float64 steps makeOpt
                      closeRel 1e-10 ref (List.last per.[0]) (sprintf "%d ranks, %s" k name)

                      for r in 1 .. k - 1 do
                          for s in 0 .. steps - 1 do
                              Expect.equal
                                  (bitsOf per.[r].[s])
                                  (bitsOf per.[0].[s])
                                  (sprintf "rank %d after step %d" r (s + 1))
                  }
          test "float32 to 1e-5, with one bucket a parameter" {
              let per = distributed 2 DType.Float32 3 1e-6 adam
              closeRel 1e-5 (alone DType.Float32 3 adam) (List.last per.[0]) "float32"
          }
          test "NoSync over two micro-batches equals one synchronised backward over both" {
              let grads (useNoSync: bool) =
                  onRanks 2 (seconds 60.0) (fun g ->
                      let ddp = DistributedDataParallel(model 4, g)
                      let x, y = data DType.Float64

                      let half (i: int) =
                          x.Slice(0, g.Rank * 6 + i * 3, g.Rank * 6 + i * 3 + 3),
                          y.Slice(0, g.Rank * 6 + i * 3, g.Rank * 6 + i * 3 + 3)

                      let (x0, y0), (x1, y1) = half 0, half 1

                      if useNoSync then
                          using (ddp.NoSync()) (fun _ -> (mse ddp x0 y0).Backward())
                          (mse ddp x1 y1).Backward()
                      else
                          (mse ddp x0 y0 + mse ddp x1 y1).Backward()

                      ddp.Parameters() |> Seq.map (fun p -> p.Grad.ToArray<float>()) |> Array.ofSeq)

              let a, b = grads true, grads false
              closeRel 1e-12 b.[0] a.[0] "rank 0"
              closeRel 1e-12 b.[1] a.[1] "rank 1"
              Expect.equal (bitsOf a.[0]) (bitsOf a.[1]) "averaged: the same on both ranks"
          }
          test "wrapping broadcasts rank 0's parameters" {
              let firsts =
                  onRanks 2 (seconds 60.0) (fun g ->
                      let net = model 3

                      if g.Rank = 1 then
                          net.Parameters() |> Seq.iter (fun p -> p.Assign(p.Value * 0.0 + 7.0))

                      DistributedDataParallel(net, g) |> ignore
                      values net)

              Expect.equal (bitsOf firsts.[1]) (bitsOf firsts.[0]) "rank 1 now holds rank 0's values"
              Expect.notEqual firsts.[0].[0].[0] 7.0 "and they are rank 0's"
          }
          test "ranks with different models are refused at wrap time, naming the parameter and the ranks" {
              let errors =
                  outcomes 2 (seconds 60.0) (fun g ->
                      DistributedDataParallel(model (if g.Rank = 0 then 4 else 6), g) |> ignore)

              for e in errors do
                  failedWith
                      "what differs"
                      [ "parameter '0.weight' is [4, 3] float64 (cpu) on rank 0 but [6, 3] float64 (cpu) on rank 1" ]
                      e
          }
          test "the same parameters registered in another order are refused: broadcast and buckets go by position" {
              let errors =
                  outcomes 2 (seconds 60.0) (fun g ->
                      DistributedDataParallel(Pair(g.Rank = 1, true).Init(), g) |> ignore)

              for e in errors do
                  failedWith
                      "which and where"
                      [ "rank 0 registers parameter 'a' at position 0, rank 1 registers 'b' there" ]
                      e
          }
          test "a parameter no rank used keeps no gradient, so an optimizer skips it" {
              let grads =
                  onRanks 2 (seconds 60.0) (fun g ->
                      let pair = Pair(false, false).Init()
                      let ddp = DistributedDataParallel(pair, g, bucketCapMb = 1e-6)
                      (ddp.Forward(Tensor.Ones([| 3 |], DType.Float64))).Sum().Backward()
                      pair.A.Grad, pair.B.Grad)

              for ga, gb in grads do
                  Expect.isNotNull ga "the used parameter has its averaged gradient"
                  Expect.isNull gb "the unused one has none"
          }
          test "a backward that no forward of the wrapper prepared reduces nothing and hangs nothing" {
              let results =
                  onRanks 2 (seconds 10.0) (fun g ->
                      let net = model 3
                      let ddp = DistributedDataParallel(net, g)
                      let x, y = data DType.Float64
                      // rank 0 alone looks at a gradient of the inner module: no collective may start
                      if g.Rank = 0 then
                          (mse net x y).Backward()
                          net.ZeroGrad()

                      (mse ddp x y).Backward()
                      values net, [| for p in net.Parameters() -> p.Grad.ToArray<float>() |])

              Expect.equal (bitsOf (snd results.[0])) (bitsOf (snd results.[1])) "the same averaged gradients on both"
          }
          test "a backward that fails midway on one rank stops the other at once" {
              let sw = Stopwatch.StartNew()

              let errors =
                  outcomes 2 (seconds 60.0) (fun g ->
                      let gen = Generator 5UL
                      // rank 1's hidden layer has a VJP that throws, after the output layer's bucket started
                      let boom =
                          Activation(fun h ->
                              if g.Rank = 1 then
                                  Cotangent.FSharp.Autodiff.customOp "boom" [ h ] List.head (fun _ _ _ _ ->
                                      failwith "out of ideas")
                              else
                                  h)

                      let net =
                          Sequential(
                              Linear(3, 4, generator = gen, dtype = DType.Float64),
                              boom,
                              Tanh(),
                              Linear(4, 2, generator = gen, dtype = DType.Float64)
                          )

                      let ddp = DistributedDataParallel(net, g, bucketCapMb = 1e-6)
                      let x, y = data DType.Float64
                      (mse ddp x y).Backward())

              Expect.isLessThan sw.Elapsed.TotalSeconds 20.0 "not the 60 s timeout"

              failedWith "rank 0 is told the reason" [ "backward failed on rank 1: out of ideas" ] errors.[0]

              Expect.isSome errors.[1] "rank 1 fails with its own error"
          }
          test "a rank that fails before its backward leaves the others to the timeout, then a clear error" {
              let errors =
                  outcomes 2 (seconds 1.5) (fun g ->
                      let ddp = DistributedDataParallel(model 4, g)
                      let x, y = data DType.Float64
                      let loss = mse ddp x y

                      if g.Rank = 1 then
                          loss.Backward(Tensor.Ones [| 3 |])
                      else
                          loss.Backward())

              failedWith "rank 0 is told" [ "never joined" ] errors.[0]

              match errors.[1] with
              | Some e -> Expect.stringContains e.Message "backward" "rank 1 has its own error"
              | None -> failtest "rank 1 should fail"
          } ]

let sampler =
    testList
        "DistributedSampler"
        [ test "shards cover the data set, equally, padded from the start, shuffled alike on every rank" {
              for length, world in [ 10, 3; 12, 4; 7, 2; 3, 5 ] do
                  let shards =
                      [ for r in 0 .. world - 1 -> DistributedSampler(length, world, r, seed = 4UL).Indices() ]

                  let per = (length + world - 1) / world
                  Expect.all shards (fun s -> s.Length = per) "equal shares"
                  let all = shards |> Array.concat |> Array.distinct |> Array.sort
                  Expect.equal all [| 0L .. int64 length - 1L |] "every index somewhere"
                  // dealt round-robin from one permutation, padded by repeating its start
                  let dealt = Array.init (per * world) (fun i -> shards.[i % world].[i / world])

                  Expect.equal
                      dealt.[length..]
                      dealt.[.. per * world - length - 1]
                      (sprintf "padding repeats the start (%d over %d)" length world)
          }
          test "the epoch changes the order, the seed makes it repeatable, dropLast cuts instead of padding" {
              let s = DistributedSampler(20, 2, 0)
              let e0 = s.Indices()
              s.SetEpoch 1
              Expect.notEqual (s.Indices()) e0 "a new order"
              s.SetEpoch 0
              Expect.equal (s.Indices()) e0 "the same again"
              Expect.equal (DistributedSampler(20, 2, 0, shuffle = false).Indices()) [| 0L..2L..18L |] "in order"

              Expect.equal
                  (DistributedSampler(7, 2, 1, shuffle = false, dropLast = true).Indices())
                  [| 1L; 3L; 5L |]
                  "cut to 6"
          }
          test "shard picks the rows, and bad arguments are refused by name" {
              let x = Tensor.Arange(10).Reshape(5, 2)
              let y = Tensor.Arange(5)
              let struct (xs, ys) = DistributedSampler(5, 2, 1, shuffle = false).Shard(x, y)
              Expect.equal (ys.ToArray<float32>()) [| 1f; 3f; 0f |] "rows 1, 3 and the padding's 0"
              Expect.equal xs.Shape [| 3; 2 |] "inputs follow"

              throwsWith<OpArgumentException, _>
                  (fun () -> DistributedSampler(5, 2, 2))
                  [ "distributed_sampler:"; "rank 2" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> DistributedSampler(4, 2, 0).Shard(x, y))
                  [ "distributed_sampler:"; "4 rows" ]
          } ]

let private sims = [ for i in 0..2 -> Device.Simulated i ]

let dataParallel =
    testList
        "DataParallel"
        [ for devices, what in
              [ sims, "three simulated devices"
                [ Device.Cpu; Device.Simulated 1 ], "the CPU and a simulated device" ] do
              for name, makeOpt in [ "SGD", sgd; "Adam", adam ] do
                  test (sprintf "over %s with %s gives one device's parameters, with an uneven last chunk" what name) {
                      let steps = 3
                      let x, y = data DType.Float64
                      // 10 rows over 3 devices: chunks of 4, 4 and 2
                      let x, y = x.Slice(0, 0, 10), y.Slice(0, 0, 10)
                      let reference = modelOf DType.Float64 5
                      let refOpt = makeOpt (reference :> Module)

                      for _ in 1..steps do
                          refOpt.ZeroGrad()
                          (mse reference x y).Backward()
                          refOpt.Step()

                      let net = (modelOf DType.Float64 5).To devices.[0]
                      let dp = DataParallel(net, devices)
                      let opt = makeOpt (dp :> Module)
                      let xd, yd = x.To devices.[0], y.To devices.[0]

                      for _ in 1..steps do
                          opt.ZeroGrad()
                          let out = dp.Forward xd
                          Expect.equal out.Device devices.[0] "gathered on the output device"
                          Expect.equal out.Shape [| 10; 2 |] "every row back, in order"
                          ((out - yd) * (out - yd)).Mean().Backward()
                          opt.Step()

                      closeRel 1e-10 (values reference) (values net) (sprintf "DataParallel over %s" what)
                  }
          test "a batch smaller than the device list uses fewer devices; bad setups are refused by name" {
              let net = (modelOf DType.Float64 3).To sims.[0]
              let dp = DataParallel(net, sims)

              Expect.equal
                  ((dp.Forward(Tensor.Ones([| 2; 3 |], DType.Float64, sims.[0]))).Shape)
                  [| 2; 2 |]
                  "two rows, two devices"

              throwsWith<OpArgumentException, _>
                  (fun () -> DataParallel(net, [ sims.[0]; sims.[0] ]))
                  [ "data_parallel:"; "twice" ]

              throwsWith<DeviceMismatchException, _>
                  (fun () ->
                      DataParallel(net, [ sims.[1]; sims.[0] ])
                          .Forward(Tensor.Ones([| 2; 3 |], DType.Float64, sims.[1])))
                  [ "data_parallel:"; "first device, sim:1" ]
          } ]

let modelParallel =
    testList
        "model and intra-layer parallelism"
        [ test "a model whose stages sit on two devices trains as on one" {
              let x, y = data DType.Float64
              let gen () = Generator 5UL

              let whole =
                  let g = gen ()

                  Sequential(
                      Linear(3, 5, generator = g, dtype = DType.Float64),
                      Tanh(),
                      Linear(5, 2, generator = g, dtype = DType.Float64)
                  )

              let split =
                  let g = gen ()
                  let first = Linear(3, 5, generator = g, dtype = DType.Float64).To sims.[0]
                  let second = Linear(5, 2, generator = g, dtype = DType.Float64).To sims.[1]
                  Sequential(first, Tanh(), ToDevice sims.[1], second)

              let train (net: Module) (x: Tensor) (y: Tensor) =
                  let opt = Adam(net.Parameters(), 0.05)

                  for _ in 1..3 do
                      opt.ZeroGrad()
                      (mse net x y).Backward()
                      opt.Step()

              train whole x y
              train split (x.To sims.[0]) (y.To sims.[1])
              let ps = split.Parameters() |> Array.ofSeq
              Expect.equal ps.[0].Value.Device sims.[0] "stage one stays"
              Expect.equal ps.[3].Value.Device sims.[1] "stage two stays"
              closeRel 1e-10 (values whole) (values split) "split over devices"
          }
          for k in [ 2; 4 ] do
              test (
                  sprintf
                      "column- then row-parallel linear layers over %d ranks equal the unsplit pair, forward and backward"
                      k
              ) {
                  let x0 = Tensor.Randn([| 3; 8 |], DType.Float64, Generator 2UL)
                  // a layer before the split pair: replicated, its gradient must be whole on every rank
                  let pre = Linear(8, 8, generator = Generator 13UL, dtype = DType.Float64)
                  let x = x0.RequireGrad()
                  let target = Tensor.Randn([| 3; 6 |], DType.Float64, Generator 3UL)
                  let a = Linear(8, 4 * k, generator = Generator 11UL, dtype = DType.Float64)
                  let b = Linear(4 * k, 6, generator = Generator 12UL, dtype = DType.Float64)

                  let yWhole =
                      Tensor.Linear(
                          Tensor.Linear(pre.Forward x, a.Weight.Value, a.Bias.Value).Tanh(),
                          b.Weight.Value,
                          b.Bias.Value
                      )

                  ((yWhole - target) * (yWhole - target)).Sum().Backward()

                  let perRank =
                      onRanks k (seconds 60.0) (fun g ->
                          let col =
                              ColumnParallelLinear(
                                  8,
                                  4 * k,
                                  g,
                                  gatherOutput = false,
                                  generator = Generator 11UL,
                                  dtype = DType.Float64
                              )

                          let row =
                              RowParallelLinear(
                                  4 * k,
                                  6,
                                  g,
                                  inputIsSplit = true,
                                  generator = Generator 12UL,
                                  dtype = DType.Float64
                              )

                          let y = row.Forward((col.Forward(pre.Forward x)).Tanh())
                          // every rank computes the whole loss; the objective is the sum over ranks
                          (((y - target) * (y - target)).Sum() / float k).Backward()
                          // the gathered variants agree with the split ones
                          let gathered =
                              ColumnParallelLinear(8, 4 * k, g, generator = Generator 11UL, dtype = DType.Float64)
                                  .Forward(pre.Forward x)

                          let full =
                              RowParallelLinear(4 * k, 6, g, generator = Generator 12UL, dtype = DType.Float64)
                                  .Forward(gathered.Tanh())

                          let bias =
                              if isNull row.Bias then
                                  None
                              else
                                  Some(row.Bias.Grad.ToArray<float>())

                          (y.ToArray<float>(),
                           full.ToArray<float>(),
                           col.Weight.Grad.ToArray<float>(),
                           row.Weight.Grad.ToArray<float>(),
                           bias),
                          (x.Grad.ToArray<float>(), pre.Weight.Grad.ToArray<float>()))

                  let share = 4 * k / k

                  let same what (expected: float[]) (actual: float[]) =
                      near 1e-12 expected (Tensor.FromArray(actual, [| actual.Length |])) what

                  for r in 0 .. k - 1 do
                      let (y, full, gCol, gRow, gBias), (gx, gPre) = perRank.[r]
                      same (sprintf "rank %d input gradient" r) (x.Grad.ToArray<float>()) gx
                      same (sprintf "rank %d gradient of the layer before" r) (pre.Weight.Grad.ToArray<float>()) gPre
                      same (sprintf "rank %d output" r) (yWhole.ToArray<float>()) y
                      same (sprintf "rank %d, gathered layers" r) (yWhole.ToArray<float>()) full

                      same
                          (sprintf "rank %d column weight gradient" r)
                          (a.Weight.Grad.Slice(0, r * share, (r + 1) * share).ToArray<float>())
                          gCol

                      same
                          (sprintf "rank %d row weight gradient" r)
                          (b.Weight.Grad.Slice(1, r * share, (r + 1) * share).ToArray<float>())
                          gRow

                      match gBias with
                      | Some gb when r = 0 -> same "the bias gradient, on rank 0" (b.Bias.Grad.ToArray<float>()) gb
                      | None when r > 0 -> ()
                      | _ -> failtestf "rank %d: the bias belongs to rank 0 alone" r
              } ]

let tests =
    testList "distributed" [ collectives; hooks; ddp; sampler; dataParallel; modelParallel ]
