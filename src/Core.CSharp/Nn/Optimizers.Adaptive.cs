namespace Cotangent.Nn;

/// <summary>
/// The rest of torch.optim's first-order optimizers, each its documented algorithm written as
/// tensor ops (one composition a parameter; Adam and AdamW keep their fused kernel). The step
/// t is the parameter's step count (<see cref="Optimizer.StepOf"/>); state buffers start as zeros, as in PyTorch.
/// </summary>
public abstract class ComposedOptimizer : Optimizer
{
    private protected ComposedOptimizer(IEnumerable<Parameter> parameters, double learningRate, double weightDecay, string owner)
        : base(parameters, learningRate)
    {
        WeightDecay = Check(owner, "weight decay", weightDecay);
    }

    /// <summary>L2 weight decay λ, added to the gradient (g ← g + λ·p) before the update.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override bool UpdateMakesNewTensors => true;

    /// <summary>A state buffer's value, zeros (like the parameter) before the first step.</summary>
    private protected static Tensor Or0(Tensor? b, Tensor like) => b ?? Tensor.ZerosLike(like);

    /// <summary>A coefficient in [0, 1).</summary>
    private protected static double Fraction(string owner, string what, double value) =>
        value >= 0 && value < 1 ? value : throw new ArgumentOutOfRangeException(what, value, $"{owner}: {what} must be in [0, 1), got {value}");

    /// <inheritdoc/>
    protected sealed override Tensor Update(int index, Tensor value, Tensor grad)
    {
        double decay = WeightDecayOf(index, WeightDecay);
        return Apply(index, value, decay == 0 ? grad : grad + value * decay);
    }

    /// <summary>The new values of parameter i from its values and its gradient with the decay already added.</summary>
    private protected abstract Tensor Apply(int index, Tensor p, Tensor g);

    /// <summary>Group options beta1, beta2 and eps (the Adam family's), and any <paramref name="more"/>.</summary>
    private protected void AcceptBetas(string owner, params (string Name, Func<double, double> Check)[] more) =>
        AcceptOptions(owner, [("beta1", b => Fraction(owner, "beta1", b)), ("beta2", b => Fraction(owner, "beta2", b)), ("eps", e => Check(owner, "eps", e)), .. more]);
}

/// <summary>
/// RMSprop as torch.optim.RMSprop: v ← αv + (1 − α)g²; centered: ḡ ← αḡ + (1 − α)g, v̂ = v − ḡ²;
/// with momentum μ, b ← μb + g/(√v̂ + ε), p ← p − lr·b; else p ← p − lr·g/(√v̂ + ε).
/// </summary>
public sealed class RmsProp : ComposedOptimizer
{
    readonly double alpha, eps, momentum;
    readonly bool centered;
    readonly Tensor?[] square, mean, buffer;

    /// <summary>RMSprop with PyTorch's defaults.</summary>
    public RmsProp(IEnumerable<Parameter> parameters, double learningRate = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(parameters, learningRate, weightDecay, "rmsprop")
    {
        (this.alpha, this.eps, this.momentum, this.centered) = (Fraction("rmsprop", "alpha", alpha), Check("rmsprop", "eps", eps), Check("rmsprop", "momentum", momentum), centered);
        (square, mean, buffer) = (new Tensor?[Parameters.Count], new Tensor?[Parameters.Count], new Tensor?[Parameters.Count]);
        // momentum and centered decide which buffers exist, so they are the optimizer's alone
        AcceptOptions("rmsprop", ("alpha", a => Fraction("rmsprop", "alpha", a)), ("eps", e => Check("rmsprop", "eps", e)));
    }

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double alpha = OptionOf(i, "alpha", this.alpha), eps = OptionOf(i, "eps", this.eps);
        var v = square[i] = Hold(square[i], Or0(square[i], p) * alpha + g * g * (1 - alpha));
        var denominator = v;
        if (centered)
        {
            var m = mean[i] = Hold(mean[i], Or0(mean[i], p) * alpha + g * (1 - alpha));
            denominator = v - m * m;
        }
        var step = g / (denominator.Sqrt() + eps);
        if (momentum > 0) step = buffer[i] = Hold(buffer[i], Or0(buffer[i], p) * momentum + step);
        return p - step * LearningRateOf(i);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("square_avg", square);
        if (centered) yield return ("grad_avg", mean);
        if (momentum > 0) yield return ("momentum_buffer", buffer);
    }
}

