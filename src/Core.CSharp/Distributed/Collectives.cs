using Cotangent.Nn;

namespace Cotangent.Distributed;

/// <summary>
/// Collectives that are ops: recorded in the graph, with VJPs that are collectives themselves
/// (PyTorch's <c>torch.distributed.nn.functional</c>), so a model split over ranks
/// differentiates like one model. The objective they differentiate is the sum of every rank's
/// loss: where every rank computes the same loss on a replicated output, divide it by the
/// world size (as DDP averages) to get the unsplit model's gradients. Every rank must run the
/// same forward and the same backward.
/// </summary>
public static class Collectives
{
    /// <summary>The sum over ranks of <paramref name="x"/>, on every rank. Its VJP is itself: every rank's output feeds every rank's loss.</summary>
    [Op("dist_all_reduce")]
    public static Tensor AllReduce(ProcessGroup group, Tensor x)
    {
        Check("dist_all_reduce", group, x);
        using var _ = OpCall.Enter("dist_all_reduce", x);
        var y = group.AllReduce(x, ReduceOp.Sum);
        return Tensor.Result("dist_all_reduce", y.Storage, y.Shape, [x], (_, g, _, _) => AllReduce(group, g));
    }

    /// <summary>
    /// Every rank's <paramref name="x"/> (all of one shape), concatenated along
    /// <paramref name="axis"/> in rank order, on every rank. Its VJP is reduce-scatter: each
    /// rank takes its own slice of the sum over ranks of the cotangents.
    /// </summary>
    [Op("dist_all_gather")]
    public static Tensor AllGather(ProcessGroup group, Tensor x, int axis = 0)
    {
        Check("dist_all_gather", group, x);
        using var _ = OpCall.Enter("dist_all_gather", x);
        int a = ShapeMath.Axis("dist_all_gather", axis, x.Rank);
        var stacked = group.AllGather(x);   // [world, ...]
        var parts = Enumerable.Range(0, group.WorldSize).Select(r => stacked.Slice(0, r, r + 1).Squeeze(0)).ToArray();
        var y = parts.Length == 1 ? parts[0] : Tensor.Cat(parts, a).Detach();
        int size = x.Size(a), rank = group.Rank;
        return Tensor.Result("dist_all_gather", y.Contiguous().Storage, y.Shape, [x],
            (_, g, _, _) => AllReduce(group, g).Slice(a, rank * size, (rank + 1) * size));
    }

    /// <summary>
    /// <paramref name="x"/> itself (every rank holds the same values), with the sum over ranks
    /// of the cotangents as its VJP: the entry to a region split over ranks (Megatron's copy
    /// to the model-parallel region), so a replicated input, and whatever made it, gets its
    /// whole gradient on every rank rather than this rank's part.
    /// </summary>
    [Op("dist_replicate")]
    public static Tensor Replicate(ProcessGroup group, Tensor x)
    {
        Check("dist_replicate", group, x);
        using var _ = OpCall.Enter("dist_replicate", x);
        return Tensor.Result("dist_replicate", x.Kernels.Contiguous(x.View), x.Shape, [x], (_, g, _, _) => AllReduce(group, g));
    }

    static void Check(string op, ProcessGroup group, Tensor x)
    {
        if (group is null) throw new OpArgumentException(op, $"{op}: the process group is null");
        if (x is null) throw new OpArgumentException(op, $"{op}: the tensor is null");
        x.CheckAlive(op);
    }
}

