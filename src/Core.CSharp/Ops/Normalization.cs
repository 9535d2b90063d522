namespace Cotangent;

/// <summary>
/// Issue 15's functional layers: group, instance and RMS normalisation (the first two through
/// the fused layer_norm kernel on a regrouped view), pixel shuffle, channel dropout and scaled
/// dot-product attention. Compositions of registered ops, so their gradients are those ops'.
/// </summary>
public sealed partial class Tensor
{
    static void CheckAffine(string op, Tensor x, int channels, Tensor? weight, Tensor? bias)
    {
        foreach (var (what, t) in new[] { ("weight", weight), ("bias", bias) })
        {
            if (t is null) continue;
            SameDevice(op, x, t);
            if (t.Rank != 1 || t.shape[0] != channels)
                throw new ShapeMismatchException(op, $"{op}: {what} must be [{channels}], got {ShapeMath.Format(t.shape)}");
            if (t.DType != x.DType)
                throw new DTypeMismatchException(op, $"{op}: {what} is {t.DType.Name()} but the input is {x.DType.Name()}");
        }
    }

    static void CheckEps(string op, double eps)
    {
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new OpArgumentException(op, $"{op}: eps must be a finite number 0 or more, got {eps}");
    }

    /// <summary>Per-channel scale and shift of [N, C, …] (either may be null).</summary>
    static Tensor ChannelAffine(Tensor y, Tensor? weight, Tensor? bias)
    {
        var along = Enumerable.Range(0, y.Rank).Select(a => a == 1 ? y.shape[1] : 1).ToArray();
        if (weight is not null) y = y * weight.Reshape(along);
        if (bias is not null) y = y + bias.Reshape(along);
        return y;
    }

    /// <summary>γ or β as a view the normalisation kernels read from element 0 of its storage: a slice (contiguous, offset > 0) is copied.</summary>
    static Backends.Strided? Whole(Tensor? t) => t is null ? null
        : t.IsContiguous && t.offset == 0 ? t.View
        : new Backends.Strided(t.Kernels.Contiguous(t.View), t.shape, ShapeMath.ContiguousStrides(t.shape), 0);

    /// <summary>Every axis but the channels (axis 1), and the shape [1, C, 1, …] a per-channel vector broadcasts from.</summary>
    static (int[] Axes, int[] Along) ChannelAxes(Tensor x) =>
        (Enumerable.Range(0, x.Rank).Where(a => a != 1).ToArray(), Enumerable.Range(0, x.Rank).Select(a => a == 1 ? x.shape[1] : 1).ToArray());

    /// <summary>
    /// Batch normalisation of x [N, C, …] by the batch's own statistics
    /// (torch.nn.functional.batch_norm with training = True): each channel's mean and biased
    /// variance over every other axis, (x − μ)/√(σ² + ε), then ·γ + β per channel when given. A
    /// primitive (the CPU: three vector passes over a channel's rows, channels over the cores;
    /// a device: one thread a channel). A plain backward pass takes ∂x, ∂γ = Σ g·x̂ and ∂β = Σ g
    /// from one kernel call; a recorded one (create_graph) composes them from
    /// <see cref="BatchNormBackward"/> and elementwise ops, which are differentiable in turn. A
    /// backend without the kernels for a dtype gets the composition of means and variances.
    /// </summary>
    [Op("batch_norm")]
    public static Tensor BatchNorm(Tensor x, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) => BatchNorm(x, weight, bias, eps, out _, out _);