/// <summary>
/// Adagrad as torch.optim.Adagrad: lr_t = lr/(1 + (t − 1)·decay); s ← s + g² (s starts at
/// <c>initialAccumulatorValue</c>); p ← p − lr_t·g/(√s + ε).
/// </summary>
public sealed class Adagrad : ComposedOptimizer
{
    readonly double lrDecay, initial, eps;
    readonly Tensor?[] sum;

    /// <summary>Adagrad with PyTorch's defaults.</summary>
    public Adagrad(IEnumerable<Parameter> parameters, double learningRate = 1e-2, double lrDecay = 0, double weightDecay = 0, double initialAccumulatorValue = 0, double eps = 1e-10)
        : base(parameters, learningRate, weightDecay, "adagrad")
    {
        (this.lrDecay, initial, this.eps) = (Check("adagrad", "lr decay", lrDecay), Check("adagrad", "the initial accumulator value", initialAccumulatorValue), Check("adagrad", "eps", eps));
        sum = new Tensor?[Parameters.Count];
        AcceptOptions("adagrad", ("lr_decay", d => Check("adagrad", "lr decay", d)),
            ("initial_accumulator_value", a => Check("adagrad", "the initial accumulator value", a)), ("eps", e => Check("adagrad", "eps", e)));
    }

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double lrDecay = OptionOf(i, "lr_decay", this.lrDecay), initial = OptionOf(i, "initial_accumulator_value", this.initial), eps = OptionOf(i, "eps", this.eps);
        double rate = LearningRateOf(i) / (1 + (StepOf(i) - 1) * lrDecay);
        var s = sum[i] = Hold(sum[i], (sum[i] ?? Tensor.Full(p.Shape, initial, p.DType, p.Device)) + g * g);
        return p - g / (s.Sqrt() + eps) * rate;
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers() { yield return ("sum", sum); }
}

/// <summary>
/// Adadelta as torch.optim.Adadelta: v ← ρv + (1 − ρ)g²; Δ = √(u + ε)/√(v + ε)·g;
/// u ← ρu + (1 − ρ)Δ²; p ← p − lr·Δ.
/// </summary>
public sealed class Adadelta : ComposedOptimizer
{
    readonly double rho, eps;
    readonly Tensor?[] square, delta;

    /// <summary>Adadelta with PyTorch's defaults (lr 1).</summary>
    public Adadelta(IEnumerable<Parameter> parameters, double learningRate = 1.0, double rho = 0.9, double eps = 1e-6, double weightDecay = 0)
        : base(parameters, learningRate, weightDecay, "adadelta")
    {
        (this.rho, this.eps) = (Fraction("adadelta", "rho", rho), Check("adadelta", "eps", eps));
        (square, delta) = (new Tensor?[Parameters.Count], new Tensor?[Parameters.Count]);
        AcceptOptions("adadelta", ("rho", r => Fraction("adadelta", "rho", r)), ("eps", e => Check("adadelta", "eps", e)));
    }

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double rho = OptionOf(i, "rho", this.rho), eps = OptionOf(i, "eps", this.eps);
        var v = square[i] = Hold(square[i], Or0(square[i], p) * rho + g * g * (1 - rho));
        var u = Or0(delta[i], p);
        var d = (u + eps).Sqrt() / (v + eps).Sqrt() * g;
        delta[i] = Hold(delta[i], u * rho + d * d * (1 - rho));
        return p - d * LearningRateOf(i);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("square_avg", square);
        yield return ("acc_delta", delta);
    }
}

/// <summary>
/// Adamax as torch.optim.Adamax: m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε);
/// p ← p − lr·m/((1 − β₁ᵗ)·u).
/// </summary>
public sealed class Adamax : ComposedOptimizer
{
    readonly double beta1, beta2, eps;
    readonly Tensor?[] m, u;

