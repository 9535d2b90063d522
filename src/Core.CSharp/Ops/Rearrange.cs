namespace Cotangent;

/// <summary>
/// Issue 15's shape and indexing ops, composed from slices, index_select, permute, expand,
/// cat, where and matmul, so each one's gradient is its parts': narrow, chunk, movedim, flip,
/// roll, tril/triu, masked_fill, one_hot, diagonal/trace, repeat/tile, bmm/addmm/baddbmm.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The <paramref name="length"/> elements from <paramref name="start"/> along <paramref name="axis"/>, a view (torch.narrow).</summary>
    [Op("narrow", OpKind.Composite)]
    public Tensor Narrow(int axis, int start, int length)
    {
        using var _ = OpCall.Enter("narrow", this);
        if (Rank == 0) throw new ShapeMismatchException("narrow", "narrow: cannot narrow a 0-d tensor");
        int a = ShapeMath.Axis("narrow", axis, Rank), n = shape[a];
        int s = start < 0 ? start + n : start;
        if (s < 0 || s > n || length < 0 || (long)s + length > n)
            throw new OpArgumentException("narrow", $"narrow: start {start} and length {length} do not fit axis {axis} of size {n} in {ShapeMath.Format(shape)}");
        return Slice(a, s, s + length);
    }

    /// <summary>
    /// At most <paramref name="chunks"/> views of equal size along axis (the last may be smaller),
    /// as torch.chunk: each ⌈n / chunks⌉ long.
    /// </summary>
    [Op("chunk", OpKind.Composite)]
    public Tensor[] Chunk(int chunks, int axis = 0)
    {
        using var _ = OpCall.Enter("chunk", this);
        if (chunks <= 0) throw new OpArgumentException("chunk", $"chunk: chunks must be positive, got {chunks}");
        if (Rank == 0) throw new ShapeMismatchException("chunk", "chunk: cannot chunk a 0-d tensor");
        int a = ShapeMath.Axis("chunk", axis, Rank), n = shape[a];
        if (n == 0) return [this];
        return Split((int)(((long)n + chunks - 1) / chunks), a);
    }

    /// <summary>The axis <paramref name="source"/> moved to position <paramref name="destination"/>, the others in order (a view).</summary>
    [Op("movedim", OpKind.Composite)]
    public Tensor Movedim(int source, int destination)
    {
        using var _ = OpCall.Enter("movedim", this);
        int s = ShapeMath.Axis("movedim", source, Math.Max(Rank, 1)), d = ShapeMath.Axis("movedim", destination, Math.Max(Rank, 1));
        if (Rank == 0) return this;
        var rest = Enumerable.Range(0, Rank).Where(i => i != s).ToList();
        rest.Insert(d, s);
        return Permute([.. rest]);
    }

    /// <summary>The elements in reverse order along each of <paramref name="axes"/>.</summary>
    [Op("flip", OpKind.Composite)]
    public Tensor Flip(params int[] axes)
    {
        using var _ = OpCall.Enter("flip", this);
        var ax = ShapeMath.Axes("flip", axes, Rank);
        var y = this;
        foreach (var a in ax)
            if (shape[a] > 1) y = y.IndexSelect(a, Arange(shape[a] - 1, -1, -1, DType.Int64, Device));
        return y;
    }

    /// <summary>
    /// The elements shifted by <paramref name="shift"/> along <paramref name="axis"/>, wrapping
    /// around (torch.roll); without an axis, over the flattened tensor, shape kept.
    /// </summary>
    [Op("roll", OpKind.Composite)]
    public Tensor Roll(int shift, int? axis = null)
    {
        using var _ = OpCall.Enter("roll", this);
        if (axis is null) return Rank == 0 ? this : Reshape(-1).Roll(shift, 0).Reshape(shape);
        if (Rank == 0) throw new ShapeMismatchException("roll", "roll: a 0-d tensor has no axis to roll along");
        int a = ShapeMath.Axis("roll", axis.Value, Rank), n = shape[a];
        if (n == 0) return this;
        int s = (int)(((long)shift % n + n) % n);
        if (s == 0) return this;
        return Cat([Slice(a, n - s, n), Slice(a, 0, n - s)], a);
    }

    /// <summary>The lower triangle of the last two axes: elements with column − row ≤ <paramref name="diagonal"/>, the rest 0.</summary>
    [Op("tril", OpKind.Composite)]
    public Tensor Tril(int diagonal = 0) => Triangle("tril", diagonal, lower: true);

    /// <summary>The upper triangle of the last two axes: elements with column − row ≥ <paramref name="diagonal"/>, the rest 0.</summary>
    [Op("triu", OpKind.Composite)]
    public Tensor Triu(int diagonal = 0) => Triangle("triu", diagonal, lower: false);

    Tensor Triangle(string op, int diagonal, bool lower)
    {
        using var _ = OpCall.Enter(op, this);
        if (Rank < 2) throw new ShapeMismatchException(op, $"{op}: needs at least 2 axes, got {ShapeMath.Format(shape)}");
        int m = shape[^2], n = shape[^1];
        var rows = Arange(0, m, 1, DType.Int64, Device).Reshape(m, 1);
        var cols = Arange(0, n, 1, DType.Int64, Device).Reshape(1, n);
        var offset = cols - rows;
        var keep = lower ? offset.Le(diagonal) : offset.Ge(diagonal);
        // a bool mask stays bool (where would promote it with the 0 it fills in)
        return DType == DType.Bool ? LogicalAnd(this, keep) : Where(keep, this, 0.0);
    }

    /// <summary>The value where <paramref name="mask"/> (a bool mask broadcasting to this shape) is true; the cotangent reaches the rest.</summary>
    [Op("masked_fill", OpKind.Composite)]
    public Tensor MaskedFill(Tensor mask, double value)
    {
        using var _ = OpCall.Enter("masked_fill", this, mask);
        if (mask.DType != DType.Bool) throw new DTypeMismatchException("masked_fill", $"masked_fill: the mask must be bool, got {mask.DType.Name()}");
        if (!ShapeMath.SameShape(ShapeMath.Broadcast("masked_fill", shape, mask.shape), shape))
            throw new ShapeMismatchException("masked_fill", $"masked_fill: a mask of shape {ShapeMath.Format(mask.shape)} does not broadcast to the tensor's {ShapeMath.Format(shape)}");
        return Where(mask, Lift(value, this, "masked_fill"), this);
    }

    /// <summary>
    /// int64 labels as one-hot int64 rows of <paramref name="numClasses"/> (−1: the largest label
    /// + 1), a new last axis (torch.nn.functional.one_hot). Labels outside [0, numClasses) are refused.
    /// </summary>
    [Op("one_hot", OpKind.NonDifferentiable)]
    public static Tensor OneHot(Tensor labels, int numClasses = -1)
    {
        using var _ = OpCall.Enter("one_hot", labels);
        if (labels.DType != DType.Int64) throw new DTypeMismatchException("one_hot", $"one_hot: labels must be int64 class indices, got {labels.DType.Name()}");
        if (numClasses < -1 || numClasses == 0 && labels.Numel > 0) throw new OpArgumentException("one_hot", $"one_hot: numClasses must be positive or -1, got {numClasses}");
        if (numClasses == -1)
        {
            if (labels.Numel == 0) throw new OpArgumentException("one_hot", "one_hot: cannot infer the number of classes from no labels; pass numClasses");
            long top = labels.Max().Item<long>();
            if (top >= int.MaxValue) throw new OpArgumentException("one_hot", $"one_hot: the largest label {top} is too large a class count");
            numClasses = (int)Math.Max(top + 1, 1);
        }
        long outside = labels.Kernels.CountOutside(labels.View, 0, numClasses);
        if (outside > 0) throw new OpArgumentException("one_hot", $"one_hot: {outside} label(s) of {ShapeMath.Format(labels.shape)} lie outside [0, {numClasses})");
        return labels.Unsqueeze(-1).Eq(Arange(0, numClasses, 1, DType.Int64, labels.Device)).To(DType.Int64);
    }

    /// <summary>
    /// The diagonal of axes <paramref name="axis1"/> and <paramref name="axis2"/> shifted by
    /// <paramref name="offset"/> (above the main one when positive), as a new last axis (torch.diagonal).
    /// </summary>
    [Op("diagonal", OpKind.Composite)]
    public Tensor Diagonal(int offset = 0, int axis1 = 0, int axis2 = 1)
    {
        using var _ = OpCall.Enter("diagonal", this);
        if (Rank < 2) throw new ShapeMismatchException("diagonal", $"diagonal: needs at least 2 axes, got {ShapeMath.Format(shape)}");
        int a = ShapeMath.Axis("diagonal", axis1, Rank), b = ShapeMath.Axis("diagonal", axis2, Rank);
        if (a == b) throw new OpArgumentException("diagonal", $"diagonal: axis1 and axis2 are both axis {a}");
        var rest = Enumerable.Range(0, Rank).Where(i => i != a && i != b).ToArray();
        var moved = Permute([.. rest, a, b]);
        int m = shape[a], n = shape[b];
        int len = (int)Math.Max(0, Math.Min((long)m - Math.Max(-offset, 0), (long)n - Math.Max(offset, 0)));
        var lead = rest.Select(i => shape[i]).ToArray();
        if (len == 0) return moved.Reshape([.. lead, m * n]).Slice(-1, 0, 0);
        long first = offset >= 0 ? offset : (long)-offset * n;
        var index = Arange(first, first + (long)len * (n + 1), n + 1, DType.Int64, Device);
        return moved.Reshape([.. lead, m * n]).IndexSelect(-1, index);
    }

    /// <summary>The sum of a matrix's main diagonal.</summary>
    [Op("trace", OpKind.Composite)]
    public Tensor Trace()
    {
        using var _ = OpCall.Enter("trace", this);
        if (Rank != 2) throw new ShapeMismatchException("trace", $"trace: expects a matrix, got {ShapeMath.Format(shape)}");
        return Diagonal().Sum();
    }

    /// <summary>
    /// The whole tensor repeated reps[i] times along axis i (torch.repeat; reps may be longer
    /// than the rank, adding leading axes).
    /// </summary>
    [Op("repeat", OpKind.Composite)]
    public Tensor Repeat(params int[] reps)
    {
        using var _ = OpCall.Enter("repeat", this);
        if (reps is null || reps.Length < Rank)
            throw new OpArgumentException("repeat", $"repeat: needs at least one count per axis of {ShapeMath.Format(shape)}, got {reps?.Length ?? 0}");
        if (reps.Any(r => r < 0)) throw new OpArgumentException("repeat", $"repeat: counts must not be negative, got [{string.Join(", ", reps)}]");
        var full = Enumerable.Repeat(1, reps.Length - Rank).Concat(shape).ToArray();
        var spread = new List<int>();
        var expanded = new List<int>();
        var result = new int[full.Length];
        for (int i = 0; i < full.Length; i++)
        {
            spread.Add(1); spread.Add(full[i]);
            expanded.Add(reps[i]); expanded.Add(full[i]);
            result[i] = checked(reps[i] * full[i]);
        }
        ShapeMath.Numel(result);
        return Reshape([.. spread]).Expand([.. expanded]).Reshape(result);
    }

    /// <summary>NumPy's tile: as <see cref="Repeat"/>, with missing leading counts taken as 1.</summary>
    [Op("tile", OpKind.Composite)]
    public Tensor Tile(params int[] reps)
    {
        using var _ = OpCall.Enter("tile", this);
        if (reps is null) throw new OpArgumentException("tile", "tile: the counts are null");
        return Repeat([.. Enumerable.Repeat(1, Math.Max(0, Rank - reps.Length)), .. reps]);
    }

    /// <summary>Batched matrix product of [b, n, m] and [b, m, p] (torch.bmm: no broadcasting).</summary>
    [Op("bmm", OpKind.Composite)]
    public static Tensor Bmm(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("bmm", a, b);
        if (a.Rank != 3 || b.Rank != 3 || a.shape[0] != b.shape[0] || a.shape[2] != b.shape[1])
            throw new ShapeMismatchException("bmm", $"bmm: expects [b, n, m] and [b, m, p], got {ShapeMath.Format(a.shape)} and {ShapeMath.Format(b.shape)}");
        return MatMul(a, b);
    }

    /// <summary>β·input + α·(m1 · m2) for matrices (torch.addmm); input broadcasts to the product.</summary>
    [Op("addmm", OpKind.Composite)]
    public static Tensor Addmm(Tensor input, Tensor m1, Tensor m2, double beta = 1, double alpha = 1)
    {
        using var _ = OpCall.Enter("addmm", input, m1, m2);
        if (m1.Rank != 2 || m2.Rank != 2)
            throw new ShapeMismatchException("addmm", $"addmm: expects two matrices, got {ShapeMath.Format(m1.shape)} and {ShapeMath.Format(m2.shape)}");
        // β = 0 ignores input, NaNs included, as in PyTorch
        var product = Scaled(MatMul(m1, m2), alpha);
        return beta == 0 ? product + input * 0.0 * 0.0 : Scaled(input, beta) + product;
    }

    /// <summary>β·input + α·(b1 · b2) for batches of matrices (torch.baddbmm).</summary>
    [Op("baddbmm", OpKind.Composite)]
    public static Tensor Baddbmm(Tensor input, Tensor b1, Tensor b2, double beta = 1, double alpha = 1)
    {
        using var _ = OpCall.Enter("baddbmm", input, b1, b2);
        return Scaled(input, beta) + Scaled(Bmm(b1, b2), alpha);
    }

    static Tensor Scaled(Tensor t, double c) => c == 1 ? t : t * c;
}
