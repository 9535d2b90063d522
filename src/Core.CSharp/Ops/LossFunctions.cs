namespace Cotangent;

/// <summary>How a loss combines its per-element values (torch's reduction argument).</summary>
public enum Reduction
{
    /// <summary>The mean (weighted by class weights where a loss has them, as PyTorch does).</summary>
    Mean,
    /// <summary>The sum.</summary>
    Sum,
    /// <summary>No reduction: one value per element (per sample, for the classification losses).</summary>
    None,
    /// <summary>The sum divided by the batch size (first axis): KL divergence's mathematically correct mean.</summary>
    BatchMean,
}

/// <summary>
/// torch.nn.functional's losses with their options: reduction, class weights, ignore_index,
/// label smoothing, pos_weight, inputs [N, C, d₁, …]; compositions of differentiable ops. A mean
/// over nothing (every target ignored, or no elements) is refused instead of returning NaN.
/// </summary>
public sealed partial class Tensor
{
    static Tensor Reduced(string op, Tensor loss, Reduction reduction, Tensor? denominator = null)
    {
        switch (reduction)
        {
            case Reduction.None: return loss;
            case Reduction.Sum: return loss.Sum();
            case Reduction.BatchMean:
                if (op != "kl_div") throw new OpArgumentException(op, $"{op}: reduction BatchMean is KL divergence's; use Mean, Sum or None");
                if (loss.Rank == 0 || loss.shape[0] == 0) throw new ShapeMismatchException(op, $"{op}: BatchMean over a batch of no samples ({ShapeMath.Format(loss.shape)}) is undefined");
                return loss.Sum() / (double)loss.shape[0];
            case Reduction.Mean:
                if (denominator is null)
                {
                    if (loss.Numel == 0) throw new ShapeMismatchException(op, $"{op}: the mean over no elements ({ShapeMath.Format(loss.shape)}) is undefined");
                    return loss.Mean();
                }
                if (denominator.Item<double>() == 0)
                    throw new OpArgumentException(op, $"{op}: every target is ignored or has weight 0, so the weighted mean has nothing to divide by (PyTorch returns NaN)");
                return loss.Sum() / denominator;
            default: throw new OpArgumentException(op, $"{op}: unknown reduction {reduction}");
        }
    }

    static void SameShapeLoss(string op, Tensor input, Tensor target)
    {
        SameDevice(op, input, target);
        input.RequireFloat(op);
        if (!ShapeMath.SameShape(input.shape, target.shape))
            throw new ShapeMismatchException(op, $"{op}: input shape {ShapeMath.Format(input.shape)} and target shape {ShapeMath.Format(target.shape)} differ");
    }

    /// <summary>
    /// Cross-entropy of logits [N, C, d₁, …] (or [C]) against int64 class indices [N, d₁, …] (or a
    /// 0-d one) or class probabilities shaped as the logits (torch.nn.functional.cross_entropy):
    /// class <paramref name="weight"/> [C], targets equal to <paramref name="ignoreIndex"/> left
    /// out, label smoothing ε mixing in the uniform distribution; the mean is weighted by the
    /// targets' class weights, as PyTorch's is.
    /// </summary>
    [Op("cross_entropy", OpKind.Composite)]
    public static Tensor CrossEntropy(Tensor logits, Tensor target, Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0)
    {
        using var _ = OpCall.EnterWith("cross_entropy", [logits, target], weight);
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new OpArgumentException("cross_entropy", $"cross_entropy: label smoothing must be in [0, 1], got {labelSmoothing}");
        logits.RequireFloat("cross_entropy");
        if (logits.Rank == 0) throw new ShapeMismatchException("cross_entropy", "cross_entropy: logits must have a class axis, got a 0-d tensor");
        bool unbatched = logits.Rank == 1;
        var x = unbatched ? logits.Unsqueeze(0) : logits;
        var t = unbatched ? target.Unsqueeze(0) : target;
        var loss = Nll("cross_entropy", x.LogSoftmax(1), t, weight, ignoreIndex, reduction, labelSmoothing);
        return unbatched && reduction == Reduction.None ? loss.Squeeze(0) : loss;
    }