    /// <summary>Adamax with PyTorch's defaults.</summary>
    public Adamax(IEnumerable<Parameter> parameters, double learningRate = 2e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, learningRate, weightDecay, "adamax")
    {
        (this.beta1, this.beta2, this.eps) = (Fraction("adamax", "beta1", beta1), Fraction("adamax", "beta2", beta2), Check("adamax", "eps", eps));
        (m, u) = (new Tensor?[Parameters.Count], new Tensor?[Parameters.Count]);
        AcceptBetas("adamax");
    }

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double beta1 = OptionOf(i, "beta1", this.beta1), beta2 = OptionOf(i, "beta2", this.beta2), eps = OptionOf(i, "eps", this.eps);
        var mi = m[i] = Hold(m[i], Or0(m[i], p) * beta1 + g * (1 - beta1));
        var ui = u[i] = Hold(u[i], Tensor.Maximum(Or0(u[i], p) * beta2, g.Abs() + eps));
        return p - mi / ui * (LearningRateOf(i) / (1 - Math.Pow(beta1, StepOf(i))));
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("exp_avg", m);
        yield return ("exp_inf", u);
    }
}

/// <summary>
/// NAdam as torch.optim.NAdam: μ_t = β₁(1 − ½·0.96^(tψ)); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// m̂ = μ_{t+1}m/(1 − ∏_{i≤t+1} μ_i) + (1 − μ_t)g/(1 − ∏_{i≤t} μ_i); p ← p − lr·m̂/(√(v/(1 − β₂ᵗ)) + ε).
/// </summary>
public sealed class NAdam : ComposedOptimizer
{
    readonly double beta1, beta2, eps, momentumDecay;
    readonly Tensor?[] m, v;

    /// <summary>NAdam with PyTorch's defaults.</summary>
    public NAdam(IEnumerable<Parameter> parameters, double learningRate = 2e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0, double momentumDecay = 4e-3)
        : base(parameters, learningRate, weightDecay, "nadam")
    {
        (this.beta1, this.beta2, this.eps, this.momentumDecay) = (Fraction("nadam", "beta1", beta1), Fraction("nadam", "beta2", beta2), Check("nadam", "eps", eps), Check("nadam", "momentum decay", momentumDecay));
        (m, v) = (new Tensor?[Parameters.Count], new Tensor?[Parameters.Count]);
        AcceptBetas("nadam", ("momentum_decay", d => Check("nadam", "momentum decay", d)));
    }

    static double Mu(double beta1, double decay, long t) => beta1 * (1 - 0.5 * Math.Pow(0.96, t * decay));

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double beta1 = OptionOf(i, "beta1", this.beta1), beta2 = OptionOf(i, "beta2", this.beta2), eps = OptionOf(i, "eps", this.eps);
        double decay = OptionOf(i, "momentum_decay", momentumDecay);
        long t = StepOf(i);
        double product = 1;
        // Π μ_k: past 1e-17, 1 − product is 1 in float64 whatever the later factors (each < 1) do,
        // so the loop stops there instead of running over every past step (t may be huge)
        for (long k = 1; k <= t && product >= 1e-17; k++) product *= Mu(beta1, decay, k);
        double mu = Mu(beta1, decay, t), next = Mu(beta1, decay, t + 1);
        var mi = m[i] = Hold(m[i], Or0(m[i], p) * beta1 + g * (1 - beta1));
        var vi = v[i] = Hold(v[i], Or0(v[i], p) * beta2 + g * g * (1 - beta2));
        var mHat = mi * (next / (1 - product * next)) + g * ((1 - mu) / (1 - product));
        var denominator = (vi / (1 - Math.Pow(beta2, t))).Sqrt() + eps;
        return p - mHat / denominator * LearningRateOf(i);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("exp_avg", m);
        yield return ("exp_avg_sq", v);
    }
}

/// <summary>
/// RAdam as torch.optim.RAdam: Adam's moments, m̂ = m/(1 − β₁ᵗ), ρ∞ = 2/(1 − β₂) − 1,
/// ρ_t = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ); when ρ_t &gt; 5 the step is rectified,
/// p ← p − lr·m̂·r·√(1 − β₂ᵗ)/(√v + ε) with r = √((ρ_t − 4)(ρ_t − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_t)); else p ← p − lr·m̂.
/// </summary>
public sealed class RAdam : ComposedOptimizer
{
    readonly double beta1, beta2, eps;
    readonly Tensor?[] m, v;