    /// <summary>The same, with the batch's per-channel mean and biased variance [C] (not recorded), for the running statistics.</summary>
    internal static Tensor BatchNorm(Tensor x, Tensor? weight, Tensor? bias, double eps, out Tensor mean, out Tensor variance)
    {
        using var _ = OpCall.EnterWith("batch_norm", [x], weight, bias);
        x.RequireFloat("batch_norm");
        CheckEps("batch_norm", eps);
        if (x.Rank < 2) throw new ShapeMismatchException("batch_norm", $"batch_norm: expects [N, C, …], got {ShapeMath.Format(x.shape)}");
        int c = x.shape[1];
        CheckAffine("batch_norm", x, c, weight, bias);
        if (c == 0 || x.Numel / c <= 1)
            throw new ShapeMismatchException("batch_norm", $"batch_norm: expected more than 1 value per channel, got input {ShapeMath.Format(x.shape)}");
        var (axes, along) = ChannelAxes(x);
        if (!x.Kernels.FusesBatchNorm(x.DType))
        {
            var m = x.Mean(axes, keepDim: true);
            var v = x.Var(axes, correction: 0, keepDim: true);
            (mean, variance) = (m.Detach().Reshape(c), v.Detach().Reshape(c));
            return ChannelAffine((x - m) / (v + eps).Sqrt(), weight, bias);
        }
        var inputs = new List<Tensor> { x };
        int wi = -1, bi = -1;
        if (weight is not null) { wi = inputs.Count; inputs.Add(weight); }
        if (bias is not null) { bi = inputs.Count; inputs.Add(bias); }
        VjpRule rule = (i, g, xs, _) =>
        {
            if (i == 0) return BatchNormBackward(wi < 0 ? g : g * xs[wi].Reshape(along), xs[0], eps);
            if (i == wi) return (g * BatchNorm(xs[0], null, null, eps)).Sum(axes);
            return g.Sum(axes);
        };
        // a plain backward pass takes ∂x, ∂γ and ∂β from one kernel: the per-input rules above
        // make g·γ, x̂ again and g·x̂ as whole tensors and reduce two of them, passes the joint
        // kernel does not make (3 ms a layer of 16×64×32×32); they stay for a recorded backward,
        // which needs differentiable ops
        JointVjpRule joint = (want, g, xs, _) =>
        {
            var (dx, dgamma, dbeta) = xs[0].Kernels.BatchNormBackward(g.View, xs[0].View, wi < 0 ? null : Whole(xs[wi]), c, eps);
            var grads = new Tensor?[xs.Length];
            if (want[0]) grads[0] = new Tensor(dx, xs[0].Shape);
            if (wi >= 0 && want[wi]) grads[wi] = new Tensor(dgamma, [c]);
            if (bi >= 0 && want[bi]) grads[bi] = new Tensor(dbeta, [c]);
            return grads;
        };
        var (y, ms, vs) = x.Kernels.BatchNorm(x.View, c, Whole(weight), Whole(bias), eps);
        (mean, variance) = (new Tensor(ms, [c]), new Tensor(vs, [c]));
        var result = Result("batch_norm", y, x.Shape, [.. inputs], rule);
        result.gradFn?.SetJoint(joint);
        return result;
    }

    /// <summary>
    /// The pullback of normalising each channel of x [N, C, …] by its batch statistics, applied
    /// to gh: r·(gh − mean(gh) − x̂·mean(gh·x̂)), r = 1/√(σ² + ε), the means per channel over all
    /// other axes. Its own VJP is layer_norm_backward's with those axes: J is symmetric, so
    /// ∂gh = batch_norm_backward(u, x); ∂x = −(r/n)(x̂·⟨u, h⟩ + h·⟨u, x̂⟩) − r·mean(gh·x̂)·∂gh.
    /// </summary>
    [Op("batch_norm_backward")]
    public static Tensor BatchNormBackward(Tensor gh, Tensor x, double eps = 1e-5)
    {
        using var _ = OpCall.Enter("batch_norm_backward", gh, x);
        x.RequireFloat("batch_norm_backward");
        ElementForElement("batch_norm_backward", "cotangent", gh, "input", x);
        CheckEps("batch_norm_backward", eps);
        if (x.Rank < 2 || x.shape[1] == 0 || x.Numel / x.shape[1] <= 1)
            throw new ShapeMismatchException("batch_norm_backward", $"batch_norm_backward: expects [N, C, …] with more than 1 value per channel, got {ShapeMath.Format(x.shape)}");
        int c = x.shape[1];
        var (axes, _) = ChannelAxes(x);
        double count = (double)x.Numel / c;
        Tensor Centred(Tensor x0, out Tensor r)
        {
            var xc = x0 - x0.Mean(axes, keepDim: true);
            r = 1.0 / ((xc * xc).Mean(axes, keepDim: true) + eps).Sqrt();
            return xc * r;
        }
        if (!x.Kernels.FusesBatchNorm(x.DType))
        {
            var xh = Centred(x, out var r);
            return r * (gh - gh.Mean(axes, keepDim: true) - xh * (gh * xh).Mean(axes, keepDim: true));
        }
        VjpRule rule = (i, u, xs, h) =>
        {
            var (g0, x0) = (xs[0], xs[1]);
            var q = BatchNormBackward(u, x0, eps);
            if (i == 0) return q;
            var xh = Centred(x0, out var r);
            var m = (g0 * xh).Mean(axes, keepDim: true);
            return -(r / count) * (xh * (u * h).Sum(axes, keepDim: true) + h * (u * xh).Sum(axes, keepDim: true)) - r * m * q;
        };
        return Result("batch_norm_backward", x.Kernels.BatchNormBackward(gh.View, x.View, null, c, eps).Dx, x.Shape, [gh, x], rule);
    }

