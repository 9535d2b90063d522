namespace Cotangent;

/// <summary>
/// Issue 15's indexing ops, composed from gather/scatter_add and index_select/index_add (whose
/// VJPs are each other) and where: nonzero, masked_select, scatter, index_fill, index_put,
/// take_along_dim, diag and pad. Writes that would land twice on one place without
/// accumulating are refused: which one wins is undefined in PyTorch, and a result that depends on
/// the write order is a wrong answer waiting to happen.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The positions of the nonzero elements, as int64 [count, rank], in row-major order (torch.nonzero). No gradient.</summary>
    [Op("nonzero", OpKind.NonDifferentiable)]
    public Tensor Nonzero()
    {
        using var _ = OpCall.Enter("nonzero", this);
        var hit = Truth().ToArray<bool>();
        int count = hit.Count(h => h), rank = Rank;
        var o = new long[(long)count * rank];
        int at = 0;
        var pos = new int[rank];
        for (int i = 0; i < hit.Length; i++)
        {
            if (hit[i])
                for (int d = 0; d < rank; d++) o[at++] = pos[d];
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++pos[d] < shape[d]) break;
                pos[d] = 0;
            }
        }
        return FromArray(o, [count, rank], Device);
    }

    /// <summary>
    /// The elements where <paramref name="mask"/> (bool, broadcast against this tensor) is true,
    /// as a 1-D tensor in row-major order (torch.masked_select). The cotangent goes back to them.
    /// </summary>
    [Op("masked_select", OpKind.Composite)]
    public Tensor MaskedSelect(Tensor mask)
    {
        using var _ = OpCall.Enter("masked_select", this, mask);
        if (mask.DType != DType.Bool)
            throw new DTypeMismatchException("masked_select", $"masked_select: the mask must be bool, got {mask.DType.Name()}");
        SameDevice("masked_select", this, mask);
        var s = ShapeMath.Broadcast("masked_select", shape, mask.shape);
        var picks = mask.Expand(s).Reshape(-1).Nonzero().Reshape(-1);
        return Expand(s).Reshape(-1).IndexSelect(0, picks);
    }

    /// <summary>The flat position in <paramref name="target"/> of each index entry: index along axis, the entry's own position elsewhere.</summary>
    static Tensor FlatPositions(int[] target, int axis, Tensor index)
    {
        var strides = ShapeMath.ContiguousStrides(target);
        var flat = index * (double)strides[axis];
        for (int d = 0; d < index.Rank; d++)
        {
            if (d == axis || index.shape[d] == 1) continue;
            var place = Enumerable.Repeat(1, index.Rank).ToArray();
            place[d] = index.shape[d];
            flat += Arange(0, index.shape[d], 1, DType.Int64, index.Device).Reshape(place) * (double)strides[d];
        }
        return flat;
    }

    /// <summary>
    /// A copy of this tensor with src[i][j]… written at index[i][j]… along <paramref name="axis"/>
    /// (torch.scatter): index and src have this tensor's rank, index no larger than src on any axis
    /// nor than this tensor off the axis. Two entries writing one place are refused (use
    /// <see cref="ScatterAdd"/> to add them). Cotangents: the overwritten places of this tensor get
    /// none, src gets the cotangent of where it landed.
    /// </summary>
    [Op("scatter", OpKind.Composite)]
    public Tensor Scatter(int axis, Tensor index, Tensor src)
    {
        using var _ = OpCall.Enter("scatter", this, index, src);
        CheckIndex("scatter", index, this);
        SameDevice("scatter", this, src);
        int a = ShapeMath.ExistingAxis("scatter", axis, Rank);
        bool fits = index.Rank == Rank && src.Rank == Rank;
        for (int d = 0; fits && d < Rank; d++) fits = index.shape[d] <= src.shape[d] && (d == a || index.shape[d] <= shape[d]);
        if (!fits)
            throw new ShapeMismatchException("scatter", $"scatter: index {ShapeMath.Format(index.shape)} must have the rank of the input {ShapeMath.Format(shape)} and of src {ShapeMath.Format(src.shape)}, be no larger than src on any axis and than the input off axis {a}");
        if (src.DType != DType)
            throw new DTypeMismatchException("scatter", $"scatter: src is {src.DType.Name()} but the input is {DType.Name()}");
        if (index.Numel == 0) return this;
        if (Kernels.CountOutside(index.View, 0, shape[a]) != 0)
        {
            var bad = index.ToArray<long>().First(v => v < 0 || v >= shape[a]);
            throw OpCall.Index("scatter", $"scatter: index {bad} is out of range for axis {a} of size {shape[a]} in {ShapeMath.Format(shape)}");
        }
        var used = src;
        for (int d = 0; d < Rank; d++)
            if (used.shape[d] != index.shape[d]) used = used.Narrow(d, 0, index.shape[d]);
        var flat = FlatPositions(shape, a, index).Reshape(-1);
        return WriteOnce("scatter", flat, used.Reshape(-1), $"along axis {a}");
    }

    /// <summary>A copy of this tensor with <paramref name="value"/> written at index along axis (torch.scatter with a value).</summary>
    public Tensor Scatter(int axis, Tensor index, double value)
    {
        using var _ = OpCall.Enter("scatter", this, index);
        return Scatter(axis, index, Full(index.Shape, value, DType, Device));
    }

    /// <summary>
    /// This tensor (read flat) with values written at the flat positions, each at most once:
    /// where(written, scatter_add(values), this), so each side's cotangent is exact.
    /// </summary>
    Tensor WriteOnce(string op, Tensor flat, Tensor values, string where)
    {
        var size = new[] { Numel };
        var counts = ScatterAdd(size, 0, flat, Ones(flat.Shape, DType.Int64, Device));
        long most = counts.Numel == 0 ? 0 : counts.Max().Item<long>();
        if (most > 1)
            throw new OpArgumentException(op, $"{op}: {most} entries of the index write one position {where} of {ShapeMath.Format(shape)}; which write wins is undefined, so it is refused (add them with accumulate/scatter_add, or make the indices unique)");
        var written = ScatterAdd(size, 0, flat, values);
        return Where(counts.Gt(0.0), written, Reshape(-1)).Reshape(shape);
    }

    /// <summary>
    /// A copy of this tensor with every slice at <paramref name="index"/> (int64, 0-d or 1-D) along
    /// <paramref name="axis"/> set to <paramref name="value"/> (torch.index_fill); the filled
    /// places get no cotangent.
    /// </summary>
    [Op("index_fill", OpKind.Composite)]
    public Tensor IndexFill(int axis, Tensor index, double value)
    {
        using var _ = OpCall.Enter("index_fill", this, index);
        CheckIndex("index_fill", index, this);
        if (index.Rank > 1)
            throw new ShapeMismatchException("index_fill", $"index_fill: the index must be 0-d or 1-D, got shape {ShapeMath.Format(index.shape)}");
        int a = ShapeMath.ExistingAxis("index_fill", axis, Math.Max(Rank, 1));
        if (!DType.IsFloating() && !(double.IsFinite(value) && value == Math.Floor(value)))
            throw new DTypeMismatchException("index_fill", $"index_fill: {value} does not fit a {DType.Name()} tensor");
        var x = Rank == 0 ? Reshape(1) : this;
        var ix = index.Reshape(-1);
        var hits = IndexAdd([x.shape[a]], 0, ix, Ones([ix.shape[0]], DType.Int64, Device));
        var place = Enumerable.Repeat(1, x.Rank).ToArray();
        place[a] = x.shape[a];
        var y = Where(hits.Gt(0.0).Reshape(place), value, x);
        return Rank == 0 ? y.Reshape() : y;
    }

    /// <summary>
    /// A copy of this tensor with <paramref name="values"/> put at the places the index tensors
    /// pick in its leading axes (torch.index_put, x[i₀, i₁, …] = values): the int64 indices
    /// broadcast together (negative ones count from the end), values broadcast to their shape
    /// followed by the remaining axes. With <paramref name="accumulate"/>, values add (repeats
    /// sum); without, a place picked twice is refused.
    /// </summary>
    [Op("index_put", OpKind.Composite)]
    public Tensor IndexPut(Tensor[] indices, Tensor values, bool accumulate = false)
    {
        using var _ = OpCall.Enter("index_put", [this, .. indices ?? [], values]);
        if (indices is not null && indices.Any(i => i is null))
            throw new OpArgumentException("index_put", "index_put: an index tensor is null");
        if (indices is null || indices.Length == 0 || indices.Length > Rank)
            throw new OpArgumentException("index_put", $"index_put: needs 1 to {Rank} index tensors for a tensor of shape {ShapeMath.Format(shape)}, got {indices?.Length ?? 0}");
        foreach (var i in indices) CheckIndex("index_put", i, this);
        SameDevice("index_put", this, values);
        if (values.DType != DType)
            throw new DTypeMismatchException("index_put", $"index_put: values are {values.DType.Name()} but the tensor is {DType.Name()}");
        int k = indices.Length;
        var b = indices.Skip(1).Aggregate(indices[0].Shape, (s, i) => ShapeMath.Broadcast("index_put", s, i.shape));
        int lead = ShapeMath.Numel(shape.AsSpan(0, k));
        int[] rest = shape[k..];
        Tensor flat = Zeros(b, DType.Int64, Device);
        for (int d = 0; d < k; d++)
        {
            var ix = indices[d];
            if (Kernels.CountOutside(ix.View, -shape[d], shape[d]) != 0)
            {
                var bad = ix.ToArray<long>().First(v => v < -shape[d] || v >= shape[d]);
                throw OpCall.Index("index_put", $"index_put: index {bad} is out of range for axis {d} of size {shape[d]} in {ShapeMath.Format(shape)}");
            }
            ix = Where(ix.Lt(0.0), ix + (double)shape[d], ix);
            flat = flat * (double)shape[d] + ix;
        }
        int picks = ShapeMath.Numel(b);
        int[] target = [.. b, .. rest];
        var v = values.Expand(ShapeMath.Broadcast("index_put", values.shape, target)).Reshape([picks, .. rest]);
        var ixFlat = flat.Reshape(-1);
        var x = Reshape([lead, .. rest]);
        if (accumulate) return (x + IndexAdd([lead, .. rest], 0, ixFlat, v)).Reshape(shape);
        int inner = ShapeMath.Numel(rest);
        // each picked row of x is inner places; write them flat, so one check covers repeats
        var rowStart = ixFlat.Unsqueeze(-1) * (double)inner + Arange(0, inner, 1, DType.Int64, Device).Unsqueeze(0);
        return WriteOnce("index_put", rowStart.Reshape(-1), v.Reshape(-1), "picked by the indices");
    }

    /// <summary>
    /// Values at <paramref name="indices"/> along <paramref name="axis"/> (torch.take_along_dim):
    /// gather after broadcasting this tensor and the indices against each other off the axis;
    /// without an axis, over the flattened tensor.
    /// </summary>
    [Op("take_along_dim", OpKind.Composite)]
    public Tensor TakeAlongDim(Tensor indices, int? axis = null)
    {
        using var _ = OpCall.Enter("take_along_dim", this, indices);
        CheckIndex("take_along_dim", indices, this);
        if (axis is null) return Reshape(-1).Gather(0, indices.Reshape(-1));
        int a = ShapeMath.ExistingAxis("take_along_dim", axis.Value, Rank);
        if (indices.Rank != Rank)
            throw new ShapeMismatchException("take_along_dim", $"take_along_dim: indices {ShapeMath.Format(indices.shape)} must have the rank of the input {ShapeMath.Format(shape)}");
        var xs = Shape;
        var ids = indices.Shape;
        xs[a] = ids[a] = 1;
        var common = ShapeMath.Broadcast("take_along_dim", xs, ids);
        int[] xt = [.. common], it = [.. common];
        xt[a] = shape[a];
        it[a] = indices.shape[a];
        return Expand(xt).Gather(a, indices.Expand(it));
    }

    /// <summary>
    /// A 1-D tensor's square matrix with it on diagonal <paramref name="diagonal"/> (above the main
    /// one when positive), or a matrix's diagonal as 1-D (torch.diag).
    /// </summary>
    [Op("diag", OpKind.Composite)]
    public Tensor Diag(int diagonal = 0)
    {
        using var _ = OpCall.Enter("diag", this);
        if (Rank == 2) return Diagonal(diagonal);
        if (Rank != 1)
            throw new ShapeMismatchException("diag", $"diag: expects a 1-D or 2-D tensor, got shape {ShapeMath.Format(shape)}");
        long m = (long)shape[0] + Math.Abs((long)diagonal);
        if (m * m > Array.MaxLength)
            throw new ShapeMismatchException("diag", $"diag: a {m}×{m} matrix is more than one buffer holds");
        int size = (int)m, row = Math.Max(-diagonal, 0), col = Math.Max(diagonal, 0);
        var at = Arange(0, shape[0], 1, DType.Int64, Device) * (double)(size + 1) + (double)(row * size + col);
        return IndexAdd([size * size], 0, at, this).Reshape(size, size);
    }

    /// <summary>
    /// Pads the trailing axes (torch.nn.functional.pad): <paramref name="pad"/> holds (before,
    /// after) pairs starting from the last axis. "constant" fills with <paramref name="value"/>
    /// (negative amounts crop); "reflect" mirrors without repeating the edge (amount less than the
    /// axis); "replicate" repeats the edge; "circular" wraps around (amount at most the axis).
    /// </summary>
    [Op("pad", OpKind.Composite)]
    public Tensor Pad(int[] pad, string mode = "constant", double value = 0)
    {
        using var _ = OpCall.Enter("pad", this);
        if (pad is null || pad.Length % 2 != 0 || pad.Length > 2 * Rank)
            throw new OpArgumentException("pad", $"pad: expects (before, after) pairs for at most {Rank} trailing axes of {ShapeMath.Format(shape)}, got [{string.Join(", ", pad ?? [])}]");
        if (mode is not ("constant" or "reflect" or "replicate" or "circular"))
            throw new OpArgumentException("pad", $"pad: unknown mode \"{mode}\"; expected constant, reflect, replicate or circular");
        var y = this;
        for (int p = 0; p < pad.Length / 2; p++)
        {
            int a = Rank - 1 - p, before = pad[2 * p], after = pad[2 * p + 1], n = shape[a];
            if (before == 0 && after == 0) continue;
            if (mode == "constant") { y = PadConstant(y, a, before, after, value); continue; }
            bool ok = before >= 0 && after >= 0 && mode switch
            {
                "reflect" => before < n && after < n,
                "replicate" => n > 0,
                _ => before <= n && after <= n,
            };
            if (!ok)
                throw new OpArgumentException("pad", $"pad: {mode} padding ({before}, {after}) does not fit axis {a} of size {n} in {ShapeMath.Format(shape)}" +
                    (mode == "reflect" ? " (each amount must be less than the size)" : mode == "replicate" ? " (needs a nonempty axis)" : " (each amount at most the size, none negative)"));
            var from = new long[before + n + after];
            for (int o = 0; o < from.Length; o++)
            {
                int i = o - before;
                from[o] = mode switch
                {
                    "reflect" => i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i,
                    "replicate" => Math.Clamp(i, 0, n - 1),
                    _ => ((i % n) + n) % n,
                };
            }
            y = y.IndexSelect(a, FromArray(from, [from.Length], Device));
        }
        return y;
    }

    static Tensor PadConstant(Tensor y, int a, int before, int after, double value)
    {
        int n = y.shape[a];
        if (before < 0 || after < 0)
        {
            long start = Math.Max(-(long)before, 0), stop = n - Math.Max(-(long)after, 0);
            if (stop < start)
                throw new OpArgumentException("pad", $"pad: cropping ({before}, {after}) removes more than the {n} entries of axis {a}");
            y = y.Narrow(a, (int)start, (int)(stop - start));
        }
        var parts = new List<Tensor>();
        Tensor Fill(int count)
        {
            var s = y.Shape;
            s[a] = count;
            return Full(s, value, y.DType, y.Device);
        }
        if ((long)n + before + after > Array.MaxLength)
            throw new OpArgumentException("pad", $"pad: ({before}, {after}) makes axis {a} longer than one buffer holds");
        if (before > 0) parts.Add(Fill(before));
        parts.Add(y);
        if (after > 0) parts.Add(Fill(after));
        return parts.Count == 1 ? y : Cat([.. parts], a);
    }
}
