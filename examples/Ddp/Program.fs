// Trains the spiral MLP with DistributedDataParallel, one process a rank (MPI):
//   dotnet build examples/Ddp && mpiexec -n 2 dotnet examples/Ddp/bin/Debug/net10.0/Ddp.dll
// Each rank trains on its own shard of every epoch (DistributedSampler) and gradients are
// averaged in every step; each rank prints its loss, then the ranks check that they hold the
// same parameters, bit for bit. Exits non-zero if they disagree or accuracy is below 90%.
// Alone (plain `dotnet run --project examples/Ddp`) it is a world of one.
open System
open Cotangent
open Cotangent.Nn
open Cotangent.Distributed
open Cotangent.Examples

/// One line in one write, so two ranks' lines interleave whole.
let say (line: string) =
    Console.Out.Write(line + "\n")
    Console.Out.Flush()

[<EntryPoint>]
let main _ =
    use group = ProcessGroup.FromEnvironment()
    // cuda:LOCAL_RANK where there are GPUs, else the CPU
    let device = group.LocalDevice
    // the same data and the same held-out fifth on every rank: one seed
    let x, y = Spirals.make (Generator 2026UL) 600
    let nTest = x.Size 0 / 5
    let xTest, yTest = x.Slice(0, 0, nTest).To device, y.Slice(0, 0, nTest).To device

    let xTrain, yTrain =
        x.Slice(0, nTest, x.Size 0).To device, y.Slice(0, nTest, x.Size 0).To device

    let gen = Generator 1UL

    let net = (Spirals.mlp gen DType.Float32).To device

    // checks every rank built the same model, copies rank 0's values, averages gradients
    let ddp = DistributedDataParallel(net, group)
    let opt = Adam(ddp.Parameters(), 0.01)
    let sampler = DistributedSampler(xTrain.Size 0, group, seed = 7UL)
    // 64 rows a step in all, split over the ranks
    let batch = max 1 (64 / group.WorldSize)

    for epoch in 1..60 do
        sampler.SetEpoch epoch
        let struct (xs, ys) = sampler.Shard(xTrain, yTrain)
        let mutable total = 0.0

        for xb, yb in DataLoader(xs, ys, batch) do
            use _ = Tensor.Scope()
            opt.ZeroGrad()
            let loss = Tensor.CrossEntropy(ddp.Forward xb, yb)
            loss.Backward()
            opt.Step()
            total <- total + loss.Item<float>() * float (xb.Size 0)

        if epoch % 20 = 0 || epoch = 1 then
            say (
                sprintf
                    "rank %d/%d  epoch %2d  loss on its shard %.4f"
                    group.Rank
                    group.WorldSize
                    epoch
                    (total / float (xs.Size 0))
            )

    // every rank's parameters, gathered: they must be the same bits
    let flat =
        Tensor.Cat([| for p in net.Parameters() -> p.Value.Flatten().To(DType.Float64) |], 0).Cpu()

    let all = group.AllGather(flat).ToArray<float>()
    let mine = flat.ToArray<float>()

    let agree =
        Seq.forall
            (fun r ->
                Seq.forall
                    (fun i ->
                        BitConverter.DoubleToInt64Bits all.[r * mine.Length + i] = BitConverter.DoubleToInt64Bits
                            mine.[i])
                    [ 0 .. mine.Length - 1 ])
            [ 0 .. group.WorldSize - 1 ]

    let accuracy = Spirals.accuracy net xTest yTest

    say (
        sprintf
            "rank %d/%d on %O: held-out accuracy %.1f%%; parameters identical on all ranks: %b"
            group.Rank
            group.WorldSize
            device
            (100.0 * accuracy)
            agree
    )

    if agree && accuracy >= 0.9 then 0 else 1
