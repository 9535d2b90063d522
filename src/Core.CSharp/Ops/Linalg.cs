using Cotangent.Backends;

namespace Cotangent;

/// <summary>
/// Linear algebra over batches of matrices [.., m, n] (torch.linalg): inv, solve, det, slogdet,
/// cholesky, qr, eigh, svd and lstsq. The factorisations run in float64 on the tensor's own
/// device (<c>DenseLinalg</c>'s algorithms in every backend's kernels: the CPU's one
/// matrix after another, a device's one thread a matrix) and float32 results are rounded from
/// them; what is read back is a check that the input is finite and one status number a call. Each op is one node
/// whose VJP is written with differentiable ops (matmul, solve, inv…), so gradients of any
/// order exist; ops with several outputs (qr, eigh, svd, slogdet) are one packed node the
/// outputs view, so their cotangents meet in one rule.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>This tensor as float64 on its device for the factorisation kernels; NaN or ±∞ is refused (a factorisation of it has no meaning).</summary>
    Tensor Float64Matrices(string op)
    {
        var x = Detach().To(DType.Float64);
        if (!x.IsFinite().All().Item<bool>()) throw new OpArgumentException(op, $"{op}: the input {ShapeMath.Format(shape)} holds NaN or ±∞");
        return x;
    }

    /// <summary>A kernel's float64 result as a tensor of <paramref name="like"/>'s dtype (it is on like's device already).</summary>
    static Tensor FromKernel(Storage values, int[] shape, Tensor like) => new Tensor(values, shape).To(like.DType);

    /// <summary>The first matrix whose status is not 0 and its status, or null: one number read back when all are 0.</summary>
    static (int Matrix, long Status)? FirstFailure(Storage status, int count)
    {
        var s = new Tensor(status, [count]);
        if (!s.Ne(0L).Any().Item<bool>()) return null;
        var all = s.ToArray<long>();
        int i = Array.FindIndex(all, v => v != 0);
        return (i, all[i]);
    }

    static (int Batch, int M, int N) Matrices(string op, Tensor a, bool square)
    {
        a.RequireFloat(op);
        if (a.Rank < 2) throw new ShapeMismatchException(op, $"{op}: expects a matrix or a batch of them [.., m, n], got {ShapeMath.Format(a.shape)}");
        int m = a.shape[^2], n = a.shape[^1];
        if (square && m != n) throw new ShapeMismatchException(op, $"{op}: expects square matrices, got {ShapeMath.Format(a.shape)}");
        int count = ShapeMath.Numel(a.shape.AsSpan(0, a.Rank - 2));
        if (DenseLinalg.LargestBuffer(count, m, n) > Array.MaxLength)
            throw new ShapeMismatchException(op, $"{op}: {count} matrices of {m}×{n} need {DenseLinalg.LargestBuffer(count, m, n)} doubles of working space, more than one buffer holds");
        return (count, m, n);
    }

    /// <summary>
    /// B of A·X = B (solve, lstsq) checked against A: one device, one dtype; and torch's rule for
    /// its kind, a vector per matrix when it is 1-D or A's shape without the last axis.
    /// </summary>
    static bool IsVectorSide(string op, Tensor a, Tensor b)
    {
        SameDevice(op, a, b);
        if (b.DType != a.DType) throw new DTypeMismatchException(op, $"{op}: A is {a.DType.Name()} but B is {b.DType.Name()}");
        return b.Rank == 1 || (b.Rank == a.Rank - 1 && ShapeMath.SameShape(b.shape, a.shape[..^1]));
    }

    /// <summary>Axes of a transpose of the last two.</summary>
    Tensor Mt => Transpose(-2, -1);

    /// <summary>The n×n identity, like this tensor's dtype and device.</summary>
    static Tensor EyeLike(int n, Tensor like) => Eye(n, null, like.DType, like.Device);

    /// <summary>The inverse of each square matrix (torch.linalg.inv); a singular one is refused. ∂: −A⁻ᵀ·G·A⁻ᵀ.</summary>
    [Op("inv")]
    public Tensor Inv()
    {
        using var _ = OpCall.Enter("inv", this);
        var (batch, n, _) = Matrices("inv", this, true);
        var a = Float64Matrices("inv");
        var eye = Eye(n, null, DType.Float64, Device).Expand(shape);
        var (o, status) = Kernels.Solve(a.View, eye.View);
        if (FirstFailure(status, batch) is (int b, _))
            throw new OpArgumentException("inv", $"inv: matrix {b} of {ShapeMath.Format(shape)} is singular");
        return Fused("inv", () => FromKernel(o, Shape, this), [this], (_, g, _, y) =>
        {
            var yt = y.Mt;
            return -MatMul(MatMul(yt, g), yt);
        });
    }

    /// <summary>
    /// X with A·X = B for square A [.., n, n] and B [.., n, k] (or B [.., n], a vector per
    /// matrix), batch axes broadcast (torch.linalg.solve). ∂B = A⁻ᵀG, ∂A = −∂B·Xᵀ.
    /// </summary>
    [Op("solve")]
    public static Tensor Solve(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("solve", a, b);
        var (_, n, _) = Matrices("solve", a, true);
        if (IsVectorSide("solve", a, b))
        {
            if (b.shape[^1] != n)
                throw new ShapeMismatchException("solve", $"solve: B {ShapeMath.Format(b.shape)} does not fit A {ShapeMath.Format(a.shape)} (expected [.., {n}, k] or [.., {n}])");
            return Solve(a, b.Unsqueeze(-1)).Squeeze(-1);
        }
        if (b.Rank < 2 || b.shape[^2] != n)
            throw new ShapeMismatchException("solve", $"solve: B {ShapeMath.Format(b.shape)} does not fit A {ShapeMath.Format(a.shape)} (expected [.., {n}, k] or [.., {n}])");
        var batch = ShapeMath.Broadcast("solve", a.shape[..^2], b.shape[..^2]);
        int k = b.shape[^1];
        var ax = a.Expand([.. batch, n, n]);
        var bx = b.Expand([.. batch, n, k]);
        var av = ax.Float64Matrices("solve");
        var bv = bx.Float64Matrices("solve");
        var (xv, status) = a.Kernels.Solve(av.View, bv.View);
        if (FirstFailure(status, ShapeMath.Numel(batch)) is (int i, _))
            throw new OpArgumentException("solve", $"solve: matrix {i} of A {ShapeMath.Format(a.shape)} is singular");
        return Fused("solve", () => FromKernel(xv, [.. batch, n, k], a), [ax, bx], (i, g, xs, x) =>
        {
            var gb = Solve(xs[0].Mt, g);
            return i == 1 ? gb : -MatMul(gb, x.Mt);
        });
    }

    /// <summary>The determinant of each square matrix (torch.linalg.det), from its LU. ∂ = g·det·A⁻ᵀ (refused at a singular matrix).</summary>
    [Op("det")]
    public Tensor Det()
    {
        using var _ = OpCall.Enter("det", this);
        Matrices("det", this, true);
        var pivots = LuPivotsOf("det");
        return Fused("det", () => (pivots.Narrow(-1, 0, shape[^1]).Prod([-1]) * pivots.Select(-1, shape[^1])).To(DType), [this], (_, g, xs, y) =>
        {
            if (y.Eq(0.0).Any().Item<bool>())
                throw new OpArgumentException("det", "det: the gradient at a singular matrix is not supported (its adjugate is not computed)");
            return (g * y).Unsqueeze(-1).Unsqueeze(-1) * xs[0].Inv().Mt;
        });
    }

    /// <summary>
    /// The sign and log |det| of each square matrix (torch.linalg.slogdet), stable where det
    /// would overflow. The sign has no gradient; ∂ log|det| = g·A⁻ᵀ.
    /// </summary>
    [Op("slogdet")]
    public (Tensor Sign, Tensor LogAbsDet) Slogdet()
    {
        using var _ = OpCall.Enter("slogdet", this);
        var (_, n, _) = Matrices("slogdet", this, true);
        var pivots = LuPivotsOf("slogdet");
        var d = pivots.Narrow(-1, 0, n);
        Tensor s;
        using (GradMode.Set(false)) s = (d.Sign().Prod([-1]) * pivots.Select(-1, n)).To(DType);
        var logAbs = Fused("slogdet", () => d.Abs().Log().Sum([-1]).To(DType), [this], (_, g, xs, _) =>
        {
            if (s.Eq(0.0).Any().Item<bool>())
                throw new OpArgumentException("slogdet", "slogdet: the gradient at a singular matrix (log |det| = −∞) is not defined");
            return g.Unsqueeze(-1).Unsqueeze(-1) * xs[0].Inv().Mt;
        });
        return (s, logAbs);
    }

    /// <summary>Each matrix's pivots and permutation sign, float64 [.., n + 1] (see <see cref="IKernels.LuPivots"/>).</summary>
    Tensor LuPivotsOf(string op)
    {
        var a = Float64Matrices(op);
        return new Tensor(Kernels.LuPivots(a.View), [.. shape[..^2], shape[^1] + 1]);
    }

    /// <summary>The symmetric matrix a routine reads from the lower triangle: tril(A) + tril(A, −1)ᵀ.</summary>
    Tensor LowerSymmetric() => Tril() + Tril(-1).Mt;

    /// <summary>
    /// The lower Cholesky factor L of each symmetric positive-definite matrix, A = LLᵀ, read from
    /// A's lower triangle (torch.linalg.cholesky); a matrix that is not positive-definite is
    /// refused. ∂A = ½(S + Sᵀ), S = L⁻ᵀ·Φ(Lᵀ·L̄)·L⁻¹, Φ the lower triangle with its diagonal halved.
    /// </summary>
    [Op("cholesky")]
    public Tensor Cholesky()
    {
        using var _ = OpCall.Enter("cholesky", this);
        var (batch, _, _) = Matrices("cholesky", this, true);
        var sym = LowerSymmetric();
        var a = sym.Float64Matrices("cholesky");
        var (o, status) = Kernels.Cholesky(a.View);
        if (FirstFailure(status, batch) is (int b, long bad))
            throw new OpArgumentException("cholesky", $"cholesky: matrix {b} of {ShapeMath.Format(shape)} is not positive-definite (its leading minor of order {bad} is not positive)");
        return Fused("cholesky", () => FromKernel(o, Shape, this), [sym], (_, g, _, y) =>
        {
            var p = MatMul(y.Mt, g);
            var phi = p.Tril(-1) + p.Tril().Triu() * 0.5;
            var li = y.Inv();
            var s = MatMul(MatMul(li.Mt, phi), li);
            return (s + s.Mt) * 0.5;
        });
    }

    /// <summary>
    /// The reduced QR factorisation of each matrix [.., m, n] (torch.linalg.qr): Q [.., m, k]
    /// with orthonormal columns, R [.., k, n] upper with a non-negative diagonal, k = min(m, n).
    /// The gradient (m ≥ n): (Q̄ + Q·copyltu(M))·R⁻ᵀ with M = R·R̄ᵀ − Q̄ᵀ·Q.
    /// </summary>
    [Op("qr")]
    public (Tensor Q, Tensor R) Qr()
    {
        using var _ = OpCall.Enter("qr", this);
        var (_, m, n) = Matrices("qr", this, false);
        int k = Math.Min(m, n), size = m * k + k * n;
        var packed = Kernels.Qr(Float64Matrices("qr").View);
        int[] lead = shape[..^2];
        (Tensor, Tensor) Unpack(Tensor p) => (p.Narrow(-1, 0, m * k).Reshape([.. lead, m, k]), p.Narrow(-1, m * k, k * n).Reshape([.. lead, k, n]));
        var all = Fused("qr", () => FromKernel(packed, [.. lead, size], this), [this], (_, g, _, p) =>
        {
            if (m < n) throw new OpArgumentException("qr", $"qr: the gradient of a wide matrix ({m}×{n}, m < n) is not supported");
            var (qq, rr) = Unpack(p);
            var (gq, gr) = Unpack(g);
            var mm = MatMul(rr, gr.Mt) - MatMul(gq.Mt, qq);
            var copy = mm.Tril() + mm.Tril(-1).Mt;
            var y = gq + MatMul(qq, copy);
            return Solve(rr, y.Mt).Mt;                                            // y·R⁻ᵀ
        });
        return Unpack(all);
    }

    /// <summary>
    /// Eigenvalues (ascending) and orthonormal eigenvectors (columns) of each symmetric matrix,
    /// read from its lower triangle (torch.linalg.eigh). The gradient needs distinct eigenvalues:
    /// Ā = V·(diag(λ̄) + F∘(Vᵀ·V̄))·Vᵀ symmetrised, F_ij = 1/(λ_j − λ_i).
    /// </summary>
    [Op("eigh")]
    public (Tensor Values, Tensor Vectors) Eigh()
    {
        using var _ = OpCall.Enter("eigh", this);
        var (_, n, _) = Matrices("eigh", this, true);
        var sym = LowerSymmetric();
        int size = n + n * n;
        var packed = Kernels.Eigh(sym.Float64Matrices("eigh").View);
        int[] lead = shape[..^2];
        (Tensor, Tensor) Unpack(Tensor p) => (p.Narrow(-1, 0, n), p.Narrow(-1, n, n * n).Reshape([.. lead, n, n]));
        var all = Fused("eigh", () => FromKernel(packed, [.. lead, size], this), [sym], (_, g, _, p) =>
        {
            var (lam, vec) = Unpack(p);
            var (gl, gv) = Unpack(g);
            // only the eigenvalues reached: V·diag(λ̄)·Vᵀ, defined for repeated eigenvalues too
            if (!gv.Ne(0.0).Any().Item<bool>()) return MatMul(MatMul(vec, DiagEmbed(gl)), vec.Mt);
            var f = Reciprocals(lam.Unsqueeze(-2) - lam.Unsqueeze(-1), "eigh", "repeated eigenvalues");   // 1/(λ_j − λ_i)
            var inner = f * MatMul(vec.Mt, gv) + DiagEmbed(gl);
            var ga = MatMul(MatMul(vec, inner), vec.Mt);
            return (ga + ga.Mt) * 0.5;
        });
        return Unpack(all);
    }

    /// <summary>Batched diagonal matrices from vectors [.., n].</summary>
    static Tensor DiagEmbed(Tensor v) => v.Unsqueeze(-1) * EyeLike(v.shape[^1], v);

    /// <summary>1/d off the diagonal, 0 on it; a zero off-diagonal difference makes the gradient undefined and is refused.</summary>
    static Tensor Reciprocals(Tensor d, string op, string what)
    {
        int n = d.shape[^1];
        var eye = Eye(n, null, DType.Bool, d.Device);
        if (LogicalAnd(d.Eq(0.0), eye.LogicalNot()).Any().Item<bool>())
            throw new OpArgumentException(op, $"{op}: the gradient with {what} is not defined");
        return Where(eye, 0.0, 1.0 / Where(eye, 1.0, d));
    }

    /// <summary>
    /// The reduced SVD of each matrix [.., m, n] (torch.linalg.svd with full_matrices=False):
    /// U [.., m, k], S [.., k] descending, Vh [.., k, n]. The gradient (Townsend's formula, real
    /// case) needs distinct nonzero singular values.
    /// </summary>
    [Op("svd")]
    public (Tensor U, Tensor S, Tensor Vh) Svd()
    {
        using var _ = OpCall.Enter("svd", this);
        var (_, m, n) = Matrices("svd", this, false);
        int k = Math.Min(m, n), size = m * k + k + k * n;
        var packed = Kernels.Svd(Float64Matrices("svd").View);
        int[] lead = shape[..^2];
        (Tensor, Tensor, Tensor) Unpack(Tensor p) =>
            (p.Narrow(-1, 0, m * k).Reshape([.. lead, m, k]), p.Narrow(-1, m * k, k), p.Narrow(-1, m * k + k, k * n).Reshape([.. lead, k, n]));
        var all = Fused("svd", () => FromKernel(packed, [.. lead, size], this), [this], (_, g, _, p) =>
        {
            var (uu, ss, vh) = Unpack(p);
            var (gu, gs, gvh) = Unpack(g);
            // only the singular values reached: U·diag(S̄)·Vh (the nuclear norm's gradient), defined at repeated and zero ones too
            if (!gu.Ne(0.0).Any().Item<bool>() && !gvh.Ne(0.0).Any().Item<bool>()) return MatMul(MatMul(uu, DiagEmbed(gs)), vh);
            if (ss.Eq(0.0).Any().Item<bool>())
                throw new OpArgumentException("svd", "svd: the gradient with a zero singular value is not defined");
            var vv = vh.Mt;
            var gv = gvh.Mt;
            var s2 = ss * ss;
            var f = Reciprocals(s2.Unsqueeze(-2) - s2.Unsqueeze(-1), "svd", "repeated singular values");   // 1/(s_j² − s_i²)
            var sd = DiagEmbed(ss);
            var utgu = MatMul(uu.Mt, gu);
            var vtgv = MatMul(vv.Mt, gv);
            var j = f * (utgu - utgu.Mt);
            var kk = f * (vtgv - vtgv.Mt);
            var core = MatMul(j, sd) + DiagEmbed(gs) + MatMul(sd, kk);
            var ga = MatMul(MatMul(uu, core), vh);
            var sInv = DiagEmbed(1.0 / ss);
            if (m > k) ga = ga + MatMul(MatMul(gu - MatMul(uu, utgu), sInv), vh);      // (I − UUᵀ)·Ū·S⁻¹·Vᵀ
            if (n > k) ga = ga + MatMul(MatMul(uu, sInv), (gv - MatMul(vv, vtgv)).Mt); // U·S⁻¹·V̄ᵀ·(I − VVᵀ)
            return ga;
        });
        return Unpack(all);
    }

    /// <summary>
    /// The least-squares solution X of A·X ≈ B (torch.linalg.lstsq's solution) for full-rank A
    /// [.., m, n]: R⁻¹Qᵀ·B from A's QR when m ≥ n, the minimum-norm Aᵀ(AAᵀ)⁻¹·B when m &lt; n;
    /// B [.., m, k] or [.., m]. Differentiable through qr and solve.
    /// </summary>
    [Op("lstsq", OpKind.Composite)]
    public static Tensor Lstsq(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("lstsq", a, b);
        var (_, m, n) = Matrices("lstsq", a, false);
        if (IsVectorSide("lstsq", a, b) && b.shape[^1] == m) return Lstsq(a, b.Unsqueeze(-1)).Squeeze(-1);
        if (b.Rank < 2 || b.shape[^2] != m)
            throw new ShapeMismatchException("lstsq", $"lstsq: B {ShapeMath.Format(b.shape)} does not fit A {ShapeMath.Format(a.shape)} (expected [.., {m}, k] or [.., {m}])");
        if (m >= n)
        {
            var (q, r) = a.Qr();
            // R's diagonal: a (numerically) zero entry is a rank-deficient A, whose solution is not unique
            var d = r.Detach().Diagonal(0, -2, -1).Abs().To(DType.Float64);
            double tol = (a.DType == DType.Float32 ? 1e-6 : 1e-12) * Math.Max(m, n);
            if (n > 0 && d.Lt(d.Amax([-1], keepDim: true) * tol + double.Epsilon).Any().Item<bool>())
                throw new OpArgumentException("lstsq", $"lstsq: A {ShapeMath.Format(a.shape)} is rank-deficient (a diagonal entry of its R is below {tol:g2}·the largest); the least-squares solution is not unique");
            return Solve(r, MatMul(q.Mt, b));
        }
        return MatMul(a.Mt, Solve(MatMul(a, a.Mt), b));
    }
}