/// <summary>
/// The output features of one linear layer split over the ranks (Megatron's column-parallel
/// layer): rank r holds rows r·out/world … of the weight and bias, and the output, gathered
/// from every rank, is the unsplit layer's. Made from the same generator as
/// <see cref="Linear"/>, it starts at the unsplit layer's values. With
/// <c>gatherOutput: false</c> each rank keeps its slice of the features, ready for a
/// <see cref="RowParallelLinear"/> with <c>inputIsSplit: true</c>.
/// </summary>
public sealed class ColumnParallelLinear : Module
{
    readonly ProcessGroup group;
    readonly bool gather;

    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/> (a multiple of the world size).</summary>
    public ColumnParallelLinear(int inFeatures, int outFeatures, ProcessGroup group, bool bias = true, bool gatherOutput = true, Generator? generator = null, DType dtype = DType.Float32)
    {
        const string op = "column_parallel_linear";
        this.group = group ?? throw new OpArgumentException(op, $"{op}: the process group is null");
        if (outFeatures % group.WorldSize != 0)
            throw new OpArgumentException(op, $"{op}: {outFeatures} output features do not split evenly over {group.WorldSize} ranks");
        gather = gatherOutput;
        var full = new Linear(inFeatures, outFeatures, bias, generator, dtype);
        int share = outFeatures / group.WorldSize, from = group.Rank * share;
        Weight = AddParameter("weight", full.Weight.Value.Detach().Slice(0, from, from + share).Contiguous());
        if (full.Bias is { } b) Bias = AddParameter("bias", b.Value.Detach().Slice(0, from, from + share).Contiguous());
    }

    /// <summary>This rank's rows of the weight: [out / world, in].</summary>
    public Parameter Weight { get; }

    /// <summary>This rank's slice of the bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>x [.., in] to [.., out] (or this rank's [.., out / world]).</summary>
    public override Tensor Forward(Tensor input)
    {
        var local = Tensor.Linear(Collectives.Replicate(group, Input(input)), Weight.Value, Bias?.Value);
        return gather ? Collectives.AllGather(group, local, -1) : local;
    }
}

/// <summary>
/// The input features of one linear layer split over the ranks (Megatron's row-parallel
/// layer): rank r holds columns r·in/world … of the weight, and the partial products are
/// summed over ranks. The bias is held by rank 0 alone and added into its partial sum, so it
/// is one parameter with one gradient, as in the unsplit layer (other ranks have none).
/// Starts at the unsplit <see cref="Linear"/>'s values from the same generator. With
/// <c>inputIsSplit: true</c> the input is already this rank's slice of the features (a
/// <see cref="ColumnParallelLinear"/>'s ungathered output).
/// </summary>
public sealed class RowParallelLinear : Module
{
    readonly ProcessGroup group;
    readonly bool split;
    readonly int from, share;

    /// <summary>A layer from <paramref name="inFeatures"/> (a multiple of the world size) to <paramref name="outFeatures"/>.</summary>
    public RowParallelLinear(int inFeatures, int outFeatures, ProcessGroup group, bool bias = true, bool inputIsSplit = false, Generator? generator = null, DType dtype = DType.Float32)
    {
        const string op = "row_parallel_linear";
        this.group = group ?? throw new OpArgumentException(op, $"{op}: the process group is null");
        if (inFeatures % group.WorldSize != 0)
            throw new OpArgumentException(op, $"{op}: {inFeatures} input features do not split evenly over {group.WorldSize} ranks");
        split = inputIsSplit;
        var full = new Linear(inFeatures, outFeatures, bias, generator, dtype);
        share = inFeatures / group.WorldSize;
        from = group.Rank * share;
        Weight = AddParameter("weight", full.Weight.Value.Detach().Slice(1, from, from + share).Contiguous());
        if (full.Bias is { } b && group.Rank == 0) Bias = AddParameter("bias", b.Value.Detach());
    }

    /// <summary>This rank's columns of the weight: [out, in / world].</summary>
    public Parameter Weight { get; }

    /// <summary>The bias on rank 0 (null on the others, and without a bias).</summary>
    public Parameter? Bias { get; }

    /// <summary>x [.., in] (or this rank's [.., in / world]) to [.., out].</summary>
    public override Tensor Forward(Tensor input)
    {
        var x = Input(input);
        var local = split ? x : Collectives.Replicate(group, x).Slice(-1, from, from + share);
        return Collectives.AllReduce(group, Tensor.Linear(local, Weight.Value, Bias?.Value));
    }
}