    /// <summary>RAdam with PyTorch's defaults.</summary>
    public RAdam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, learningRate, weightDecay, "radam")
    {
        (this.beta1, this.beta2, this.eps) = (Fraction("radam", "beta1", beta1), Fraction("radam", "beta2", beta2), Check("radam", "eps", eps));
        (m, v) = (new Tensor?[Parameters.Count], new Tensor?[Parameters.Count]);
        AcceptBetas("radam");
    }

    private protected override Tensor Apply(int i, Tensor p, Tensor g)
    {
        double beta1 = OptionOf(i, "beta1", this.beta1), beta2 = OptionOf(i, "beta2", this.beta2), eps = OptionOf(i, "eps", this.eps);
        long t = StepOf(i);
        var mi = m[i] = Hold(m[i], Or0(m[i], p) * beta1 + g * (1 - beta1));
        var vi = v[i] = Hold(v[i], Or0(v[i], p) * beta2 + g * g * (1 - beta2));
        var mHat = mi / (1 - Math.Pow(beta1, t));
        double b2t = Math.Pow(beta2, t), rhoInf = 2 / (1 - beta2) - 1, rho = rhoInf - 2 * t * b2t / (1 - b2t);
        if (rho <= 5) return p - mHat * LearningRateOf(i);
        double r = Math.Sqrt((rho - 4) * (rho - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rho));
        return p - mHat * (LearningRateOf(i) * r * Math.Sqrt(1 - b2t)) / (vi.Sqrt() + eps);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("exp_avg", m);
        yield return ("exp_avg_sq", v);
    }
}

/// <summary>
/// L-BFGS as torch.optim.LBFGS without a line search: each <see cref="Step(Func{Tensor})"/>
/// runs up to <c>maxIter</c> iterations of the two-loop recursion over the last
/// <c>historySize</c> curvature pairs, re-evaluating the loss through the closure (which must
/// clear the gradients, compute the loss, call Backward and return it). The first iteration's
/// step is min(1, 1/‖g‖₁)·lr, later ones lr; it stops early on PyTorch's tolerances. The
/// history is kept between steps (not in the state dict). Work is done in float64 on the host.
/// </summary>
public sealed class LBFGS : Optimizer
{
    readonly int maxIter, maxEval, historySize;
    readonly double toleranceGrad, toleranceChange;
    readonly List<double[]> dirs = [], steps = [];
    readonly List<double> rho = [];
    double[]? d, prevGrad;
    double t, hDiag = 1;
    long iterations;

    /// <summary>L-BFGS with PyTorch's defaults (lr 1, 20 iterations a step, history 100).</summary>
    public LBFGS(IEnumerable<Parameter> parameters, double learningRate = 1, int maxIter = 20, int? maxEval = null, double toleranceGrad = 1e-7, double toleranceChange = 1e-9, int historySize = 100)
        : base(parameters, learningRate)
    {
        if (maxIter < 1 || historySize < 1) throw new ArgumentOutOfRangeException(nameof(maxIter), $"lbfgs: max_iter ({maxIter}) and history_size ({historySize}) must be 1 or more");
        if (maxEval is int e && e < 1) throw new ArgumentOutOfRangeException(nameof(maxEval), e, $"lbfgs: max_eval must be 1 or more, got {e}");
        (this.maxIter, this.maxEval, this.historySize) = (maxIter, maxEval ?? (int)Math.Min(int.MaxValue, maxIter * 5L / 4), historySize);
        (this.toleranceGrad, this.toleranceChange) = (Check("lbfgs", "tolerance_grad", toleranceGrad), Check("lbfgs", "tolerance_change", toleranceChange));
        if (Groups.Any(g => g.LearningRate is not null || g.WeightDecay is not null || g.Options.Count > 0))
            throw new ArgumentException("lbfgs: one flat parameter vector, so no per-group options (as PyTorch's LBFGS, which takes one group)");
    }

    /// <summary>Loss evaluations over all steps (PyTorch's func_evals).</summary>
    public long FunctionEvaluations { get; private set; }

