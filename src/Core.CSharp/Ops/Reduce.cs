using Cotangent.Backends;

namespace Cotangent;

/// <summary>Reductions over all elements or given axes, with keepDim.</summary>
public sealed partial class Tensor
{
    Tensor Reduce(string op, ReduceKind kind, int[]? axes, bool keepDim, Func<int[], VjpRule>? rule)
    {
        using var _ = OpCall.Enter(op, this);
        var ax = ShapeMath.Axes(op, axes, Rank);
        if (DType == DType.Bool) return To(DType.Int64).Reduce(op, kind, axes, keepDim, rule);
        if (kind is ReduceKind.Max or ReduceKind.Min)
            foreach (var a in ax)
                if (shape[a] == 0) throw new ShapeMismatchException(op, $"{op}: cannot reduce over axis {a} of size 0 in shape {ShapeMath.Format(shape)}: the {op} of no elements is undefined");
        var kept = Enumerable.Range(0, Rank).Where(a => Array.IndexOf(ax, a) < 0).ToArray();
        var outShape = keepDim ? KeepShape(ax) : kept.Select(a => shape[a]).ToArray();
        ShapeMath.Numel(outShape);   // an empty input can have a result no buffer holds: refused, not attempted
        var s = Kernels.Reduce(kind, Permuted([.. kept, .. ax]), ax.Length);
        return Result(op, s, outShape, [this], rule?.Invoke(ax));
    }

    Strided Permuted(int[] perm) =>
        new(storage, perm.Select(p => shape[p]).ToArray(), perm.Select(p => strides[p]).ToArray(), offset);

    /// <summary>This tensor's shape with the given axes set to 1.</summary>
    int[] KeepShape(int[] axes)
    {
        var k = Shape;
        foreach (var a in axes) k[a] = 1;
        return k;
    }

    /// <summary>A reduced tensor's cotangent, reshaped to keep its reduced axes as size 1 (so it broadcasts against x).</summary>
    static Tensor Kept(Tensor g, Tensor x, int[] axes) => g.Reshape(x.KeepShape(axes));

    /// <summary>Sum over all elements.</summary>
    public Tensor Sum() => Sum(null);
    /// <summary>Sum over one axis.</summary>
    public Tensor Sum(int axis, bool keepDim = false) => Sum([axis], keepDim);

    /// <summary>Sum over the given axes (null: all). Linear: the cotangent is broadcast back.</summary>
    [Op("sum")]
    public Tensor Sum(int[]? axes, bool keepDim = false) =>
        Reduce("sum", ReduceKind.Sum, axes, keepDim, ax => (_, g, x, _) => Kept(g, x[0], ax).Expand(x[0].shape));

    /// <summary>Mean over all elements.</summary>
    public Tensor Mean() => Mean(null);
    /// <summary>Mean over one axis.</summary>
    public Tensor Mean(int axis, bool keepDim = false) => Mean([axis], keepDim);

    /// <summary>Mean over the given axes (null: all): the sum divided by the count.</summary>
    [Op("mean", OpKind.Composite)]
    public Tensor Mean(int[]? axes, bool keepDim = false)
    {
        using var _ = OpCall.Enter("mean", this);
        RequireFloat("mean");
        var ax = ShapeMath.Axes("mean", axes, Rank);
        int count = 1;
        foreach (var a in ax) count *= shape[a];
        return Sum(ax, keepDim) / count;
    }

    /// <summary>Maximum over all elements.</summary>
    public Tensor Max() => Max(null);
    /// <summary>Maximum over one axis.</summary>
    public Tensor Max(int axis, bool keepDim = false) => Max([axis], keepDim);

    /// <summary>Maximum over the given axes (null: all). The cotangent goes to the maximal elements, split evenly among ties.</summary>
    [Op("max")]
    public Tensor Max(int[]? axes, bool keepDim = false) =>
        Reduce("max", ReduceKind.Max, axes, keepDim, ax => (_, g, x, y) => ToExtremes(g, x[0], y, ax));

