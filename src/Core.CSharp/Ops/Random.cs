namespace Cotangent;

/// <summary>
/// Sampling with tensor parameters, all from a seedable <see cref="Generator"/> (the default one
/// when none is given), drawn on the host in row-major order so a seed gives the same numbers on
/// every device: bernoulli, multinomial, normal and uniform with tensor parameters, randperm.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>0 or 1 with probability this tensor's elements (in [0, 1]), in its dtype (torch.bernoulli). No gradient.</summary>
    [Op("bernoulli", OpKind.NonDifferentiable)]
    public Tensor Bernoulli(Generator? generator = null)
    {
        using var _ = OpCall.Enter("bernoulli", this);
        RequireFloat("bernoulli");
        var p = Detach();
        if (LogicalOr(p.Lt(0.0), p.Gt(1.0)).Any().Item<bool>() || p.IsNan().Any().Item<bool>())
            throw new OpArgumentException("bernoulli", "bernoulli: probabilities must lie in [0, 1]");
        return Rand(shape, DType, generator, Device).Lt(p).To(DType);
    }

    /// <summary>
    /// <paramref name="numSamples"/> category indices (int64) per row of non-negative weights [C]
    /// or [N, C] (torch.multinomial): drawn with probabilities proportional to the weights, with
    /// or without replacement (then at most as many as the row has nonzero weights). No gradient.
    /// </summary>
    [Op("multinomial", OpKind.NonDifferentiable)]
    public Tensor Multinomial(int numSamples, bool replacement = false, Generator? generator = null)
    {
        using var _ = OpCall.Enter("multinomial", this);
        RequireFloat("multinomial");
        if (Rank is not (1 or 2) || shape[^1] == 0)
            throw new ShapeMismatchException("multinomial", $"multinomial: expects weights [C] or [N, C] with C > 0, got {ShapeMath.Format(shape)}");
        if (numSamples <= 0) throw new OpArgumentException("multinomial", $"multinomial: the number of samples must be positive, got {numSamples}");
        int c = shape[^1], rows = Rank == 1 ? 1 : shape[0];
        if ((long)rows * numSamples > Array.MaxLength)
            throw new OpArgumentException("multinomial", $"multinomial: {rows} × {numSamples} samples are more than one buffer holds");
        var w = To(DType.Float64).ToArray<double>();
        var gen = generator ?? Generator.Default;
        var o = new long[(long)rows * numSamples];
        for (int r = 0; r < rows; r++)
        {
            var row = w.AsSpan(r * c, c).ToArray();
            if (row.Any(v => !(v >= 0) || double.IsInfinity(v)))
                throw new OpArgumentException("multinomial", $"multinomial: weights must be finite and non-negative (row {r})");
            int nonzero = row.Count(v => v > 0);
            if (nonzero == 0) throw new OpArgumentException("multinomial", $"multinomial: row {r} has no positive weight to draw from");
            if (!replacement && numSamples > nonzero)
                throw new OpArgumentException("multinomial", $"multinomial: {numSamples} samples without replacement from row {r}, which has {nonzero} positive weights");
            for (int k = 0; k < numSamples; k++)
            {
                double total = row.Sum(), u = gen.Uniform(1)[0] * total, acc = 0;
                int pick = -1;
                for (int j = 0; j < c; j++)
                {
                    if (row[j] <= 0) continue;
                    acc += row[j];
                    pick = j;
                    if (u < acc) break;
                }
                o[(long)r * numSamples + k] = pick;
                if (!replacement) row[pick] = 0;
            }
        }
        return FromArray(o, Rank == 1 ? [numSamples] : [rows, numSamples], Device);
    }

    /// <summary>
    /// Normal samples mean + std·ε with ε ~ N(0, 1), broadcast (torch.normal with tensor
    /// parameters; std ≥ 0). Differentiable by reparameterisation, as torch.distributions'
    /// rsample (torch.normal itself passes no gradient).
    /// </summary>
    [Op("normal", OpKind.Composite)]
    public static Tensor Normal(Tensor mean, Tensor std, Generator? generator = null)
    {
        using var _ = OpCall.Enter("normal", mean, std);
        mean.RequireFloat("normal");
        SameDevice("normal", mean, std);
        if (std.Lt(0.0).Any().Item<bool>() || std.IsNan().Any().Item<bool>())
            throw new OpArgumentException("normal", "normal: std must be 0 or more");
        var s = ShapeMath.Broadcast("normal", mean.shape, std.shape);
        return mean + std * Randn(s, mean.DType, generator, mean.Device);
    }

    /// <summary>Uniform samples in [low, high) with tensor bounds, broadcast; differentiable by reparameterisation (low + (high − low)·u).</summary>
    [Op("uniform", OpKind.Composite)]
    public static Tensor Uniform(Tensor low, Tensor high, Generator? generator = null)
    {
        using var _ = OpCall.Enter("uniform", low, high);
        low.RequireFloat("uniform");
        SameDevice("uniform", low, high);
        if (high.Lt(low).Any().Item<bool>())
            throw new OpArgumentException("uniform", "uniform: high must be at least low everywhere");
        if (!low.IsFinite().All().Item<bool>() || !high.IsFinite().All().Item<bool>())
            throw new OpArgumentException("uniform", "uniform: the bounds must be finite");
        var s = ShapeMath.Broadcast("uniform", low.shape, high.shape);
        return low + (high - low) * Rand(s, low.DType, generator, low.Device);
    }

    /// <summary>A random permutation of 0 … n − 1 as int64 (torch.randperm), by Fisher–Yates.</summary>
    [Op("randperm", OpKind.NonDifferentiable)]
    public static Tensor Randperm(int n, Generator? generator = null, Device? device = null)
    {
        using var _ = OpCall.Enter("randperm");
        if (n < 0 || n > Array.MaxLength) throw new OpArgumentException("randperm", $"randperm: n must be in 0 … {Array.MaxLength}, got {n}");
        var gen = generator ?? Generator.Default;
        var p = new long[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)gen.Integers(0, i + 1, 1)[0];
            (p[i], p[j]) = (p[j], p[i]);
        }
        return FromArray(p, [n], device ?? Device.Default);
    }
}
