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
