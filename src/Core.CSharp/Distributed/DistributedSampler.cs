namespace Cotangent.Distributed;

/// <summary>
/// Each rank's share of a data set, as PyTorch's <c>DistributedSampler</c>: the indices
/// 0 … length − 1, shuffled by a generator seeded with <c>seed + epoch</c> (the same order on
/// every rank; call <see cref="SetEpoch"/> before each epoch for a new one), padded by
/// repeating from the start until every rank gets the same count (or, with
/// <c>dropLast</c>, cut to a multiple of the world size), then dealt out: rank r takes
/// positions r, r + world, r + 2·world, ….
/// </summary>
public sealed class DistributedSampler
{
    readonly int length, replicas, rank;
    readonly bool shuffle, dropLast;
    readonly ulong seed;

    /// <summary>A sampler for this rank of <paramref name="group"/>.</summary>
    public DistributedSampler(int length, ProcessGroup group, bool shuffle = true, ulong seed = 0, bool dropLast = false)
        : this(length, (group ?? throw new OpArgumentException("distributed_sampler", "distributed_sampler: the process group is null")).WorldSize, group.Rank, shuffle, seed, dropLast) { }

    /// <summary>A sampler for rank <paramref name="rank"/> of <paramref name="replicas"/>.</summary>
    public DistributedSampler(int length, int replicas, int rank, bool shuffle = true, ulong seed = 0, bool dropLast = false)
    {
        const string op = "distributed_sampler";
        if (length < 0) throw new OpArgumentException(op, $"{op}: the data set length must be 0 or more, got {length}");
        if (replicas < 1) throw new OpArgumentException(op, $"{op}: the number of replicas must be at least 1, got {replicas}");
        if (rank < 0 || rank >= replicas) throw new OpArgumentException(op, $"{op}: rank {rank} is not in 0 to {replicas - 1}");
        if (length == 0 && !dropLast) throw new OpArgumentException(op, $"{op}: an empty data set cannot be padded to {replicas} equal shares");
        (this.length, this.replicas, this.rank, this.shuffle, this.seed, this.dropLast) = (length, replicas, rank, shuffle, seed, dropLast);
    }

    /// <summary>The epoch whose order <see cref="Indices"/> gives (0 at first).</summary>
    public int Epoch { get; private set; }

    /// <summary>Picks the order of an epoch: call it with the same value on every rank.</summary>
    public void SetEpoch(int epoch) => Epoch = epoch;

    /// <summary>How many indices each rank gets.</summary>
    public int Count => dropLast ? length / replicas : (length + replicas - 1) / replicas;

    /// <summary>This rank's indices for the current epoch.</summary>
    public long[] Indices()
    {
        var order = new long[length];
        for (int i = 0; i < length; i++) order[i] = i;
        if (shuffle)
        {
            var u = new Generator(seed + (ulong)Epoch).Uniform(length);   // Fisher–Yates, as the DataLoader shuffles
            for (int i = length - 1; i > 0; i--)
            {
                int j = (int)(u[i] * (i + 1));
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        int total = Count * replicas;
        var mine = new long[Count];
        for (int k = 0; k < mine.Length; k++) mine[k] = order[(rank + k * replicas) % length];
        return total == 0 ? [] : mine;
    }

    /// <summary>This rank's rows of <paramref name="inputs"/> and <paramref name="targets"/> for the current epoch (index the first axis).</summary>
    public (Tensor Inputs, Tensor Targets) Shard(Tensor inputs, Tensor targets)
    {
        const string op = "distributed_sampler";
        if (inputs is null || targets is null) throw new OpArgumentException(op, $"{op}: the inputs or the targets are null");
        if (inputs.Rank == 0 || targets.Rank == 0 || inputs.Size(0) != length || targets.Size(0) != length)
            throw new ShapeMismatchException(op, $"{op}: inputs {ShapeMath.Format(inputs.Shape)} and targets {ShapeMath.Format(targets.Shape)} must have {length} rows, the length this sampler was made for");
        var idx = Indices();
        var ix = Tensor.FromArray(idx, [idx.Length], inputs.Device);
        return (inputs.IndexSelect(0, ix), targets.IndexSelect(0, targets.Device == inputs.Device ? ix : ix.To(targets.Device)));
    }
}
