namespace Cotangent;

/// <summary>Normalisation, dropout and the training losses: compositions of primitives.</summary>
public sealed partial class Tensor
{
    /// <summary>
    /// Layer normalisation over the last <paramref name="normalizedRank"/> axes: (x − μ)/√(σ² + ε)
    /// with the biased variance, then ·γ + β when given (torch.nn.functional.layer_norm). A
    /// primitive: one pass a row forward, and a VJP whose input part is one fused pass too
    /// (<see cref="LayerNormBackward"/>); ∂γ = Σ g·x̂, ∂β = Σ g.
    /// </summary>
    [Op("layer_norm")]
    public static Tensor LayerNorm(Tensor x, int normalizedRank, Tensor? gamma = null, Tensor? beta = null, double eps = 1e-5)
    {
        using var _ = OpCall.EnterWith("layer_norm", [x], gamma, beta);
        x.RequireFloat("layer_norm");
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new OpArgumentException("layer_norm", $"layer_norm: eps must be a finite number 0 or more, got {eps}");
        if (normalizedRank < 1 || normalizedRank > x.Rank)
            throw new AxisOutOfRangeException("layer_norm", $"layer_norm: cannot normalise the last {normalizedRank} axes of shape {ShapeMath.Format(x.shape)}");
        var normalized = x.shape[^normalizedRank..];
        foreach (var (what, t) in new[] { ("gamma", gamma), ("beta", beta) })
        {
            if (t is null) continue;
            if (!ShapeMath.SameShape(t.shape, normalized))
                throw new ShapeMismatchException("layer_norm", $"layer_norm: {what} has shape {ShapeMath.Format(t.shape)} but the normalised shape of {ShapeMath.Format(x.shape)} is {ShapeMath.Format(normalized)}");
            SameDevice("layer_norm", x, t);
            if (t.DType != x.DType)
                throw new DTypeMismatchException("layer_norm", $"layer_norm: {what} is {t.DType.Name()} but the input is {x.DType.Name()}");
        }
        int d = ShapeMath.Numel(normalized);
        var inputs = new List<Tensor> { x };
        int gi = -1, bi = -1;
        if (gamma is not null) { gi = inputs.Count; inputs.Add(gamma); }
        if (beta is not null) { bi = inputs.Count; inputs.Add(beta); }
        VjpRule rule = (i, g, xs, _) =>
        {
            if (i == 0) return LayerNormBackward(gi < 0 ? g : g * xs[gi], xs[0], normalizedRank, eps);
            if (i == gi) return (g * LayerNorm(xs[0], normalizedRank, null, null, eps)).SumTo(normalized);
            return g.SumTo(normalized);
        };
        // a plain backward pass takes ∂x, ∂γ, ∂β from one kernel where the backend has it (as
        // batch norm's); a recorded one needs the differentiable per-input rules above
        JointVjpRule joint = (want, g, xs, _) =>
        {
            var (dx, dgamma, dbeta) = xs[0].Kernels.LayerNormGrads(g.View, xs[0].View, d, gi < 0 ? null : Whole(xs[gi]), eps);
            var grads = new Tensor?[xs.Length];
            if (want[0]) grads[0] = new Tensor(dx, xs[0].Shape);
            if (gi >= 0 && want[gi]) grads[gi] = new Tensor(dgamma, [.. normalized]);
            if (bi >= 0 && want[bi]) grads[bi] = new Tensor(dbeta, [.. normalized]);
            return grads;
        };
        var result = Result("layer_norm", x.Kernels.LayerNorm(x.View, d, Whole(gamma), Whole(beta), eps), x.Shape, [.. inputs], rule);
        if (x.Kernels.FusesLayerNormGrads(x.DType)) result.gradFn?.SetJoint(joint);
        return result;
    }

    /// <summary>
    /// The pullback of normalising the last <paramref name="normalizedRank"/> axes of x, applied
    /// to gh: J(x)ᵀ·gh = r·(gh − mean(gh) − x̂·mean(gh·x̂)), r = 1/√(σ² + ε), in one pass a row.
    /// J is symmetric, so ∂gh = layer_norm_backward(u, x); ∂x = −(r/n)(x̂·⟨u, h⟩ + h·⟨u, x̂⟩) −
    /// r·mean(gh·x̂)·layer_norm_backward(u, x), h this op's output, ⟨·,·⟩ and means per row.
    /// </summary>
    [Op("layer_norm_backward")]
    public static Tensor LayerNormBackward(Tensor gh, Tensor x, int normalizedRank, double eps = 1e-5)
    {
        using var _ = OpCall.Enter("layer_norm_backward", gh, x);
        x.RequireFloat("layer_norm_backward");
        ElementForElement("layer_norm_backward", "cotangent", gh, "input", x);
        if (normalizedRank < 1 || normalizedRank > x.Rank)
            throw new AxisOutOfRangeException("layer_norm_backward", $"layer_norm_backward: cannot normalise the last {normalizedRank} axes of shape {ShapeMath.Format(x.shape)}");
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new OpArgumentException("layer_norm_backward", $"layer_norm_backward: eps must be a finite number 0 or more, got {eps}");
        int d = ShapeMath.Numel(x.shape[^normalizedRank..]);
        var axes = Enumerable.Range(x.Rank - normalizedRank, normalizedRank).ToArray();
        VjpRule rule = (i, u, xs, h) =>
        {
            var (g0, x0) = (xs[0], xs[1]);
            var q = LayerNormBackward(u, x0, normalizedRank, eps);
            if (i == 0) return q;
            var xc = x0 - x0.Mean(axes, keepDim: true);
            var r = 1.0 / ((xc * xc).Mean(axes, keepDim: true) + eps).Sqrt();
            var xh = xc * r;
            var m = (g0 * xh).Mean(axes, keepDim: true);
            return -(r / d) * (xh * (u * h).Sum(axes, keepDim: true) + h * (u * xh).Sum(axes, keepDim: true)) - r * m * q;
        };
        return Result("layer_norm_backward", x.Kernels.LayerNormBackward(gh.View, x.View, d, eps), x.Shape, [gh, x], rule);
    }

