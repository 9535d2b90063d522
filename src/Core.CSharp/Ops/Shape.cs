namespace Cotangent;

/// <summary>Views and shape changes: they share storage where the layout allows, and their VJPs are their inverses.</summary>
public sealed partial class Tensor
{
    /// <summary>The same elements in a new shape (one axis may be −1). A view when the layout allows, else a copy.</summary>
    [Op("reshape")]
    public Tensor Reshape(params int[] newShape)
    {
        using var _ = OpCall.Enter("reshape", this);
        var target = ResolveShape("reshape", newShape);
        VjpRule rule = (_, g, x, _) => g.Reshape(x[0].shape);
        if (IsContiguous) return ViewOf("reshape", this, target, ShapeMath.ContiguousStrides(target), offset, rule);
        return Result("reshape", Kernels.Contiguous(View), target, [this], rule);
    }

    int[] ResolveShape(string op, int[] newShape)
    {
        if (newShape is null) throw new OpArgumentException(op, $"{op}: the shape is null");
        int[] target = [.. newShape];
        int infer = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == -1)
            {
                if (infer >= 0) throw new ShapeMismatchException(op, $"{op}: only one axis can be -1 in {ShapeMath.Format(newShape)}");
                infer = i;
            }
            else if (target[i] < 0) throw new ShapeMismatchException(op, $"{op}: invalid size {target[i]} in {ShapeMath.Format(newShape)}");
            else known = Math.Min(known * target[i], (long)Array.MaxLength + 1);   // saturates: no overflow
        }
        bool fits = infer >= 0 ? known != 0 && Numel % known == 0 : known == Numel;
        if (infer >= 0 && fits) target[infer] = (int)(Numel / known);
        if (!fits)
            throw new ShapeMismatchException(op, $"{op}: cannot view shape {ShapeMath.Format(shape)} ({Numel} elements) as {ShapeMath.Format(newShape)}");
        return target;
    }

    /// <summary>Reorders the axes: result axis i is this tensor's axis dims[i]. A view.</summary>
    [Op("permute")]
    public Tensor Permute(params int[] dims)
    {
        using var _ = OpCall.Enter("permute", this);
        if (dims is null || dims.Length != Rank)
            throw new ShapeMismatchException("permute", $"permute: {dims?.Length ?? 0} axes given for a tensor of rank {Rank} (shape {ShapeMath.Format(shape)})");
        var d = dims.Select(a => ShapeMath.Axis("permute", a, Rank)).ToArray();
        if (d.Distinct().Count() != d.Length)
            throw new AxisOutOfRangeException("permute", $"permute: [{string.Join(", ", dims)}] is not a permutation of the axes of a rank-{Rank} tensor");
        var inv = Inverse(d);
        return ViewOf("permute", this, d.Select(a => shape[a]).ToArray(), d.Select(a => strides[a]).ToArray(), offset,
            (_, g, _, _) => g.Permute(inv));
    }

    static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        return inv;
    }

    /// <summary>Swaps two axes. A view.</summary>
    [Op("transpose", OpKind.Composite)]
    public Tensor Transpose(int dim0, int dim1)
    {
        using var _ = OpCall.Enter("transpose", this);
        var p = Enumerable.Range(0, Rank).ToArray();
        int a = ShapeMath.Axis("transpose", dim0, Rank), b = ShapeMath.Axis("transpose", dim1, Rank);
        if (Rank == 0) return this;   // axes 0 and −1 of a scalar: nothing to swap, as PyTorch
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>The matrix transpose: swaps the last two axes (a 1-D tensor is returned as is).</summary>
    public Tensor T => Rank < 2 ? this : Transpose(-2, -1);

    /// <summary>Removes all axes of size 1.</summary>
    [Op("squeeze", OpKind.Composite)]
    public Tensor Squeeze()
    {
        using var _ = OpCall.Enter("squeeze", this);
        return Reshape(shape.Where(d => d != 1).ToArray());
    }

    /// <summary>Removes one axis of size 1 (an axis of another size is left, as PyTorch).</summary>
    public Tensor Squeeze(int axis)
    {
        using var _ = OpCall.Enter("squeeze", this);
        int a = ShapeMath.Axis("squeeze", axis, Rank);
        if (Rank == 0 || shape[a] != 1) return this;
        return Reshape(shape.Where((_, i) => i != a).ToArray());
    }

    /// <summary>Inserts an axis of size 1 at <paramref name="axis"/> (−1 appends).</summary>
    [Op("unsqueeze", OpKind.Composite)]
    public Tensor Unsqueeze(int axis)
    {
        using var _ = OpCall.Enter("unsqueeze", this);
        int a = ShapeMath.Axis("unsqueeze", axis, Rank + 1);
        var s = new List<int>(shape);
        s.Insert(a, 1);
        return Reshape(s.ToArray());
    }

    /// <summary>The sub-tensor at <paramref name="index"/> along axis, that axis removed (torch.select; x[:, i] for axis 1). A view.</summary>
    [Op("select", OpKind.Composite)]
    public Tensor Select(int axis, int index)
    {
        using var _ = OpCall.Enter("select", this);
        int a = ShapeMath.ExistingAxis("select", axis, Rank), n = shape[a];
        if (index < -n || index >= n)
            throw OpCall.Index("select", $"select: index {index} is out of range for axis {axis} of size {n}");
        int i = index < 0 ? index + n : index;
        return Slice(a, i, i + 1).Squeeze(a);
    }

    /// <summary>All elements as one axis.</summary>
    [Op("flatten", OpKind.Composite)]
    public Tensor Flatten()
    {
        using var _ = OpCall.Enter("flatten", this);
        return Reshape(-1);
    }

    /// <summary>
    /// Broadcasts to <paramref name="newShape"/> without copying (stride 0 on new axes; −1
    /// keeps a size). The VJP sums the cotangent back over the broadcast axes.
    /// </summary>
    [Op("expand")]
    public Tensor Expand(params int[] newShape)
    {
        using var _ = OpCall.Enter("expand", this);
        if (newShape is null || newShape.Length < Rank)
            throw new ShapeMismatchException("expand", $"expand: cannot expand shape {ShapeMath.Format(shape)} to fewer axes {ShapeMath.Format(newShape ?? [])}");
        int[] target = [.. newShape];
        int lead = target.Length - Rank;
        for (int i = 0; i < target.Length; i++)
        {
            int own = i < lead ? 1 : shape[i - lead];
            if (target[i] == -1 && i >= lead) target[i] = own;
            if (target[i] < 0 || (own != 1 && own != target[i]))
                throw new ShapeMismatchException("expand", $"expand: shape {ShapeMath.Format(shape)} cannot be expanded to {ShapeMath.Format(newShape)}");
        }
        if (ShapeMath.SameShape(target, shape)) return this;
        ShapeMath.Numel(target);   // a view no buffer could hold is refused here, not at its first use
        return ViewOf("expand", this, target, ShapeMath.BroadcastStrides(shape, strides, target), offset,
            (_, g, x, _) => g.SumTo(x[0].shape));
    }

    /// <summary>Sums over the axes that broadcasting added or stretched, giving <paramref name="target"/>: the transpose of expand.</summary>
    [Op("sum_to", OpKind.Composite)]
    public Tensor SumTo(params int[] target)
    {
        using var _ = OpCall.Enter("sum_to", this);
        if (target is null) throw new OpArgumentException("sum_to", "sum_to: the target shape is null");
        if (ShapeMath.SameShape(shape, target)) return this;
        int lead = Rank - target.Length;
        if (lead < 0) throw new ShapeMismatchException("sum_to", $"sum_to: cannot sum shape {ShapeMath.Format(shape)} to the larger {ShapeMath.Format(target)}");
        var axes = new List<int>();
        for (int i = 0; i < Rank; i++)
        {
            if (i < lead) { axes.Add(i); continue; }
            int t = target[i - lead];
            if (t == 1 && shape[i] != 1) axes.Add(i);
            else if (t != shape[i]) throw new ShapeMismatchException("sum_to", $"sum_to: shape {ShapeMath.Format(shape)} does not broadcast from {ShapeMath.Format(target)}");
        }
        return Sum(axes.ToArray(), keepDim: true).Reshape(target);
    }

    /// <summary>
    /// Elements start, start+step, ... below end along <paramref name="axis"/>, Python-style
    /// (negative indices count from the end; bounds are clamped). A view. The VJP places the
    /// cotangent back into zeros of the input's shape.
    /// </summary>
    [Op("slice")]
    public Tensor Slice(int axis, int start, int end, int step = 1)
    {
        using var _ = OpCall.Enter("slice", this);
        if (Rank == 0) throw new ShapeMismatchException("slice", "slice: cannot slice a 0-d tensor");
        int a = ShapeMath.Axis("slice", axis, Rank), n = shape[a];
        if (step <= 0) throw new OpArgumentException("slice", $"slice: step must be positive, got {step}");
        // in long arithmetic: start + n, end − start and the rounding up must not overflow
        int s = (int)Math.Clamp(start < 0 ? (long)start + n : start, 0, n);
        int e = (int)Math.Clamp(end < 0 ? (long)end + n : end, 0, n);
        int len = e > s ? (int)(((long)e - s + step - 1) / step) : 0;
        var sh = Shape; sh[a] = len;
        int[] st = [.. strides]; st[a] *= step;
        return ViewOf("slice", this, sh, st, offset + (len > 0 ? s * strides[a] : 0),
            (_, g, x, _) => SliceScatter(g, x[0].shape, a, s, step));
    }

    /// <summary>
    /// Zeros of <paramref name="shape"/> with <paramref name="src"/> written at start,
    /// start+step, ... along axis: the transpose of <see cref="Slice"/>, which is its VJP.
    /// </summary>
    [Op("slice_scatter")]
    public static Tensor SliceScatter(Tensor src, int[] shape, int axis, int start, int step = 1)
    {
        using var _ = OpCall.Enter("slice_scatter", src);
        CheckShape("slice_scatter", shape);
        int a = ShapeMath.ExistingAxis("slice_scatter", axis, shape.Length);
        int len = src.Rank == shape.Length ? src.shape[a] : -1;
        bool fits = len >= 0 && step > 0 && start >= 0 && (len == 0 || start + (long)step * (len - 1) < shape[a]);
        for (int i = 0; fits && i < shape.Length; i++) fits = i == a || src.shape[i] == shape[i];
        if (!fits)
            throw new ShapeMismatchException("slice_scatter", $"slice_scatter: source of shape {ShapeMath.Format(src.shape)} does not fit into {ShapeMath.Format(shape)} at axis {axis}, start {start}, step {step}");
        return Result("slice_scatter", src.Kernels.SliceScatter(shape, a, start, step, src.View), [.. shape], [src],
            (_, g, _, _) => g.Slice(a, start, start + step * (len - 1) + 1, step));
    }

    /// <summary>The same values as a new graph node (a view); the VJP is the identity.</summary>
    [Op("alias")]
    public Tensor Alias() => ViewOf("alias", this, shape, strides, offset, (_, g, _, _) => g);

    /// <summary>The same values in a fresh row-major buffer (this tensor itself when already so laid out).</summary>
    [Op("contiguous")]
    public Tensor Contiguous() =>
        IsContiguous ? this : Result("contiguous", Kernels.Contiguous(View), Shape, [this], (_, g, _, _) => g);
}