    /// <summary>Negative log-likelihood of log-probabilities [N, C, d₁, …] at int64 targets [N, d₁, …], with class weights, ignore_index and reduction (torch.nn.functional.nll_loss).</summary>
    [Op("nll_loss", OpKind.Composite)]
    public static Tensor NllLoss(Tensor logProbs, Tensor target, Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.EnterWith("nll_loss", [logProbs, target], weight);
        logProbs.RequireFloat("nll_loss");
        if (logProbs.Rank == 0) throw new ShapeMismatchException("nll_loss", "nll_loss: log-probabilities must have a class axis, got a 0-d tensor");
        if (target.DType != DType.Int64)
            throw new DTypeMismatchException("nll_loss", $"nll_loss: targets must be int64 class indices, got {target.DType.Name()}");
        bool unbatched = logProbs.Rank == 1;
        var loss = Nll("nll_loss", unbatched ? logProbs.Unsqueeze(0) : logProbs, unbatched ? target.Unsqueeze(0) : target, weight, ignoreIndex, reduction, 0);
        return unbatched && reduction == Reduction.None ? loss.Squeeze(0) : loss;
    }

    /// <summary>The shared body: logp [N, C, d…] against indices [N, d…] or probabilities [N, C, d…].</summary>
    static Tensor Nll(string op, Tensor logp, Tensor target, Tensor? weight, int ignoreIndex, Reduction reduction, double smoothing)
    {
        SameDevice(op, logp, target);
        int c = logp.shape[1];
        var classShape = Enumerable.Repeat(1, logp.Rank).ToArray();
        classShape[1] = c;
        if (weight is not null)
        {
            SameDevice(op, logp, weight);
            if (weight.Rank != 1 || weight.shape[0] != c)
                throw new ShapeMismatchException(op, $"{op}: class weights must be [{c}], got {ShapeMath.Format(weight.shape)}");
            if (weight.DType != logp.DType)
                throw new DTypeMismatchException(op, $"{op}: class weights are {weight.DType.Name()} but the input is {logp.DType.Name()}");
        }
        var weighted = weight is null ? logp : logp * weight.Reshape(classShape);
        if (target.DType.IsFloating())
        {
            // class probabilities: −Σ_c w_c·t_c·log p_c, the mean over samples (not weights)
            if (!ShapeMath.SameShape(target.shape, logp.shape))
                throw new DTypeMismatchException(op, $"{op}: targets must be int64 class indices [{string.Join(", ", new[] { logp.shape[0] }.Concat(logp.shape[2..]))}] or class probabilities shaped as the input {ShapeMath.Format(logp.shape)}; got {target.DType.Name()} {ShapeMath.Format(target.shape)}");
            if (ignoreIndex != -100)
                throw new OpArgumentException(op, $"{op}: ignore_index applies to class-index targets, not to probabilities");
            if (target.DType != logp.DType)
                throw new DTypeMismatchException(op, $"{op}: probability targets are {target.DType.Name()} but the input is {logp.DType.Name()}");
            var t = smoothing > 0 ? target * (1 - smoothing) + smoothing / c : target;
            return Reduced(op, -(weighted * t).Sum([1]), reduction);
        }
        if (target.DType != DType.Int64)
            throw new DTypeMismatchException(op, $"{op}: targets must be int64 class indices or float probabilities, got {target.DType.Name()}");
        int[] expected = [logp.shape[0], .. logp.shape[2..]];
        if (!ShapeMath.SameShape(target.shape, expected))
            throw new ShapeMismatchException(op, $"{op}: for input {ShapeMath.Format(logp.shape)} the targets must be {ShapeMath.Format(expected)}, got {ShapeMath.Format(target.shape)}");
        var valid = target.Ne((double)ignoreIndex);
        var safe = Where(valid, target, 0.0);
        if (safe.Kernels.CountOutside(safe.View, 0, c) != 0)
        {
            var bad = safe.ToArray<long>().First(v => v < 0 || v >= c);
            throw OpCall.Index(op, $"{op}: label {bad} is out of range for {c} classes");
        }
        var picked = logp.Gather(1, safe.Unsqueeze(1)).Squeeze(1);
        var w = weight is null ? valid.To(logp.DType) : Where(valid, weight.IndexSelect(0, safe.Reshape(-1)).Reshape(safe.shape), 0.0);
        var nll = -(picked * w);
        bool mean = reduction == Reduction.Mean;
        var denominator = mean ? w.Sum() : null;
        var loss = Reduced(op, nll, reduction, denominator);
        if (smoothing == 0) return loss;
        var smooth = Where(valid, -weighted.Sum([1]), 0.0);
        return loss * (1 - smoothing) + Reduced(op, smooth, reduction, denominator) * (smoothing / c);
    }

