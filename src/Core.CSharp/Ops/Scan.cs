using Cotangent.Backends;

namespace Cotangent;

/// <summary>
/// Scans and sorts along one axis: cumsum, cumprod and logcumsumexp are primitives (one kernel
/// pass, VJPs written with differentiable ops, so they differentiate again); sort, argsort and
/// topk order with a stable kernel and take values with gather, whose VJP is scatter_add.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>
    /// Runs <paramref name="kind"/>'s kernel along <paramref name="axis"/> (moved last for it and
    /// back after); the rule sees the cotangent, input and output with that axis last.
    /// </summary>
    Tensor ScanAlong(string op, ScanKind kind, int axis, VjpRule rule)
    {
        using var _ = OpCall.Enter(op, this);
        if (DType == DType.Bool) return To(DType.Int64).ScanAlong(op, kind, axis, rule);
        if (Rank == 0)
        {
            ShapeMath.Axis(op, axis, 1);
            return Reshape(1).ScanAlong(op, kind, 0, rule).Reshape();
        }
        int a = ShapeMath.Axis(op, axis, Rank);
        var last = a == Rank - 1 ? this : Movedim(a, -1);
        var y = Result(op, Kernels.Scan(kind, last.View), last.Shape, [last], rule);
        return a == Rank - 1 ? y : y.Movedim(-1, a);
    }

    /// <summary>The scan of the reversed last axis, reversed: Σ_{j ≥ i} instead of Σ_{j ≤ i}.</summary>
    static Tensor FromEnd(Tensor t, Func<Tensor, Tensor> scan) => scan(t.Flip(-1)).Flip(-1);

    /// <summary>
    /// Running sums along <paramref name="axis"/> (torch.cumsum); bool sums as int64. The VJP is
    /// the running sum of the cotangent from the end: ∂/∂x_i = Σ_{j ≥ i} g_j.
    /// </summary>
    [Op("cumsum")]
    public Tensor CumSum(int axis) =>
        ScanAlong("cumsum", ScanKind.Sum, axis, (_, g, _, _) => FromEnd(g, t => t.CumSum(-1)));

    /// <summary>
    /// Running products along <paramref name="axis"/> (torch.cumprod). ∂y_j/∂x_i = ∏_{k ≤ j, k ≠ i} x_k
    /// for j ≥ i, in O(n) a row whatever the zeros, with z the row's first zero: before z it is
    /// Σ_{j ≥ i} g_j·y_j / x_i (no division by 0 there); at z it is ∏_{k &lt; z} x_k ·
    /// Σ_{j ≥ z} g_j·∏_{z &lt; k ≤ j} x_k; after z every term holds x_z = 0. Under createGraph
    /// with a zero present the rule is the exact product form instead (n² a row), whose
    /// derivatives in x are right too.
    /// </summary>
    [Op("cumprod")]
    public Tensor CumProd(int axis) =>
        ScanAlong("cumprod", ScanKind.Prod, axis, (_, g, x, y) =>
        {
            var p = x[0];
            // differentiated again (createGraph) through a zero: the masks below give the right
            // values but not their derivatives in x_z, so the rule is the exact polynomial, each
            // element's row multiplied out with that element replaced by 1 (n² values a row)
            if (GradMode.IsEnabled && p.Eq(0.0).Any().Item<bool>())
            {
                int n = p.shape[^1];
                int[] lead = p.shape[..^1];
                var rows = p.Unsqueeze(-2).Expand([.. lead, n, n]);
                var partial = Where(Eye(n, null, DType.Bool, p.Device), 1.0, rows).CumProd(-1);   // [i, j] = ∏_{k ≤ j, k ≠ i} x_k
                var reach = Ones([n, n], DType.Bool, p.Device).Triu();                          // j ≥ i
                return Where(reach, partial * g.Unsqueeze(-2), 0.0).Sum([-1]);
            }
            var zeros = p.Eq(0.0).To(DType.Int64).CumSum(-1);                     // zeros up to here
            var before = zeros.Eq(0.0);                                             // i < z
            var first = LogicalAnd(zeros.Eq(1.0), p.Eq(0.0));                       // i = z
            var below = FromEnd(g * y, t => t.CumSum(-1)) / Where(before, p, 1.0);
            var prefix = Where(before, p, 1.0).CumProd(-1);                         // at z: ∏_{k < z} x_k
            var after = Where(LogicalOr(before, first), 1.0, p);                   // x_k for k > z, 1 up to z
            var tail = FromEnd(g * after.CumProd(-1), t => t.CumSum(-1));           // at z: Σ_{j ≥ z} g_j ∏_{z<k≤j} x_k
            return Where(before, below, 0.0) + Where(first, prefix * tail, 0.0);
        });

    /// <summary>
    /// Running log Σ exp along <paramref name="axis"/> (torch.logcumsumexp), without overflow.
    /// ∂/∂x_i = Σ_{j ≥ i} g_j·exp(x_i − y_j), summed in log space from the end for the positive
    /// and the negative parts of g apart, as PyTorch does, so no exp overflows.
    /// </summary>
    [Op("logcumsumexp")]
    public Tensor LogCumSumExp(int axis)
    {
        using var _ = OpCall.Enter("logcumsumexp", this);
        RequireFloat("logcumsumexp");
        return ScanAlong("logcumsumexp", ScanKind.LogSumExp, axis, (_, g, x, y) =>
        {
            double lowest = g.DType == DType.Float32 ? float.MinValue : double.MinValue;
            var logAbs = Where(g.Eq(0.0), 1.0, g.Abs()).Log();                     // no log 0, so no 0·∞ a second time
            Tensor Part(Tensor take) =>
                (FromEnd(Where(take, logAbs, lowest) - y, t => t.LogCumSumExp(-1)) + x[0]).Exp();
            return Part(g.Gt(0.0)) - Part(g.Lt(0.0));
        });
    }

    /// <summary>
    /// The positions that sort each slice along <paramref name="axis"/> (torch.argsort with
    /// stable=True): equal elements keep their order, NaN sorts after every number (first when
    /// descending). No gradient.
    /// </summary>
    [Op("argsort", OpKind.NonDifferentiable)]
    public Tensor ArgSort(int axis = -1, bool descending = false)
    {
        using var _ = OpCall.Enter("argsort", this);
        return SortOrder("argsort", axis, descending);
    }

    Tensor SortOrder(string op, int axis, bool descending)
    {
        if (DType == DType.Bool) return To(DType.Int64).SortOrder(op, axis, descending);
        if (Rank == 0)
        {
            ShapeMath.Axis(op, axis, 1);
            return Zeros([], DType.Int64, Device);
        }
        int a = ShapeMath.Axis(op, axis, Rank);
        var last = (a == Rank - 1 ? this : Movedim(a, -1)).Detach();
        var order = new Tensor(Kernels.ArgSort(last.View, descending), last.Shape);
        return a == Rank - 1 ? order : order.Movedim(-1, a);
    }

    /// <summary>
    /// The elements sorted along <paramref name="axis"/> and the positions they came from
    /// (torch.sort, always stable). The cotangent of each sorted value goes back to its position.
    /// </summary>
    [Op("sort", OpKind.Composite)]
    public (Tensor Values, Tensor Indices) Sort(int axis = -1, bool descending = false)
    {
        using var _ = OpCall.Enter("sort", this);
        var order = SortOrder("sort", axis, descending);
        if (Rank == 0) return (this, order);
        return (Gather(ShapeMath.Axis("sort", axis, Rank), order), order);
    }

    /// <summary>
    /// The <paramref name="k"/> largest elements along <paramref name="axis"/> (smallest when
    /// <paramref name="largest"/> is false) and their positions (torch.topk), in sorted order;
    /// among equal elements the earlier position comes first. NaN counts as the largest.
    /// </summary>
    [Op("topk", OpKind.Composite)]
    public (Tensor Values, Tensor Indices) TopK(int k, int axis = -1, bool largest = true)
    {
        using var _ = OpCall.Enter("topk", this);
        int a = ShapeMath.Axis("topk", axis, Math.Max(Rank, 1));
        int n = Rank == 0 ? 1 : shape[a];
        if (k < 0 || k > n)
            throw new OpArgumentException("topk", $"topk: k = {k} is out of range for axis {a} of size {n} in shape {ShapeMath.Format(shape)}");
        if (Rank == 0) return k == 0 ? (Reshape(1).Narrow(0, 0, 0), Zeros([0], DType.Int64, Device)) : (this, Zeros([], DType.Int64, Device));
        var order = SortOrder("topk", a, largest).Narrow(a, 0, k);
        return (Gather(a, order), order);
    }
}