    /// <summary>
    /// Group normalisation of x [N, C, …] (torch.nn.functional.group_norm): the channels in
    /// <paramref name="groups"/> groups, each group of each sample normalised by its own mean and
    /// biased variance, then a per-channel affine.
    /// </summary>
    [Op("group_norm", OpKind.Composite)]
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        using var _ = OpCall.EnterWith("group_norm", [x], weight, bias);
        x.RequireFloat("group_norm");
        CheckEps("group_norm", eps);
        if (x.Rank < 2) throw new ShapeMismatchException("group_norm", $"group_norm: expects [N, C, …], got {ShapeMath.Format(x.shape)}");
        int c = x.shape[1];
        if (groups <= 0 || c % groups != 0)
            throw new OpArgumentException("group_norm", $"group_norm: {c} channels do not split into {groups} groups");
        CheckAffine("group_norm", x, c, weight, bias);
        if (x.Numel == 0) return ChannelAffine(x, weight, bias);
        var grouped = x.Reshape(x.shape[0], groups, -1);
        return ChannelAffine(LayerNorm(grouped, 1, null, null, eps).Reshape(x.shape), weight, bias);
    }

    /// <summary>
    /// Instance normalisation of x [N, C, …] (torch.nn.functional.instance_norm without running
    /// statistics): each channel of each sample normalised over its spatial axes, then a
    /// per-channel affine.
    /// </summary>
    [Op("instance_norm", OpKind.Composite)]
    public static Tensor InstanceNorm(Tensor x, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        using var _ = OpCall.EnterWith("instance_norm", [x], weight, bias);
        x.RequireFloat("instance_norm");
        CheckEps("instance_norm", eps);
        if (x.Rank < 3) throw new ShapeMismatchException("instance_norm", $"instance_norm: expects [N, C, L] or [N, C, H, W] (…), got {ShapeMath.Format(x.shape)}");
        CheckAffine("instance_norm", x, x.shape[1], weight, bias);
        if (x.Numel == 0) return ChannelAffine(x, weight, bias);
        return ChannelAffine(LayerNorm(x, x.Rank - 2, null, null, eps), weight, bias);
    }

    /// <summary>
    /// RMS normalisation over the last <paramref name="normalizedRank"/> axes (torch.nn.functional.rms_norm):
    /// x/√(mean(x²) + ε)·γ; ε defaults to the dtype's machine epsilon, as PyTorch's does.
    /// </summary>
    [Op("rms_norm", OpKind.Composite)]
    public static Tensor RmsNorm(Tensor x, int normalizedRank, Tensor? weight = null, double? eps = null)
    {
        using var _ = OpCall.EnterWith("rms_norm", [x], weight);
        x.RequireFloat("rms_norm");
        double e = eps ?? (x.DType == DType.Float32 ? MathF.BitIncrement(1f) - 1f : Math.BitIncrement(1.0) - 1.0);
        CheckEps("rms_norm", e);
        if (normalizedRank < 1 || normalizedRank > x.Rank)
            throw new AxisOutOfRangeException("rms_norm", $"rms_norm: cannot normalise the last {normalizedRank} axes of shape {ShapeMath.Format(x.shape)}");
        var trailing = x.shape[^normalizedRank..];
        if (weight is not null)
        {
            SameDevice("rms_norm", x, weight);
            if (!ShapeMath.SameShape(weight.shape, trailing))
                throw new ShapeMismatchException("rms_norm", $"rms_norm: weight {ShapeMath.Format(weight.shape)} must be the normalised shape {ShapeMath.Format(trailing)}");
        }
        var axes = Enumerable.Range(x.Rank - normalizedRank, normalizedRank).ToArray();
        var y = x * ((x * x).Mean(axes, keepDim: true) + e).Rsqrt();
        return weight is null ? y : y * weight;
    }

    /// <summary>[N, C·r², H, W] to [N, C, H·r, W·r] (torch.nn.functional.pixel_shuffle).</summary>
    [Op("pixel_shuffle", OpKind.Composite)]
    public Tensor PixelShuffle(int upscale)
    {
        using var _ = OpCall.Enter("pixel_shuffle", this);
        if (upscale <= 0 || upscale > 46340) throw new OpArgumentException("pixel_shuffle", $"pixel_shuffle: the upscale factor must be in 1 … 46340, got {upscale}");
        int r2 = upscale * upscale;
        if (Rank < 3 || shape[^3] % r2 != 0)
            throw new ShapeMismatchException("pixel_shuffle", $"pixel_shuffle: expects [.., C·{r2}, H, W], got {ShapeMath.Format(shape)}");
        int[] lead = shape[..^3];
        int c = shape[^3] / r2, h = shape[^2], w = shape[^1], k = lead.Length;
        var y = Reshape([.. lead, c, upscale, upscale, h, w]);
        int[] perm = [.. Enumerable.Range(0, k), k, k + 3, k + 1, k + 4, k + 2];
        return y.Permute(perm).Reshape([.. lead, c, h * upscale, w * upscale]);
    }

    /// <summary>Channel dropout (torch.nn.functional.dropout2d): whole channels of [N, C, H, W] (or [C, H, W]) zeroed with probability p, the rest scaled by 1/(1 − p).</summary>
    [Op("dropout2d", OpKind.Composite)]
    public Tensor Dropout2d(double p, bool training = true, Generator? generator = null)
    {
        using var _ = OpCall.Enter("dropout2d", this);
        CheckDropout(p);
        RequireFloat("dropout2d");
        if (Rank is not (3 or 4)) throw new ShapeMismatchException("dropout2d", $"dropout2d: expects [N, C, H, W] or [C, H, W], got {ShapeMath.Format(shape)}");
        if (!training || p == 0) return this;
        if (p == 1) return this * 0.0;
        var maskShape = shape.Select((d, a) => a >= Rank - 2 ? 1 : d).ToArray();
        var keep = Rand(maskShape, DType, generator, Device).Ge(p);
        return Where(keep, this * (1 / (1 - p)), 0.0);
    }

    /// <summary>
    /// softmax(q·kᵀ·scale + mask)·v over q [.., L, E], k [.., S, E], v [.., S, Ev]
    /// (torch.nn.functional.scaled_dot_product_attention): scale 1/√E unless given; a bool mask
    /// (true: attend) or a float one added to the scores, broadcast to [.., L, S]; causal masks
    /// position j &gt; i; dropout on the weights while training. A row with every key masked is
    /// refused (softmax over nothing has no value).
    /// </summary>
    [Op("scaled_dot_product_attention", OpKind.Composite)]
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? mask = null, double dropout = 0, bool causal = false, double? scale = null, Generator? generator = null)
    {
        using var _ = OpCall.EnterWith("scaled_dot_product_attention", [q, k, v], mask);
        const string op = "scaled_dot_product_attention";
        q.RequireFloat(op);
        SameDevice(op, q, k);
        SameDevice(op, q, v);
        if (k.DType != q.DType || v.DType != q.DType)
            throw new DTypeMismatchException(op, $"{op}: q, k and v must share a dtype, got {q.DType.Name()}, {k.DType.Name()}, {v.DType.Name()}");
        if (q.Rank < 2 || k.Rank < 2 || v.Rank < 2 || q.shape[^1] != k.shape[^1] || k.shape[^2] != v.shape[^2])
            throw new ShapeMismatchException(op, $"{op}: expects q [.., L, E], k [.., S, E], v [.., S, Ev], got {ShapeMath.Format(q.shape)}, {ShapeMath.Format(k.shape)}, {ShapeMath.Format(v.shape)}");
        if (mask is not null && causal) throw new OpArgumentException(op, $"{op}: give a mask or causal, not both (as PyTorch)");
        if (mask is not null && mask.DType != DType.Bool && mask.DType != q.DType)
            throw new DTypeMismatchException(op, $"{op}: the mask must be bool or {q.DType.Name()} (the query's), got {mask.DType.Name()}");
        if (scale is double given && !double.IsFinite(given)) throw new OpArgumentException(op, $"{op}: scale must be a finite number, got {given}");
        CheckDropout(dropout);
        int l = q.shape[^2], s = k.shape[^2];
        double sc = scale ?? 1 / Math.Sqrt(q.shape[^1]);
        var scores = MatMul(q, k.Transpose(-2, -1)) * sc;
        Tensor? allowed = null;
        if (causal) allowed = Ones([l, s], DType.Bool, q.Device).Tril();
        else if (mask is not null)
        {
            SameDevice(op, q, mask);
            ShapeMath.Broadcast(op, scores.shape, mask.shape);
            if (mask.DType == DType.Bool) allowed = mask;
            else scores = scores + mask;
        }
        if (allowed is not null)
        {
            if (s > 0 && allowed.Expand(scores.shape).LogicalNot().To(DType.Int64).Sum([-1]).Eq((double)s).Any().Item<bool>())
                throw new OpArgumentException(op, $"{op}: a query row has every key masked out; its softmax would be NaN");
            scores = Where(allowed, scores, double.NegativeInfinity);
        }
        var weights = scores.Softmax(-1);
        if (dropout > 0) weights = weights.Dropout(dropout, true, generator);
        return MatMul(weights, v);
    }
}