    /// <summary>Minimum over all elements.</summary>
    public Tensor Min() => Min(null);
    /// <summary>Minimum over one axis.</summary>
    public Tensor Min(int axis, bool keepDim = false) => Min([axis], keepDim);

    /// <summary>Minimum over the given axes (null: all). The cotangent goes to the minimal elements, split evenly among ties.</summary>
    [Op("min")]
    public Tensor Min(int[]? axes, bool keepDim = false) =>
        Reduce("min", ReduceKind.Min, axes, keepDim, ax => (_, g, x, y) => ToExtremes(g, x[0], y, ax));

    static Tensor ToExtremes(Tensor g, Tensor x, Tensor y, int[] axes)
    {
        // a NaN is the extreme of its group (max and min propagate it), so it takes the cotangent
        var hit = Same(x, Kept(y, x, axes));
        var count = hit.To(x.DType).Sum(axes, keepDim: true);
        return Where(hit, Kept(g, x, axes) / count, 0.0);
    }

    /// <summary>Product over all elements.</summary>
    public Tensor Prod() => Prod(null);
    /// <summary>Product over one axis.</summary>
    public Tensor Prod(int axis, bool keepDim = false) => Prod([axis], keepDim);

    /// <summary>
    /// Product over the given axes (null: all). ∂(∏x)/∂x_j = ∏_{i≠j} x_i, computed by a
    /// zero-safe kernel (prefix and suffix products, no division). Under createGraph the rule
    /// must itself be differentiable: y/x where no element of the group is 0 (exact, and so are
    /// its derivatives near such a point), else the products of the others written with ops:
    /// each element's group with that element replaced by 1, multiplied out (n² values for a
    /// group of n, paid only where a 0 makes y/x undefined).
    /// </summary>
    [Op("prod")]
    public Tensor Prod(int[]? axes, bool keepDim = false) =>
        Reduce("prod", ReduceKind.Prod, axes, keepDim, ax => (_, g, x, y) =>
        {
            var gk = Kept(g, x[0], ax);
            var kept = Enumerable.Range(0, x[0].Rank).Where(a => Array.IndexOf(ax, a) < 0).ToArray();
            int[] perm = [.. kept, .. ax];
            if (GradMode.IsEnabled)
            {
                if (x[0].Eq(0.0).To(DType.Int64).Sum().Item<long>() == 0) return gk * Kept(y, x[0], ax) / x[0];
                return gk * OthersProduct(x[0], perm, ax.Length);
            }
            var others = new Tensor(x[0].Kernels.ProdOfOthers(x[0].Permuted(perm), ax.Length), perm.Select(p => x[0].shape[p]).ToArray());
            return gk * others.Permute(Inverse(perm));
        });

    /// <summary>
    /// For each element, the product of the other elements of its group (the trailing
    /// <paramref name="trailing"/> axes after <paramref name="perm"/>), written with
    /// differentiable ops and no division: each element's group as a row with that element
    /// replaced by 1, multiplied along the row.
    /// </summary>
    static Tensor OthersProduct(Tensor x, int[] perm, int trailing)
    {
        var p = x.Permute(perm);
        int[] lead = p.shape[..^trailing];
        int n = ShapeMath.Numel(p.shape.AsSpan(p.Rank - trailing));
        var rows = p.Reshape([.. lead, 1, n]).Expand([.. lead, n, n]);          // row j: the group
        var self = Eye(n, null, DType.Bool, x.Device);                            // element j of row j
        var others = Where(self, 1.0, rows).Prod([-1]);                           // [..lead, n]
        return others.Reshape(p.shape).Permute(Inverse(perm));
    }

    /// <summary>The Euclidean (Frobenius) norm over all elements.</summary>
    public Tensor Norm() => Norm(null);

