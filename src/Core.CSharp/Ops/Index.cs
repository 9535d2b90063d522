namespace Cotangent;

/// <summary>Indexing and joining: index_select/index_add and gather/scatter_add are each other's transposes.</summary>
public sealed partial class Tensor
{
    static void CheckIndex(string op, Tensor index, Tensor x)
    {
        if (index.DType != DType.Int64)
            throw new DTypeMismatchException(op, $"{op}: indices must be int64, got {index.DType.Name()}");
        SameDevice(op, x, index);
    }

    /// <summary>The entries at <paramref name="index"/> (int64, 1-D) along axis. The VJP adds the cotangent back at those entries.</summary>
    [Op("index_select")]
    public Tensor IndexSelect(int axis, Tensor index)
    {
        using var _ = OpCall.Enter("index_select", this, index);
        CheckIndex("index_select", index, this);
        if (index.Rank != 1)
            throw new ShapeMismatchException("index_select", $"index_select: the index must be 1-D, got shape {ShapeMath.Format(index.shape)}");
        int a = ShapeMath.ExistingAxis("index_select", axis, Rank);
        var outShape = Shape; outShape[a] = index.shape[0];
        return Result("index_select", Kernels.IndexSelect(View, a, index.View), outShape, [this],
            (_, g, x, _) => IndexAdd(x[0].shape, a, index, g));
    }

    /// <summary>
    /// Zeros of <paramref name="shape"/> plus src's slices added at <paramref name="index"/> along
    /// axis (repeated indices sum): the transpose of <see cref="IndexSelect"/>, which is its VJP.
    /// </summary>
    [Op("index_add")]
    public static Tensor IndexAdd(int[] shape, int axis, Tensor index, Tensor src)
    {
        using var _ = OpCall.Enter("index_add", index, src);
        CheckIndex("index_add", index, src);
        CheckShape("index_add", shape);
        int a = ShapeMath.ExistingAxis("index_add", axis, shape.Length);
        int[] expect = [.. shape];
        if (index.Rank == 1 && a < expect.Length) expect[a] = index.shape[0];
        if (index.Rank != 1 || !ShapeMath.SameShape(src.shape, expect))
            throw new ShapeMismatchException("index_add", $"index_add: source of shape {ShapeMath.Format(src.shape)} and index of shape {ShapeMath.Format(index.shape)} do not fit into {ShapeMath.Format(shape)} along axis {axis}");
        return Result("index_add", src.Kernels.IndexAdd([.. shape], a, index.View, src.View), [.. shape], [src],
            (_, g, _, _) => g.IndexSelect(a, index));
    }

    /// <summary>
    /// out[..., j, ...] = x[..., index[..., j, ...], ...] along axis (torch.gather); index has
    /// x's shape except along axis. The VJP scatters the cotangent back, adding on repeats.
    /// </summary>
    [Op("gather")]
    public Tensor Gather(int axis, Tensor index)
    {
        using var _ = OpCall.Enter("gather", this, index);
        CheckIndex("gather", index, this);
        int a = ShapeMath.ExistingAxis("gather", axis, Rank);
        CheckAlongAxis("gather", shape, index.shape, a);
        return Result("gather", Kernels.Gather(View, a, index.View), index.Shape, [this],
            (_, g, x, _) => ScatterAdd(x[0].shape, a, index, g));
    }

    /// <summary>Zeros of <paramref name="shape"/> with src added at index along axis: the transpose of <see cref="Gather"/>.</summary>
    [Op("scatter_add")]
    public static Tensor ScatterAdd(int[] shape, int axis, Tensor index, Tensor src)
    {
        using var _ = OpCall.Enter("scatter_add", index, src);
        CheckIndex("scatter_add", index, src);
        CheckShape("scatter_add", shape);
        int a = ShapeMath.ExistingAxis("scatter_add", axis, shape.Length);
        if (!ShapeMath.SameShape(index.shape, src.shape))
            throw new ShapeMismatchException("scatter_add", $"scatter_add: index shape {ShapeMath.Format(index.shape)} and source shape {ShapeMath.Format(src.shape)} differ");
        CheckAlongAxis("scatter_add", shape, index.shape, a);
        return Result("scatter_add", src.Kernels.ScatterAdd([.. shape], a, index.View, src.View), [.. shape], [src],
            (_, g, _, _) => g.Gather(a, index));
    }

    static void CheckAlongAxis(string op, int[] shape, int[] index, int axis)
    {
        bool ok = shape.Length == index.Length;
        for (int i = 0; ok && i < shape.Length; i++) ok = i == axis || shape[i] == index[i];
        if (!ok)
            throw new ShapeMismatchException(op, $"{op}: index shape {ShapeMath.Format(index)} must match {ShapeMath.Format(shape)} on every axis but {axis}");
    }