    /// <summary>Squared error (torch.nn.functional.mse_loss) with a reduction.</summary>
    [Op("mse_loss", OpKind.Composite)]
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction)
    {
        using var _ = OpCall.Enter("mse_loss", input, target);
        SameShapeLoss("mse_loss", input, target);
        var d = input - target;
        return Reduced("mse_loss", d * d, reduction);
    }

    /// <summary>Absolute error |x − y| (torch.nn.functional.l1_loss).</summary>
    [Op("l1_loss", OpKind.Composite)]
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.Enter("l1_loss", input, target);
        SameShapeLoss("l1_loss", input, target);
        return Reduced("l1_loss", (input - target).Abs(), reduction);
    }

    /// <summary>Huber loss (torch.nn.functional.huber_loss): ½d² where |d| &lt; δ, else δ(|d| − ½δ).</summary>
    [Op("huber_loss", OpKind.Composite)]
    public static Tensor HuberLoss(Tensor input, Tensor target, double delta = 1.0, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.Enter("huber_loss", input, target);
        SameShapeLoss("huber_loss", input, target);
        if (!(delta > 0) || double.IsInfinity(delta)) throw new OpArgumentException("huber_loss", $"huber_loss: delta must be a finite number above 0, got {delta}");
        var d = input - target;
        var a = d.Abs();
        return Reduced("huber_loss", Where(a.Lt(delta), d * d * 0.5, (a - 0.5 * delta) * delta), reduction);
    }

    /// <summary>Smooth L1 loss (torch.nn.functional.smooth_l1_loss): ½d²/β where |d| &lt; β, else |d| − ½β; β = 0 is L1.</summary>
    [Op("smooth_l1_loss", OpKind.Composite)]
    public static Tensor SmoothL1Loss(Tensor input, Tensor target, double beta = 1.0, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.Enter("smooth_l1_loss", input, target);
        SameShapeLoss("smooth_l1_loss", input, target);
        if (!(beta >= 0) || double.IsInfinity(beta)) throw new OpArgumentException("smooth_l1_loss", $"smooth_l1_loss: beta must be a finite number, 0 or more, got {beta}");
        var d = input - target;
        var a = d.Abs();
        if (beta == 0) return Reduced("smooth_l1_loss", a, reduction);
        return Reduced("smooth_l1_loss", Where(a.Lt(beta), d * d * (0.5 / beta), a - 0.5 * beta), reduction);
    }

    /// <summary>
    /// Binary cross-entropy of probabilities in [0, 1] (torch.nn.functional.binary_cross_entropy):
    /// −w·(t·log x + (1 − t)·log(1 − x)), each log clamped at −100 as PyTorch clamps it. Inputs
    /// outside [0, 1] are refused.
    /// </summary>
    [Op("bce", OpKind.Composite)]
    public static Tensor BinaryCrossEntropy(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.EnterWith("bce", [input, target], weight);
        SameShapeLoss("bce", input, target);
        if (input.Lt(0.0).Any().Item<bool>() || input.Gt(1.0).Any().Item<bool>() || input.IsNan().Any().Item<bool>())
            throw new OpArgumentException("bce", "bce: inputs must be probabilities in [0, 1], not NaN (use bce_with_logits for scores)");
        // log clamped at −100 as PyTorch's, and formed only where the input is inside (0, 1]:
        // the clamp's zero cotangent times log's 1/x at x = 0 would otherwise be 0·∞ = NaN
        Tensor ClampedLog(Tensor x) => Where(x.Gt(0.0), Where(x.Gt(0.0), x, 1.0).Log().Clamp(-100.0), -100.0);
        var loss = -(target * ClampedLog(input) + (1.0 - target) * ClampedLog(1.0 - input));
        if (weight is not null) { SameDevice("bce", input, weight); loss *= weight; }
        return Reduced("bce", loss, reduction);
    }

    /// <summary>
    /// Binary cross-entropy of logits (torch.nn.functional.binary_cross_entropy_with_logits),
    /// stable for any logit: w·(p·t·softplus(−x) + (1 − t)·softplus(x)), with
    /// <paramref name="posWeight"/> p broadcast over the last axis (one per class).
    /// </summary>
    [Op("bce_with_logits", OpKind.Composite)]
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets, Tensor? weight, Tensor? posWeight = null, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.EnterWith("bce_with_logits", [logits, targets], weight, posWeight);
        SameShapeLoss("bce_with_logits", logits, targets);
        var positive = (-logits).Softplus() * targets;
        if (posWeight is not null) { SameDevice("bce_with_logits", logits, posWeight); positive *= posWeight; }
        var loss = positive + (1.0 - targets) * logits.Softplus();
        if (weight is not null) { SameDevice("bce_with_logits", logits, weight); loss *= weight; }
        return Reduced("bce_with_logits", loss, reduction);
    }

    /// <summary>
    /// KL divergence of the target distribution from the input's (torch.nn.functional.kl_div):
    /// input holds log-probabilities; pointwise t·(log t − x), 0 where t = 0 (or eᵗ·(t − x) with
    /// <paramref name="logTarget"/>). Use <see cref="Reduction.BatchMean"/> for the true KL per sample.
    /// </summary>
    [Op("kl_div", OpKind.Composite)]
    public static Tensor KlDiv(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, bool logTarget = false)
    {
        using var _ = OpCall.Enter("kl_div", input, target);
        SameShapeLoss("kl_div", input, target);
        target.RequireFloat("kl_div");
        Tensor pointwise;
        if (logTarget) pointwise = target.Exp() * (target - input);
        else
        {
            var positive = target.Gt(0.0);
            // t·log t taken as 0 at t = 0 (its limit), without forming log 0
            pointwise = Where(positive, target * (Where(positive, target, 1.0).Log() - input), 0.0);
        }
        return Reduced("kl_div", pointwise, reduction);
    }

    /// <summary>Cosine similarity along <paramref name="axis"/>: x·y / (max(‖x‖, ε)·max(‖y‖, ε)) (torch.nn.functional.cosine_similarity).</summary>
    [Op("cosine_similarity", OpKind.Composite)]
    public static Tensor CosineSimilarity(Tensor x1, Tensor x2, int axis = 1, double eps = 1e-8)
    {
        using var _ = OpCall.Enter("cosine_similarity", x1, x2);
        SameDevice("cosine_similarity", x1, x2);
        x1.RequireFloat("cosine_similarity");
        if (!(eps > 0) || double.IsInfinity(eps)) throw new OpArgumentException("cosine_similarity", $"cosine_similarity: eps must be a finite number above 0, got {eps}");
        var s = ShapeMath.Broadcast("cosine_similarity", x1.shape, x2.shape);
        int a = ShapeMath.ExistingAxis("cosine_similarity", axis, s.Length);
        var n1 = x1.Expand(s).Norm([a]).Clamp(eps);
        var n2 = x2.Expand(s).Norm([a]).Clamp(eps);
        return (x1 * x2).Sum([a]) / (n1 * n2);
    }

    /// <summary>1 − cos(x₁, x₂) where y = 1, max(0, cos − margin) where y = −1 (torch.nn.functional.cosine_embedding_loss), rows of [N, D].</summary>
    [Op("cosine_embedding_loss", OpKind.Composite)]
    public static Tensor CosineEmbeddingLoss(Tensor x1, Tensor x2, Tensor y, double margin = 0, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.Enter("cosine_embedding_loss", x1, x2, y);
        CheckSigns("cosine_embedding_loss", y);
        var cos = CosineSimilarity(x1, x2, -1, 1e-8);
        return Reduced("cosine_embedding_loss", Where(y.Gt(0.0), 1.0 - cos, (cos - margin).Relu()), reduction);
    }

    /// <summary>max(0, −y·(x₁ − x₂) + margin) (torch.nn.functional.margin_ranking_loss), y of ±1.</summary>
    [Op("margin_ranking_loss", OpKind.Composite)]
    public static Tensor MarginRankingLoss(Tensor x1, Tensor x2, Tensor y, double margin = 0, Reduction reduction = Reduction.Mean)
    {
        using var _ = OpCall.Enter("margin_ranking_loss", x1, x2, y);
        SameDevice("margin_ranking_loss", x1, x2);
        CheckSigns("margin_ranking_loss", y);
        if (!double.IsFinite(margin)) throw new OpArgumentException("margin_ranking_loss", $"margin_ranking_loss: the margin must be a finite number, got {margin}");
        return Reduced("margin_ranking_loss", (-y * (x1 - x2) + margin).Relu(), reduction);
    }

    /// <summary>
    /// The connectionist temporal classification loss (torch.nn.functional.ctc_loss): −log of
    /// the total probability of every alignment of each sample's first inputLengths[n] frames of
    /// log-probabilities [T, N, C] that collapses (repeats merged, blanks removed) to its target,
    /// by the forward (α) recursion in log space. targets is int64 [N, S] (each row's first
    /// targetLengths[n] labels) or 1-D, the targets concatenated. Mean divides each loss by its
    /// target length (at least 1) and averages, as PyTorch. A target no alignment reaches (too
    /// long for its frames) has loss +∞, or 0 with <paramref name="zeroInfinity"/>; either way its
    /// gradient is 0. A composition of gather, logsumexp and where over the T frames, so
    /// gradients of any order follow.
    /// </summary>
    [Op("ctc_loss", OpKind.Composite)]
    public static Tensor CtcLoss(Tensor logProbs, Tensor targets, int[] inputLengths, int[] targetLengths, int blank = 0, Reduction reduction = Reduction.Mean, bool zeroInfinity = false)
    {
        const string op = "ctc_loss";
        using var _ = OpCall.Enter(op, logProbs, targets);
        logProbs.RequireFloat(op);
        SameDevice(op, logProbs, targets);
        if (inputLengths is null || targetLengths is null) throw new OpArgumentException(op, $"{op}: the input and target lengths are required");
        if (logProbs.Rank != 3) throw new ShapeMismatchException(op, $"{op}: log_probs must be [T, N, C], got {ShapeMath.Format(logProbs.shape)}");
        int t = logProbs.shape[0], n = logProbs.shape[1], c = logProbs.shape[2];
        if (targets.DType != DType.Int64) throw new DTypeMismatchException(op, $"{op}: targets must be int64 class indices, got {targets.DType.Name()}");
        if (inputLengths.Length != n || targetLengths.Length != n)
            throw new ShapeMismatchException(op, $"{op}: {n} samples but {inputLengths.Length} input lengths and {targetLengths.Length} target lengths");
        if (blank < 0 || blank >= c) throw new OpArgumentException(op, $"{op}: blank {blank} is not a class of {c}");
        if (reduction == Reduction.BatchMean) throw new OpArgumentException(op, $"{op}: reduction BatchMean is KL divergence's; use Mean, Sum or None");
        for (int i = 0; i < n; i++)
        {
            if (inputLengths[i] < 0 || inputLengths[i] > t)
                throw new OpArgumentException(op, $"{op}: input length {inputLengths[i]} of sample {i} is not in [0, {t}]");
            if (targetLengths[i] < 0) throw new OpArgumentException(op, $"{op}: target length {targetLengths[i]} of sample {i} is negative");
        }
        // the targets as rows [N, S] on the host (labels are read to build the extended sequences)
        long[][] rows = new long[n][];
        if (targets.Rank == 2)
        {
            if (targets.shape[0] != n) throw new ShapeMismatchException(op, $"{op}: targets {ShapeMath.Format(targets.shape)} for {n} samples");
            var all = targets.ToArray<long>();
            int width = targets.shape[1];
            for (int i = 0; i < n; i++)
            {
                if (targetLengths[i] > width) throw new OpArgumentException(op, $"{op}: target length {targetLengths[i]} of sample {i} exceeds the targets' {width} columns");
                rows[i] = all.AsSpan(i * width, targetLengths[i]).ToArray();
            }
        }
        else if (targets.Rank == 1)
        {
            long total = targetLengths.Sum(v => (long)v);
            if (total != targets.shape[0]) throw new ShapeMismatchException(op, $"{op}: 1-D targets hold {targets.shape[0]} labels but the target lengths add up to {total}");
            var all = targets.ToArray<long>();
            for (int i = 0, at = 0; i < n; at += targetLengths[i], i++) rows[i] = all.AsSpan(at, targetLengths[i]).ToArray();
        }
        else throw new ShapeMismatchException(op, $"{op}: targets must be [N, S] or the 1-D concatenation, got {ShapeMath.Format(targets.shape)}");
        for (int i = 0; i < n; i++)
            foreach (var label in rows[i])
                if (label < 0 || label >= c || label == blank)
                    throw new OpArgumentException(op, $"{op}: sample {i}'s target holds {label}, not a class of {c} other than the blank {blank}");
        if (n == 0 && reduction == Reduction.Mean) throw new ShapeMismatchException(op, $"{op}: the mean over a batch of no samples is undefined");

        // extended sequences: blank, l₁, blank, l₂, …, blank (padded with blanks past 2·Sₙ)
        int s = rows.Length == 0 ? 0 : rows.Max(r => r.Length), width2 = 2 * s + 1;
        var ext = new long[n * width2];
        var skip = new bool[n * width2];
        var start = new bool[n * width2];
        var last = new long[n * 2];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < width2; j++) ext[i * width2 + j] = j % 2 == 1 && j / 2 < rows[i].Length ? rows[i][j / 2] : blank;
            for (int j = 2; j < width2; j++)
                skip[i * width2 + j] = j % 2 == 1 && j / 2 < rows[i].Length && ext[i * width2 + j] != ext[i * width2 + j - 2];
            start[i * width2] = true;
            if (rows[i].Length > 0) start[i * width2 + 1] = true;
            int len = rows[i].Length;
            (last[i * 2], last[i * 2 + 1]) = (2 * len, len > 0 ? 2 * len - 1 : 2 * len);
        }
        var dev = logProbs.Device;
        var extT = FromArray(ext, [n, width2], dev);
        // a finite stand-in for log 0: −∞ would give logsumexp's pullback 0/0 where no path reaches
        const double never = -1e30;
        var emit = logProbs.Gather(2, extT.Unsqueeze(0).Expand(t, n, width2));       // [T, N, L']
        var skipT = FromArray(skip, [n, width2], dev);
        var alpha = Where(FromArray(start, [n, width2], dev), t > 0 ? emit.Select(0, 0) : Full([n, width2], never, logProbs.DType, dev), never);
        var lengths = FromArray(inputLengths.Select(v => (long)v).ToArray(), [n, 1], dev);
        Tensor Shift(Tensor a, int by) => Cat([Full([n, by], never, a.DType, dev), a.Narrow(1, 0, width2 - by)], 1);
        for (int f = 1; f < t; f++)
        {
            var paths = new List<Tensor> { alpha, Shift(alpha, 1) };
            if (width2 > 2) paths.Add(Where(skipT, Shift(alpha, 2), never));
            var next = Stack([.. paths], 0).LogSumExp(0) + emit.Select(0, f);
            alpha = Where(lengths.Gt((long)f), next, alpha);
        }
        // the end: the last label or the blank after it; no frames at all reach nothing but an empty target
        var ends = alpha.Gather(1, FromArray(last, [n, 2], dev));
        var endsDistinct = Where(FromArray(last.Select((v, i) => i % 2 == 0 || last[i - 1] != v).ToArray(), [n, 2], dev), ends, never);
        var logLikelihood = endsDistinct.LogSumExp(1);
        var noFrames = FromArray(inputLengths.Select((v, i) => v == 0).ToArray(), [n], dev);
        var emptyTarget = FromArray(rows.Select(r => r.Length == 0).ToArray(), [n], dev);
        // zero frames: probability 1 for an empty target, 0 otherwise
        logLikelihood = Where(noFrames, Where(emptyTarget, 0.0, Full([n], never, logProbs.DType, dev)), logLikelihood);
        var loss = -logLikelihood;
        var impossible = loss.Gt(-never / 10).Detach();
        loss = Where(impossible, zeroInfinity ? 0.0 : double.PositiveInfinity, loss);
        if (reduction == Reduction.Mean)
            return (loss / FromArray(targetLengths.Select(v => (double)Math.Max(v, 1)).ToArray(), [n], dev).To(loss.DType)).Mean();
        return Reduced(op, loss, reduction);
    }

    static void CheckSigns(string op, Tensor y)
    {
        if (LogicalAnd(y.Ne(1.0), y.Ne(-1.0)).Any().Item<bool>())
            throw new OpArgumentException(op, $"{op}: y must hold 1 or −1 only");
    }
}