    /// <summary>Refused: L-BFGS re-evaluates the loss, so it needs <see cref="Step(Func{Tensor})"/>.</summary>
    protected override Tensor Update(int index, Tensor value, Tensor grad) =>
        throw new InvalidOperationException("lbfgs: needs a closure that re-evaluates the loss; call Step(closure)");

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers() { yield break; }

    double[] FlatGrad()
    {
        var parts = new List<double>();
        foreach (var p in Parameters)
            parts.AddRange(p.Grad is { } g ? g.To(DType.Float64).ToArray<double>() : new double[p.Value.Numel]);
        return [.. parts];
    }

    void AddToParameters(double scale, double[] dir)
    {
        using var _ = Autograd.NoGrad();
        int at = 0;
        foreach (var p in Parameters)
        {
            int n = p.Value.Numel;
            var v = p.Value.To(DType.Float64).ToArray<double>();
            for (int i = 0; i < n; i++) v[i] += scale * dir[at + i];
            at += n;
            p.Assign(Tensor.FromArray(v, p.Value.Shape, p.Value.Device).To(p.Value.DType));
        }
    }

    static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>One optimisation step; returns the loss the closure gave first.</summary>
    public Tensor Step(Func<Tensor> closure)
    {
        if (closure is null) throw new ArgumentNullException(nameof(closure), "lbfgs: the closure is null");
        Tensor Evaluate()
        {
            var l = closure() ?? throw new InvalidOperationException("lbfgs: the closure returned null instead of the loss");
            if (l.Numel != 1) throw new InvalidOperationException($"lbfgs: the closure must return the scalar loss, got shape {ShapeMath.Format(l.ShapeArray)}");
            FunctionEvaluations++;
            return l;
        }
        var first = Evaluate();
        double loss = first.Item<double>();
        int evals = 1;
        var g = FlatGrad();
        if (g.Length == 0 || g.Max(Math.Abs) <= toleranceGrad) return first;
        for (int n = 1; n <= maxIter; n++)
        {
            iterations++;
            if (iterations == 1)
            {
                d = g.Select(v => -v).ToArray();
                hDiag = 1;
            }
            else
            {
                var y = g.Select((v, i) => v - prevGrad![i]).ToArray();
                var s = d!.Select(v => v * t).ToArray();
                double ys = Dot(y, s);
                if (ys > 1e-10)
                {
                    if (dirs.Count == historySize) { dirs.RemoveAt(0); steps.RemoveAt(0); rho.RemoveAt(0); }
                    dirs.Add(y);
                    steps.Add(s);
                    rho.Add(1 / ys);
                    hDiag = ys / Dot(y, y);
                }
                var q = g.Select(v => -v).ToArray();
                var al = new double[dirs.Count];
                for (int i = dirs.Count - 1; i >= 0; i--)
                {
                    al[i] = Dot(steps[i], q) * rho[i];
                    for (int j = 0; j < q.Length; j++) q[j] -= al[i] * dirs[i][j];
                }
                for (int j = 0; j < q.Length; j++) q[j] *= hDiag;
                for (int i = 0; i < dirs.Count; i++)
                {
                    double be = Dot(dirs[i], q) * rho[i];
                    for (int j = 0; j < q.Length; j++) q[j] += (al[i] - be) * steps[i][j];
                }
                d = q;
            }
            prevGrad = (double[])g.Clone();
            double prevLoss = loss;
            t = iterations == 1 ? Math.Min(1, 1 / g.Sum(Math.Abs)) * LearningRate : LearningRate;
            double gtd = Dot(g, d!);
            if (gtd > -toleranceChange) break;
            AddToParameters(t, d!);
            bool optimal = false;
            if (n != maxIter)
            {
                loss = Evaluate().Item<double>();
                if (!double.IsFinite(loss))
                {
                    AddToParameters(-t, d!);   // back to the last point with a finite loss
                    throw new InvalidOperationException($"lbfgs: the loss became {loss} after a step of {t}; the parameters are back where that step began (a smaller learning rate may help)");
                }
                g = FlatGrad();
                optimal = g.Max(Math.Abs) <= toleranceGrad;
                evals++;
            }
            if (n == maxIter || evals >= maxEval || optimal) break;
            if (d!.Max(v => Math.Abs(v * t)) <= toleranceChange || Math.Abs(loss - prevLoss) < toleranceChange) break;
        }
        return first;
    }
}