    /// <summary>Joins tensors along an existing axis. The VJP slices the cotangent back apart.</summary>
    [Op("cat")]
    public static Tensor Cat(Tensor[] parts, int axis = 0)
    {
        using var _ = OpCall.Enter("cat", parts);
        if (parts is null || parts.Length == 0 || parts.Any(p => p is null)) throw new OpArgumentException("cat", "cat: expects at least one tensor, and no null");
        var first = parts[0];
        if (first.Rank == 0) throw new ShapeMismatchException("cat", "cat: cannot join 0-d tensors; use Stack");
        int a = ShapeMath.Axis("cat", axis, first.Rank);
        var dtype = parts.Select(p => p.DType).Aggregate(DTypes.Promote);
        foreach (var p in parts)
        {
            SameDevice("cat", first, p);
            bool ok = p.Rank == first.Rank;
            for (int i = 0; ok && i < p.Rank; i++) ok = i == a || p.shape[i] == first.shape[i];
            if (!ok)
                throw new ShapeMismatchException("cat", $"cat: shapes {string.Join(" and ", parts.Select(q => ShapeMath.Format(q.shape)))} differ outside axis {axis}");
        }
        var cast = parts.Select(p => p.To(dtype)).ToArray();
        var outShape = first.Shape;
        long joined = parts.Sum(p => (long)p.shape[a]);
        if (joined > Array.MaxLength)
            throw new ShapeMismatchException("cat", $"cat: the joined axis would have {joined:N0} entries, more than one buffer can hold");
        outShape[a] = (int)joined;
        ShapeMath.Numel(outShape);
        var starts = new int[parts.Length];
        for (int i = 1; i < parts.Length; i++) starts[i] = starts[i - 1] + parts[i - 1].shape[a];
        return Result("cat", first.Kernels.Cat(cast.Select(p => p.View).ToArray(), a, outShape), outShape, cast,
            (i, g, x, _) => g.Slice(a, starts[i], starts[i] + x[i].shape[a]));
    }

    /// <summary>Joins tensors of one shape along a new axis.</summary>
    [Op("stack", OpKind.Composite)]
    public static Tensor Stack(Tensor[] parts, int axis = 0)
    {
        using var _ = OpCall.Enter("stack", parts);
        if (parts is null || parts.Length == 0 || parts.Any(p => p is null)) throw new OpArgumentException("stack", "stack: expects at least one tensor, and no null");
        foreach (var p in parts)
            if (!ShapeMath.SameShape(p.shape, parts[0].shape))
                throw new ShapeMismatchException("stack", $"stack: all tensors must have one shape, got {string.Join(" and ", parts.Select(q => ShapeMath.Format(q.shape)))}");
        int a = ShapeMath.Axis("stack", axis, parts[0].Rank + 1);
        return Cat(parts.Select(p => p.Unsqueeze(a)).ToArray(), a);
    }

    /// <summary>Splits along axis into pieces of <paramref name="size"/> (the last may be smaller). Views.</summary>
    public Tensor[] Split(int size, int axis = 0)
    {
        using var _ = OpCall.Enter("split", this);
        if (size <= 0) throw new OpArgumentException("split", $"split: the piece size must be positive, got {size}");
        int n = shape[ShapeMath.ExistingAxis("split", axis, Rank)];
        var sizes = new List<int>();
        for (long s = 0; s < n; s += size) sizes.Add((int)Math.Min(size, n - s));
        if (n == 0) sizes.Add(0);   // an empty axis splits into one empty piece, as in PyTorch
        return Split(sizes.ToArray(), axis);
    }

    /// <summary>Splits along axis into pieces of the given sizes, which must add up to the axis's size. Views.</summary>
    [Op("split", OpKind.Composite)]
    public Tensor[] Split(int[] sizes, int axis = 0)
    {
        using var _ = OpCall.Enter("split", this);
        int a = ShapeMath.ExistingAxis("split", axis, Rank);
        if (sizes is null || sizes.Any(s => s < 0) || sizes.Sum(s => (long)s) != shape[a])
            throw new ShapeMismatchException("split", $"split: sizes [{string.Join(", ", sizes ?? [])}] do not add up to {shape[a]}, the size of axis {axis} of {ShapeMath.Format(shape)}");
        var o = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++) { o[i] = Slice(a, at, at + sizes[i]); at += sizes[i]; }
        return o;
    }
}
