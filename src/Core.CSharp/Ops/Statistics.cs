namespace Cotangent;

/// <summary>
/// Issue 15's reductions, composed from the primitive ones: argmax/argmin (first index of the
/// extreme, NaN counting as the largest and smallest, as in PyTorch), max/min with indices,
/// var/std with a correction, any/all/count_nonzero, amax/amin.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The int64 index of the first largest element along <paramref name="axis"/> (null: of the flattened tensor). No gradient.</summary>
    [Op("argmax", OpKind.NonDifferentiable)]
    public Tensor ArgMax(int? axis = null, bool keepDim = false) => ArgExtreme("argmax", true, axis, keepDim);

    /// <summary>The int64 index of the first smallest element along <paramref name="axis"/> (null: of the flattened tensor). No gradient.</summary>
    [Op("argmin", OpKind.NonDifferentiable)]
    public Tensor ArgMin(int? axis = null, bool keepDim = false) => ArgExtreme("argmin", false, axis, keepDim);

    Tensor ArgExtreme(string op, bool largest, int? axis, bool keepDim)
    {
        using var _ = OpCall.Enter(op, this);
        if (axis is null)
        {
            if (Numel == 0) throw new ShapeMismatchException(op, $"{op}: the {op} of an empty tensor {ShapeMath.Format(shape)} is undefined");
            var flat = Reshape(-1).ArgExtreme(op, largest, 0, false);
            return keepDim ? flat.Reshape(Enumerable.Repeat(1, Rank).ToArray()) : flat;
        }
        if (Rank == 0)
        {
            ShapeMath.Axis(op, axis.Value, 1);
            return Reshape(1).ArgExtreme(op, largest, 0, false);
        }
        int a = ShapeMath.Axis(op, axis.Value, Rank), n = shape[a];
        if (n == 0) throw new ShapeMismatchException(op, $"{op}: cannot reduce over axis {a} of size 0 in shape {ShapeMath.Format(shape)}");
        var x = Detach();
        var m = largest ? x.Max([a], keepDim: true) : x.Min([a], keepDim: true);
        // a NaN is the extreme (max and min propagate it); with none, IsNan marks nothing
        var hit = LogicalOr(x.Eq(m), x.IsNan());
        var place = Enumerable.Repeat(1, Rank).ToArray();
        place[a] = n;
        var index = Arange(0, n, 1, DType.Int64, Device).Reshape(place);
        return Where(hit, index, (double)n).Min([a], keepDim);
    }

    /// <summary>
    /// The largest values along <paramref name="axis"/> and the index of each (torch.max(x, dim)).
    /// The cotangent reaches the element at the returned index only.
    /// </summary>
    [Op("max_with_indices", OpKind.Composite)]
    public (Tensor Values, Tensor Indices) MaxWithIndices(int axis, bool keepDim = false) => ExtremeWithIndices("max_with_indices", true, axis, keepDim);

    /// <summary>The smallest values along <paramref name="axis"/> and the index of each (torch.min(x, dim)).</summary>
    [Op("min_with_indices", OpKind.Composite)]
    public (Tensor Values, Tensor Indices) MinWithIndices(int axis, bool keepDim = false) => ExtremeWithIndices("min_with_indices", false, axis, keepDim);

    (Tensor, Tensor) ExtremeWithIndices(string op, bool largest, int axis, bool keepDim)
    {
        using var _ = OpCall.Enter(op, this);
        var x = Rank == 0 ? Reshape(1) : this;
        int a = ShapeMath.Axis(op, axis, x.Rank);
        var idx = x.ArgExtreme(op, largest, a, keepDim: true);
        var values = x.Gather(a, idx);
        if (Rank == 0) return (values.Reshape(), idx.Reshape());
        return keepDim ? (values, idx) : (values.Squeeze(a), idx.Squeeze(a));
    }

    /// <summary>
    /// The variance over <paramref name="axes"/> (null: all): Σ(x − mean)² / (N − correction),
    /// with Bessel's correction 1 by default, as torch.var. N − correction ≤ 0 is refused (PyTorch
    /// returns NaN or ∞ there).
    /// </summary>
    [Op("var", OpKind.Composite)]
    public Tensor Var(int[]? axes = null, int correction = 1, bool keepDim = false)
    {
        using var _ = OpCall.Enter("var", this);
        RequireFloat("var");
        var ax = ShapeMath.Axes("var", axes, Rank);
        long n = 1;
        foreach (var a in ax) n *= shape[a];
        if (n - correction <= 0)
            throw new ShapeMismatchException("var", $"var: {n} elements per group over axes [{string.Join(", ", ax)}] of {ShapeMath.Format(shape)} with correction {correction} leave no degrees of freedom");
        var d = this - Mean(ax, keepDim: true);
        return (d * d).Sum(ax, keepDim) / (double)(n - correction);
    }

    /// <summary>The variance over one axis.</summary>
    public Tensor Var(int axis, int correction = 1, bool keepDim = false) => Var([axis], correction, keepDim);

    /// <summary>
    /// The standard deviation √var. A fused rule: ∂σ/∂x = (x − mean)/((N − correction)·σ), taken
    /// as 0 where σ = 0 (a constant group), where √ of the variance would give 0/0 = NaN.
    /// </summary>
    [Op("std", OpKind.Composite)]
    public Tensor Std(int[]? axes = null, int correction = 1, bool keepDim = false)
    {
        using var _ = OpCall.Enter("std", this);
        RequireFloat("std");
        var ax = ShapeMath.Axes("std", axes, Rank);
        long n = 1;
        foreach (var a in ax) n *= shape[a];
        var variance = Var(ax, correction, keepDim: true);
        var sd = Fused("std", () => variance.Sqrt(), [variance], (_, g, _, y) => g * 0.5 / Where(y.Eq(0.0), 1.0, y));
        return keepDim ? sd : sd.Reshape(Enumerable.Range(0, Rank).Where(a => Array.IndexOf(ax, a) < 0).Select(a => shape[a]).ToArray());
    }

    /// <summary>The standard deviation over one axis.</summary>
    public Tensor Std(int axis, int correction = 1, bool keepDim = false) => Std([axis], correction, keepDim);

    /// <summary>Whether any element over <paramref name="axes"/> (null: all) is nonzero; false over no elements.</summary>
    [Op("any", OpKind.NonDifferentiable)]
    public Tensor Any(int[]? axes = null, bool keepDim = false)
    {
        using var _ = OpCall.Enter("any", this);
        return Truth().To(DType.Int64).Sum(axes, keepDim).Gt(0.0);
    }

    /// <summary>Whether every element over <paramref name="axes"/> (null: all) is nonzero; true over no elements.</summary>
    [Op("all", OpKind.NonDifferentiable)]
    public Tensor All(int[]? axes = null, bool keepDim = false)
    {
        using var _ = OpCall.Enter("all", this);
        return LogicalNot().To(DType.Int64).Sum(axes, keepDim).Eq(0.0);
    }

    /// <summary>How many elements over <paramref name="axes"/> (null: all) are nonzero, as int64.</summary>
    [Op("count_nonzero", OpKind.NonDifferentiable)]
    public Tensor CountNonzero(int[]? axes = null)
    {
        using var _ = OpCall.Enter("count_nonzero", this);
        return Truth().To(DType.Int64).Sum(axes);
    }

    /// <summary>The largest value over <paramref name="axes"/> (torch.amax); ties share the cotangent evenly.</summary>
    [Op("amax", OpKind.Composite)]
    public Tensor Amax(int[]? axes = null, bool keepDim = false)
    {
        using var _ = OpCall.Enter("amax", this);
        return Max(axes, keepDim);
    }

    /// <summary>The smallest value over <paramref name="axes"/> (torch.amin); ties share the cotangent evenly.</summary>
    [Op("amin", OpKind.Composite)]
    public Tensor Amin(int[]? axes = null, bool keepDim = false)
    {
        using var _ = OpCall.Enter("amin", this);
        return Min(axes, keepDim);
    }
}