    /// <summary>
    /// The 2-norm over the given axes (null: all). A fused rule: ∂‖x‖/∂x = x/‖x‖, taken as 0
    /// where ‖x‖ = 0 (the composition sqrt(sum(x²)) would give NaN there).
    /// </summary>
    [Op("norm")]
    public Tensor Norm(int[]? axes, bool keepDim = false)
    {
        using var _ = OpCall.Enter("norm", this);
        RequireFloat("norm");
        var ax = ShapeMath.Axes("norm", axes, Rank);
        return Fused("norm", () => (this * this).Sum(ax, keepDim).Sqrt(), [this], (_, g, x, y) =>
        {
            var yk = Kept(y, x[0], ax);
            return Kept(g, x[0], ax) * x[0] / Where(yk.Eq(0), 1.0, yk);
        });
    }

    /// <summary>
    /// The vector p-norm over the given axes (null: all), as torch.linalg.vector_norm: (Σ|x|ᵖ)^(1/p)
    /// for any real p, max |x| for +∞, min |x| for −∞, the count of nonzeros for 0. A fused
    /// rule: ∂‖x‖ₚ/∂x = sign(x)·|x|^(p−1)/‖x‖ₚ^(p−1), taken as 0 where x = 0 and where ‖x‖ₚ = 0
    /// (PyTorch's choices, where the formula divides 0 by 0); ±∞ share the cotangent evenly
    /// among ties, and 0 has none.
    /// </summary>
    [Op("norm")]
    public Tensor Norm(double p, int[]? axes = null, bool keepDim = false)
    {
        using var _ = OpCall.Enter("norm", this);
        RequireFloat("norm");
        if (double.IsNaN(p)) throw new OpArgumentException("norm", "norm: p is NaN");
        var ax = ShapeMath.Axes("norm", axes, Rank);
        if (p == 2) return Norm(ax, keepDim);
        if (double.IsPositiveInfinity(p)) return Abs().Max(ax, keepDim);
        if (double.IsNegativeInfinity(p)) return Abs().Min(ax, keepDim);
        if (p == 1) return Abs().Sum(ax, keepDim);
        if (p == 0)
            return Fused("norm", () => Ne(0.0).To(DType).Sum(ax, keepDim), [this], (_, g, x, _) => ZerosLike(x[0]));
        return Fused("norm", () => Abs().Pow(p).Sum(ax, keepDim).Pow(1 / p), [this], (_, g, x, y) =>
        {
            var yk = Kept(y, x[0], ax);
            var zero = x[0].Eq(0.0);
            // |x| of 1 under the mask, so no ∞·0 is formed there, not even in a masked-off branch
            var scaled = Where(zero, 0.0, x[0].Sign() * Where(zero, 1.0, x[0].Abs()).Pow(p - 1));
            var denominator = yk.Pow(p - 1);
            return Where(yk.Eq(0.0), 0.0, Kept(g, x[0], ax) * scaled / Where(yk.Eq(0.0), 1.0, denominator));
        });
    }

    /// <summary>
    /// log Σ exp x over the given axes, stable: m + log Σ exp(x − m) with m = max x held
    /// constant (the expression does not depend on m, so its gradient is exact). Over an empty
    /// axis the sum is 0 and the result −∞, as in PyTorch.
    /// </summary>
    [Op("logsumexp", OpKind.Composite)]
    public Tensor LogSumExp(int[]? axes, bool keepDim = false)
    {
        using var _ = OpCall.Enter("logsumexp", this);
        RequireFloat("logsumexp");
        var ax = ShapeMath.Axes("logsumexp", axes, Rank);
        // no shift is needed (nor a max defined) when a reduced axis is empty: log 0 = −∞
        var m = ax.Any(a => shape[a] == 0) ? Zeros(KeepShape(ax), DType, Device) : Max(ax, keepDim: true).Detach();
        m = Where(m.Abs().Lt(double.PositiveInfinity), m, 0.0);
        var r = (this - m).Exp().Sum(ax, keepDim: true).Log() + m;
        return keepDim ? r : r.Reshape(Enumerable.Range(0, Rank).Where(a => Array.IndexOf(ax, a) < 0).Select(a => shape[a]).ToArray());
    }

    /// <summary>log Σ exp x over one axis.</summary>
    public Tensor LogSumExp(int axis, bool keepDim = false) => LogSumExp([axis], keepDim);
}
