namespace Cotangent;

/// <summary>Matrix products: matmul with batching and broadcasting, and its 1-D relatives.</summary>
public sealed partial class Tensor
{
    /// <summary>
    /// The matrix product, as torch.matmul: 1-D operands are promoted to a row (left) or a
    /// column (right) and the added axis removed after; leading axes are batch axes and
    /// broadcast. Bilinear: ∂/∂A = G·Bᵀ, ∂/∂B = Aᵀ·G (broadcast batch axes are summed by the engine).
    /// </summary>
    [Op("matmul")]
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("matmul", a, b);
        if (a.Rank == 0 || b.Rank == 0)
            throw new ShapeMismatchException("matmul", $"matmul: both operands need at least one axis, got shapes {ShapeMath.Format(a.shape)} and {ShapeMath.Format(b.shape)}");
        (a, b) = Common("matmul", a, b);
        if (a.DType == DType.Bool) throw new DTypeMismatchException("matmul", "matmul: not defined for bool tensors");
        int ka = a.shape[^1], kb = b.Rank == 1 ? b.shape[0] : b.shape[^2];
        if (ka != kb)
            throw new ShapeMismatchException("matmul", $"matmul: shapes {ShapeMath.Format(a.shape)} and {ShapeMath.Format(b.shape)} are not aligned ({ka} columns vs {kb} rows)");
        if (a.Rank == 1 && b.Rank == 1) return MatMulNd(a.Unsqueeze(0), b.Unsqueeze(1)).Reshape();
        if (a.Rank == 1) return MatMulNd(a.Unsqueeze(0), b).Squeeze(-2);
        if (b.Rank == 1) return MatMulNd(a, b.Unsqueeze(1)).Squeeze(-1);
        return MatMulNd(a, b);
    }

    static Tensor MatMulNd(Tensor a, Tensor b)
    {
        int[] batchA = a.shape[..^2], batchB = b.shape[..^2];
        int[] batch;
        try { batch = ShapeMath.Broadcast("matmul", batchA, batchB); }
        catch (ShapeMismatchException)
        {
            throw new ShapeMismatchException("matmul", $"matmul: the batch axes {ShapeMath.Format(batchA)} of {ShapeMath.Format(a.shape)} and {ShapeMath.Format(batchB)} of {ShapeMath.Format(b.shape)} cannot be broadcast together (the last two axes of each are the matrices)");
        }
        int m = a.shape[^2], n = b.shape[^1], k = a.shape[^1];
        int[] sa = [.. batch, m, k], sb = [.. batch, k, n];
        return Result("matmul", a.Kernels.MatMul(a.ViewAs(sa), b.ViewAs(sb)), [.. batch, m, n], [a, b],
            (i, g, x, _) => i == 0 ? MatMul(g, x[1].T) : MatMul(x[0].T, g));
    }

    /// <summary>
    /// A dense layer, x·wᵀ + b (torch.nn.functional.linear): x [..., in], w [out, in], b [out].
    /// A fused primitive for speed: one GEMM reads w transposed through its strides and starts
    /// from the bias rows, and the VJP gives ∂w = gᵀ·x in w's own layout (the composition
    /// matmul(x, w.T) would hand back a transposed gradient to copy). ∂x = g·w, ∂b = Σ g.
    /// </summary>
    [Op("linear")]
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b = null)
    {
        using var _ = OpCall.EnterWith("linear", [x, w], b);
        if (x.Rank == 0 || w.Rank != 2 || x.shape[^1] != w.shape[1] || (b is not null && (b.Rank != 1 || b.shape[0] != w.shape[0])))
            throw new ShapeMismatchException("linear", $"linear: input {ShapeMath.Format(x.shape)}, weight {ShapeMath.Format(w.shape)} and bias {(b is null ? "none" : ShapeMath.Format(b.shape))} do not fit ([..., in], [out, in], [out])");
        SameDevice("linear", x, w);
        if (b is not null) SameDevice("linear", x, b);
        int inF = w.shape[1], outF = w.shape[0];
        int[] outShape = [.. x.shape[..^1], outF];
        Tensor[] inputs = b is null ? [x, w] : [x, w, b];
        VjpRule rule = (i, g, xs, _) =>
        {
            var g2 = g.Reshape(-1, outF);
            return i switch
            {
                0 => MatMul(g2, xs[1]).Reshape(xs[0].shape),
                1 => MatMul(g2.T, xs[0].Reshape(-1, inF)),
                _ => g2.Sum(0),
            };
        };
        bool fast = w.DType == x.DType && (b is null || b.DType == x.DType) && x.Kernels.FusesLinear(x.DType);
        if (!fast) return Fused("linear", () => b is null ? MatMul(x, w.T) : MatMul(x, w.T) + b, inputs, rule);
        var x2 = x.IsContiguous ? x.View : x.Contiguous().View;
        var flat = new Backends.Strided(x2.Storage, [ShapeMath.Numel(x.shape[..^1]), inF], [inF, 1], x2.Offset);
        return Result("linear", x.Kernels.Linear(flat, w.View, b?.View), outShape, inputs, rule);
    }

    /// <summary>The inner product of two 1-D tensors of one length.</summary>
    [Op("dot", OpKind.Composite)]
    public static Tensor Dot(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("dot", a, b);
        if (a.Rank != 1 || b.Rank != 1 || a.shape[0] != b.shape[0])
            throw new ShapeMismatchException("dot", $"dot: expects two 1-D tensors of one length, got shapes {ShapeMath.Format(a.shape)} and {ShapeMath.Format(b.shape)}");
        return MatMul(a, b);
    }

    /// <summary>The outer product of two 1-D tensors: out[i, j] = a[i]·b[j].</summary>
    [Op("outer", OpKind.Composite)]
    public static Tensor Outer(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("outer", a, b);
        if (a.Rank != 1 || b.Rank != 1)
            throw new ShapeMismatchException("outer", $"outer: expects two 1-D tensors, got shapes {ShapeMath.Format(a.shape)} and {ShapeMath.Format(b.shape)}");
        return a.Unsqueeze(1) * b.Unsqueeze(0);
    }
}