    /// <summary>
    /// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1 − p),
    /// so the expectation is unchanged; the identity when not training; zeros when p = 1.
    /// </summary>
    [Op("dropout", OpKind.Composite)]
    public Tensor Dropout(double p, bool training = true, Generator? generator = null)
    {
        using var _ = OpCall.Enter("dropout", this);
        CheckDropout(p);
        RequireFloat("dropout");
        if (!training || p == 0) return this;
        if (p == 1) return this * 0.0;   // every element dropped; the gradient is 0 too
        var keep = Rand(shape, DType, generator, Device).Ge(p);
        return Where(keep, this * (1 / (1 - p)), 0.0);
    }

    /// <summary>Refuses a dropout probability outside [0, 1] (NaN included).</summary>
    internal static double CheckDropout(double p) =>
        p >= 0 && p <= 1 ? p : throw new OpArgumentException("dropout", $"dropout: p must be in [0, 1], got {p}");

    /// <summary>
    /// Mean cross-entropy of logits [N, C] against int64 labels [N], with label smoothing ε:
    /// the target is (1 − ε)·onehot + ε/C (torch.nn.functional.cross_entropy).
    /// </summary>
    [Op("cross_entropy", OpKind.Composite)]
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, double labelSmoothing)
    {
        using var _ = OpCall.Enter("cross_entropy", logits, labels);
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new OpArgumentException("cross_entropy", $"cross_entropy: label smoothing must be in [0, 1], got {labelSmoothing}");
        if (logits.Rank != 2 || labels.DType != DType.Int64 || logits.shape[0] == 0 || labels.Rank != 1
            || labels.Kernels.CountOutside(labels.View, 0, logits.shape[1]) != 0) return CrossEntropy(logits, labels, null, labelSmoothing: labelSmoothing);
        var nll = CrossEntropy(logits, labels);
        if (labelSmoothing == 0) return nll;
        var uniform = -logits.LogSoftmax(1).Mean();   // mean over classes and samples of −log p
        return nll * (1 - labelSmoothing) + uniform * labelSmoothing;
    }

    /// <summary>Mean negative log-likelihood of log-probabilities [N, C] at int64 labels [N].</summary>
    [Op("nll_loss", OpKind.Composite)]
    public static Tensor NllLoss(Tensor logProbs, Tensor labels)
    {
        using var _ = OpCall.Enter("nll_loss", logProbs, labels);
        if (logProbs.Rank != 2 || labels.DType != DType.Int64 || logProbs.shape[0] == 0 || labels.Rank != 1
            || labels.Kernels.CountOutside(labels.View, 0, logProbs.shape[1]) != 0) return NllLoss(logProbs, labels, null);
        CheckClassification("nll_loss", "log-probabilities", logProbs, labels);
        return -logProbs.Gather(1, labels.Unsqueeze(1)).Mean();
    }

    /// <summary>Scores [N, C] (float) against int64 labels [N] in [0, C); the errors name the op.</summary>
    static void CheckClassification(string op, string what, Tensor scores, Tensor labels)
    {
        if (labels.DType != DType.Int64)
            throw new DTypeMismatchException(op, $"{op}: labels must be int64 class indices, got {labels.DType.Name()}");
        if (scores.Rank != 2 || labels.Rank != 1 || labels.shape[0] != scores.shape[0])
            throw new ShapeMismatchException(op, $"{op}: expects {what} [N, C] and labels [N], got {ShapeMath.Format(scores.shape)} and {ShapeMath.Format(labels.shape)}");
        scores.RequireFloat(op);
        SameDevice(op, scores, labels);
        int c = scores.shape[1];
        // counted by the labels' backend and read as one number (on the CPU a scan of the
        // buffer); the labels themselves are read only to name the first bad one
        if (labels.Kernels.CountOutside(labels.View, 0, c) == 0) return;
        foreach (var l in labels.ToArray<long>())
            if (l < 0 || l >= c) throw OpCall.Index(op, $"{op}: label {l} is out of range for {c} classes");
    }

    /// <summary>
    /// Mean binary cross-entropy of logits against targets in [0, 1], stable for any logit:
    /// softplus(x) − x·t, which equals −t·log σ(x) − (1 − t)·log(1 − σ(x)).
    /// </summary>
    [Op("bce_with_logits", OpKind.Composite)]
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets)
    {
        using var _ = OpCall.Enter("bce_with_logits", logits, targets);
        SameDevice("bce_with_logits", logits, targets);
        logits.RequireFloat("bce_with_logits");
        if (!ShapeMath.SameShape(logits.shape, targets.shape))
            throw new ShapeMismatchException("bce_with_logits", $"bce_with_logits: logits {ShapeMath.Format(logits.shape)} and targets {ShapeMath.Format(targets.shape)} differ");
        if (logits.Numel == 0) throw new ShapeMismatchException("bce_with_logits", $"bce_with_logits: the mean over no elements ({ShapeMath.Format(logits.shape)}) is undefined");
        return (logits.Softplus() - logits * targets).Mean();
    }
}
