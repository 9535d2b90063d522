using Cotangent.Backends;

namespace Cotangent.Nn;

/// <summary>
/// An optimizer over parameters (torch.optim): <see cref="Step"/> gives each parameter with a
/// gradient new values from its update rule; state (moments, step counts) round-trips through
/// <see cref="StateDict"/> for checkpoints. Each parameter counts its own steps, as PyTorch's
/// state["step"]: a parameter whose first gradient comes late gets its first bias correction
/// then, not the optimizer's.
/// </summary>
/// <remarks>
/// A new optimizer derives from this class and overrides the protected members (which the
/// site's reference does not list): <c>Update(index, value, grad)</c>, the new values of
/// parameter <c>index</c>; <c>Buffers()</c>, its per-parameter state by name for the state dict;
/// optionally <c>UpdateMakesNewTensors</c>; and it reads per-group settings with
/// <c>LearningRateOf(i)</c>, <c>WeightDecayOf(i, fallback)</c> and <c>OptionOf(i, name, fallback)</c>.
/// </remarks>
public abstract class Optimizer
{
    /// <summary>Over the given parameters with a learning rate.</summary>
    protected Optimizer(IEnumerable<Parameter> parameters, double learningRate)
    {
        if (parameters is null) throw new ArgumentNullException(nameof(parameters), "optimizer: the parameters are null");
        Parameters = parameters.ToArray();
        if (Parameters.Count == 0) throw new ArgumentException("optimizer: no parameters to optimize");
        for (int i = 0; i < Parameters.Count; i++)
        {
            if (Parameters[i] is null) throw new ArgumentException($"optimizer: parameter {i} is null");
            for (int j = 0; j < i; j++)
                if (ReferenceEquals(Parameters[i], Parameters[j]))
                    throw new ArgumentException($"optimizer: parameters {j} and {i} are the same parameter; each step would update it twice (a shared layer's parameters are listed once by Module.Parameters())");
        }
        LearningRate = learningRate;
        stepsOf = new long[Parameters.Count];
        Groups = parameters is ParamGroups pg ? pg.Groups : [];
        groupOf = new int[Parameters.Count];
        Array.Fill(groupOf, -1);
        for (int g = 0; g < Groups.Count; g++)
            foreach (var p in Groups[g].Parameters)
                for (int i = 0; i < Parameters.Count; i++)
                    if (ReferenceEquals(Parameters[i], p)) groupOf[i] = g;
    }

    readonly int[] groupOf;

    /// <summary>The parameter groups given (through <see cref="ParamGroups"/>), or none.</summary>
    public IReadOnlyList<ParamGroup> Groups { get; }

    /// <summary>Parameter i's learning rate: its group's, or the optimizer's.</summary>
    protected double LearningRateOf(int i) => groupOf[i] >= 0 && Groups[groupOf[i]].LearningRate is double r ? r : LearningRate;

    /// <summary>Parameter i's weight decay: its group's, or <paramref name="fallback"/> (the optimizer's).</summary>
    protected double WeightDecayOf(int i, double fallback) => groupOf[i] >= 0 && Groups[groupOf[i]].WeightDecay is double w ? w : fallback;

    /// <summary>Parameter i's hyperparameter <paramref name="name"/>: its group's, or <paramref name="fallback"/> (the optimizer's).</summary>
    protected double OptionOf(int i, string name, double fallback) =>
        groupOf[i] >= 0 && Groups[groupOf[i]].Options.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>
    /// Refuses a group option this optimizer has no use for, and checks each known one as the
    /// constructor checks the optimizer's own (<paramref name="known"/>: name and its check).
    /// </summary>
    protected void AcceptOptions(string owner, params (string Name, Func<double, double> Check)[] known)
    {
        for (int g = 0; g < Groups.Count; g++)
            foreach (var (name, value) in Groups[g].Options)
            {
                var check = known.FirstOrDefault(k => k.Name == name).Check;
                if (check is null)
                    throw new ArgumentException(known.Length == 0
                        ? $"{owner}: parameter group {g} sets '{name}', but {owner} takes no group options beyond the learning rate and weight decay"
                        : $"{owner}: parameter group {g} sets '{name}', which is not one of {owner}'s group options ({string.Join(", ", known.Select(k => k.Name))})");
                try { check(value); }
                catch (ArgumentOutOfRangeException e) { throw new ArgumentOutOfRangeException(name, value, $"parameter group {g}: {e.Message.Split(" (Parameter")[0]}"); }
            }
    }

    /// <summary>The parameters, in order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    double learningRate;

    /// <summary>The current learning rate (schedulers change it): a finite number, 0 or more.</summary>
    public double LearningRate
    {
        get => learningRate;
        set => learningRate = Check(GetType().Name.ToLowerInvariant(), "the learning rate", value);
    }

    /// <summary>A hyperparameter that must be a finite number at least <paramref name="min"/>; NaN and ±∞ are refused.</summary>
    private protected static double Check(string owner, string what, double value, double min = 0)
    {
        if (!double.IsFinite(value) || value < min)
            throw new ArgumentOutOfRangeException(what, value, $"{owner}: {what} must be a finite number, {min} or more, got {value}");
        return value;
    }

    /// <summary>Steps taken so far.</summary>
    public long StepCount { get; private set; }

    readonly long[] stepsOf;

    /// <summary>Steps parameter i has taken (it takes one in each step where it has a gradient), counting the one being computed: PyTorch's state["step"].</summary>
    public long StepOf(int i) => i >= 0 && i < stepsOf.Length ? stepsOf[i]
        : throw new ArgumentOutOfRangeException(nameof(i), i, $"optimizer: no parameter {i} (it has {stepsOf.Length})");

    /// <summary>The rate when the first schedule attached (PyTorch's initial_lr): every schedule of this optimizer starts from it.</summary>
    internal double? InitialRate { get; set; }

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>
    /// One update of every parameter that has a gradient, computed without recording. All or
    /// nothing: every new value and state buffer is computed first; if any update fails, the
    /// parameters, the state and the step count are as they were.
    /// </summary>
    public void Step()
    {
        using var _ = Autograd.NoGrad();
        string op = $"{GetType().Name.ToLowerInvariant()}.step";
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            p.Value.CheckAlive(op);
            p.Grad?.CheckAlive(op);
        }
        long before = StepCount;
        var stepsBefore = (long[])stepsOf.Clone();
        var snapshot = Buffers().Select(b => (b.Buffers, Copy: (Tensor?[])b.Buffers.Clone())).ToArray();
        var updates = new Tensor?[Parameters.Count];
        released = [];
        try
        {
            if (StepCount == long.MaxValue) throw new InvalidOperationException($"{op}: the step count {StepCount} cannot grow further");
            StepCount++;
            FollowParameters();
            for (int i = 0; i < Parameters.Count; i++)
            {
                var p = Parameters[i];
                if (p.Grad is not { } g) continue;
                if (stepsOf[i] == long.MaxValue) throw new InvalidOperationException($"{op}: parameter {i}'s step count {stepsOf[i]} cannot grow further");
                stepsOf[i]++;
                var u = Update(i, p.Value.Detach(), g);
                if (!ShapeMath.SameShape(u.ShapeArray, p.Value.ShapeArray) || u.DType != p.Value.DType || u.Device != p.Value.Device)
                    throw new InvalidOperationException($"{op}: the update of parameter {i} is {ShapeMath.Format(u.Shape)} {u.DType.Name()} on {u.Device}, the parameter {ShapeMath.Format(p.Shape)} {p.Value.DType.Name()} on {p.Value.Device}");
                updates[i] = u;
            }
        }
        catch
        {
            StepCount = before;
            Array.Copy(stepsBefore, stepsOf, stepsOf.Length);
            foreach (var (buffers, copy) in snapshot) Array.Copy(copy, buffers, buffers.Length);
            released = null;
            throw;
        }
        for (int i = 0; i < Parameters.Count; i++)
            if (updates[i] is { } u) Parameters[i].Replace(u, made: UpdateMakesNewTensors);
        foreach (var t in released) t.Disown();
        released = null;
    }

    /// <summary>
    /// State buffers follow their parameter to its device: after <c>module.To(device)</c> the
    /// next step moves them (inside the step, so a failure restores the old ones).
    /// </summary>
    void FollowParameters()
    {
        foreach (var (_, buffers) in Buffers())
            for (int i = 0; i < buffers.Length; i++)
                if (buffers[i] is { } b && b.Device != Parameters[i].Value.Device)
                    buffers[i] = Hold(b, b.To(Parameters[i].Value.Device));
    }

    /// <summary>State buffers a step replaced: given back only once the whole step succeeded.</summary>
    List<Tensor>? released;

    /// <summary>
    /// True when <c>Update</c> always returns a tensor it computed in that call and kept
    /// nowhere else. Inside a <see cref="TensorScope"/> a parameter's superseded values are then
    /// recycled at the end of the step that replaced them (reading such an old value afterwards
    /// throws, unless it was kept with <see cref="Tensor.Keep"/>). False by default: values an
    /// update returns are then kept for good, whatever else holds them.
    /// </summary>
    protected virtual bool UpdateMakesNewTensors => false;

    /// <summary>Stores a state buffer the optimizer computed, letting the one it replaces go back to the step's scope.</summary>
    private protected Tensor Hold(Tensor? replaced, Tensor computed)
    {
        if (replaced is not null)
        {
            if (released is not null) released.Add(replaced);
            else replaced.Disown();
        }
        return computed.Retain();
    }

    /// <summary>The new values of parameter i from its values and gradient.</summary>
    protected abstract Tensor Update(int index, Tensor value, Tensor grad);

    /// <summary>The per-parameter buffers, by name (e.g. "exp_avg"), index aligned with <see cref="Parameters"/>.</summary>
    protected abstract IEnumerable<(string Name, Tensor?[] Buffers)> Buffers();

    /// <summary>The state: "step" (the optimizer's steps), and "{i}.step" and "{i}.{buffer}" for each parameter that has stepped.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor> { ["step"] = Tensor.FromArray([StepCount], [1], Device.Cpu) };
        for (int i = 0; i < stepsOf.Length; i++)
            if (stepsOf[i] > 0) d[$"{i}.step"] = Tensor.FromArray([stepsOf[i]], [1], Device.Cpu);
        foreach (var (name, buffers) in Buffers())
            for (int i = 0; i < buffers.Length; i++)
                if (buffers[i] is { } b) d[$"{i}.{name}"] = b;
        return d;
    }

    /// <summary>Restores the state; every entry is checked before anything changes.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        CheckStateDict(state);
        foreach (var t in state.Values) t.CheckAlive("optimizer.load_state_dict");
        foreach (var (name, buffers) in Buffers())
            for (int i = 0; i < buffers.Length; i++)
            {
                buffers[i]?.Disown();
                buffers[i] = state.TryGetValue($"{i}.{name}", out var b) ? b.Detach().Keep() : null;
            }
        StepCount = state["step"].Item<long>();
        // a state written before parameters counted their own steps: one that has buffers took every step
        var stepped = Buffers().SelectMany(b => Enumerable.Range(0, b.Buffers.Length).Where(i => b.Buffers[i] is not null)).ToHashSet();
        for (int i = 0; i < stepsOf.Length; i++)
            stepsOf[i] = state.TryGetValue($"{i}.step", out var own) ? own.Item<long>() : stepped.Contains(i) ? StepCount : 0;
    }

    /// <summary>
    /// Throws <see cref="StateDictMismatchException"/> if <see cref="LoadStateDict"/> would refuse
    /// the state (no step count of one int64 at least 0, a parameter's step count above it, an
    /// entry for no parameter or buffer, a buffer whose shape or dtype is not its parameter's);
    /// changes nothing.
    /// </summary>
    public void CheckStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (state is null) throw new ArgumentNullException(nameof(state), "optimizer.load_state_dict: the state is null");
        var problems = new List<string>();
        foreach (var (key, v) in state)
            if (v is null) problems.Add($"{key} is null");
            else if (v.Storage.IsRecycled) problems.Add($"{key} was recycled by a Tensor.Scope (Keep() it)");
        if (problems.Count > 0)
            throw new StateDictMismatchException("optimizer.load_state_dict", "the state holds tensors that cannot be read", [], [], problems);
        if (!state.TryGetValue("step", out var step) || step.DType != DType.Int64 || step.Numel != 1)
            problems.Add($"'step' must be one int64, got {(step is null ? "none" : StateDictMismatchException.Describe(step))}");
        else if (step.Item<long>() is < 0 or long.MaxValue)
            problems.Add($"'step' is {step.Item<long>()}; a step count is 0 or more, below {long.MaxValue}");
        var known = Buffers().Select(b => b.Name).ToArray();
        var unexpected = new List<string>();
        var present = new Dictionary<int, List<string>>();
        foreach (var (key, v) in state.Where(kv => kv.Key != "step").OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var parts = key.Split('.', 2);
            int i = -1;
            // only the spelling StateDict writes: "+0" or "00" would parse as 0 and then not be found
            bool canonical = parts.Length == 2 && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out i)
                && parts[0] == i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (canonical && i < Parameters.Count && parts[1] == "step")
            {
                if (v.DType != DType.Int64 || v.Numel != 1)
                    problems.Add($"'{key}' must be one int64, got {StateDictMismatchException.Describe(v)}");
                else if (v.Item<long>() is var own && (own < 1 || (step is { DType: DType.Int64, Numel: 1 } && own > step.Item<long>())))
                    problems.Add($"'{key}' is {own}; a parameter's step count is 1 or more and at most the optimizer's 'step'");
            }
            else if (!canonical || i >= Parameters.Count || !known.Contains(parts[1]))
                unexpected.Add($"{key} {StateDictMismatchException.Describe(v)}");
            else if (!ShapeMath.SameShape(v.Shape, Parameters[i].Shape) || v.DType != Parameters[i].Value.DType)
                problems.Add($"{key} is {StateDictMismatchException.Describe(v)} in the state but its parameter is {StateDictMismatchException.Describe(Parameters[i].Value)}");
            else
            {
                if (!present.TryGetValue(i, out var names)) present[i] = names = [];
                names.Add(parts[1]);
            }
        }
        // a parameter's buffers come together: all of them (it was stepped) or none (it was not)
        foreach (var (i, names) in present.OrderBy(p => p.Key))
            if (names.Count != known.Length)
                problems.Add($"parameter {i} has {string.Join(", ", names)} but not {string.Join(", ", known.Except(names))}");
        if (problems.Count > 0 || unexpected.Count > 0)
            throw new StateDictMismatchException("optimizer.load_state_dict",
                $"the state does not fit this {GetType().Name} over {Parameters.Count} parameters (buffers: {string.Join(", ", known)})", [], unexpected, problems);
    }
}

/// <summary>
/// Stochastic gradient descent as torch.optim.SGD: g ← ∇ + λ·p; with momentum μ,
/// b ← μ·b + (1 − dampening)·g (b = g on the first step) and g ← b, or g + μ·b for Nesterov;
/// p ← p − lr·g.
/// </summary>
public sealed class Sgd : Optimizer
{
    readonly double momentum, dampening, weightDecay;
    readonly bool nesterov;
    readonly Tensor?[] velocity;

    /// <summary>SGD with optional momentum, dampening, Nesterov momentum and weight decay.</summary>
    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, learningRate)
    {
        Check("sgd", "momentum", momentum);
        if (!double.IsFinite(dampening)) throw new ArgumentOutOfRangeException(nameof(dampening), dampening, $"sgd: dampening must be a finite number, got {dampening}");
        Check("sgd", "weight decay", weightDecay);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("sgd: Nesterov momentum needs momentum > 0 and no dampening");
        (this.momentum, this.dampening, this.weightDecay, this.nesterov) = (momentum, dampening, weightDecay, nesterov);
        velocity = new Tensor?[Parameters.Count];
        AcceptOptions("sgd", ("momentum", v => Check("sgd", "momentum", v)), ("dampening", v => double.IsFinite(v) ? v : throw new ArgumentOutOfRangeException(nameof(dampening), v, $"sgd: dampening must be a finite number, got {v}")));
        for (int i = 0; i < Parameters.Count; i++)
            if (nesterov && (OptionOf(i, "momentum", momentum) <= 0 || OptionOf(i, "dampening", dampening) != 0))
                throw new ArgumentException($"sgd: Nesterov momentum needs momentum > 0 and no dampening, in every group (parameter {i} has momentum {OptionOf(i, "momentum", momentum)}, dampening {OptionOf(i, "dampening", dampening)})");
    }

    /// <inheritdoc/>
    protected override bool UpdateMakesNewTensors => true;

    /// <inheritdoc/>
    protected override Tensor Update(int i, Tensor p, Tensor g)
    {
        double lr = LearningRateOf(i), decay = WeightDecayOf(i, weightDecay), momentum = OptionOf(i, "momentum", this.momentum), dampening = OptionOf(i, "dampening", this.dampening);
        if (decay == 0 && momentum == 0) return Tensor.AddScaled(p, -lr, g);   // one fused pass
        if (decay != 0) g = g + p * decay;
        if (momentum != 0)
        {
            // the first buffer is the gradient itself, which the accumulator shares: kept, never recycled
            var b = velocity[i] is { } prev ? Hold(prev, prev * momentum + g * (1 - dampening)) : g.Keep();
            velocity[i] = b;
            g = nesterov ? g + b * momentum : b;
        }
        return p - g * lr;
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers() { yield return ("momentum_buffer", velocity); }
}

/// <summary>
/// Adam as torch.optim.Adam: g ← ∇ + λ·p; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// p ← p − lr·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). With <c>decoupled</c> (AdamW) the
/// decay is p ← p·(1 − lr·λ) before the step instead.
/// </summary>
public class Adam : Optimizer
{
    readonly double beta1, beta2, eps, weightDecay;
    readonly bool decoupled;
    readonly Tensor?[] m, v;

    /// <summary>Adam (L2 weight decay added to the gradient).</summary>
    public Adam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(parameters, learningRate, beta1, beta2, eps, weightDecay, decoupled: false) { }

    private protected Adam(IEnumerable<Parameter> parameters, double learningRate, double beta1, double beta2, double eps, double weightDecay, bool decoupled)
        : base(parameters, learningRate)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException("betas", (beta1, beta2), $"adam: betas must be in [0, 1), got ({beta1}, {beta2})");
        Check("adam", "eps", eps);
        Check("adam", "weight decay", weightDecay);
        (this.beta1, this.beta2, this.eps, this.weightDecay, this.decoupled) = (beta1, beta2, eps, weightDecay, decoupled);
        string owner = decoupled ? "adamw" : "adam";
        AcceptOptions(owner, ("beta1", b => Beta(owner, "beta1", b)), ("beta2", b => Beta(owner, "beta2", b)), ("eps", e => Check(owner, "eps", e)));
        m = new Tensor?[Parameters.Count];
        v = new Tensor?[Parameters.Count];
    }

    /// <inheritdoc/>
    protected override bool UpdateMakesNewTensors => true;

    /// <inheritdoc/>
    protected override Tensor Update(int i, Tensor p, Tensor g)
    {
        double b1 = OptionOf(i, "beta1", beta1), b2 = OptionOf(i, "beta2", beta2);
        double c1 = 1 - Math.Pow(b1, StepOf(i)), c2 = 1 - Math.Pow(b2, StepOf(i));
        // one pass over p, g and both moments (the composition took twelve, nine temporaries)
        var (value, mNew, vNew) = Tensor.AdamUpdate(p, g, m[i], v[i], new AdamStep(LearningRateOf(i), b1, b2, OptionOf(i, "eps", eps), WeightDecayOf(i, weightDecay), decoupled, c1, c2));
        m[i] = Hold(m[i], mNew);
        v[i] = Hold(v[i], vNew);
        return value;
    }

    static double Beta(string owner, string what, double b) =>
        b >= 0 && b < 1 ? b : throw new ArgumentOutOfRangeException(what, b, $"{owner}: {what} must be in [0, 1), got {b}");

    /// <inheritdoc/>
    protected override IEnumerable<(string, Tensor?[])> Buffers()
    {
        yield return ("exp_avg", m);
        yield return ("exp_avg_sq", v);
    }
}

/// <summary>AdamW (torch.optim.AdamW): Adam with decoupled weight decay, default λ = 0.01.</summary>
public sealed class AdamW(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    : Adam(parameters, learningRate, beta1, beta2, eps, weightDecay, decoupled: true);

/// <summary>Gradient clipping.</summary>
public static partial class GradClip
{
    /// <summary>
    /// Scales all gradients by max/(total + 1e-6) when their joint 2-norm exceeds
    /// <paramref name="maxNorm"/> (torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        if (parameters is null) throw new ArgumentNullException(nameof(parameters), "clip_grad_norm: the parameters are null");
        if (!(maxNorm >= 0) || double.IsInfinity(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"clip_grad_norm: the maximum norm must be a finite number, 0 or more, got {maxNorm}");
        var all = parameters.ToArray();
        if (all.Any(p => p is null)) throw new ArgumentException("clip_grad_norm: a parameter is null", nameof(parameters));
        var ps = all.Where(p => p.Grad is not null).ToArray();
        using var _ = Autograd.NoGrad();
        // each ‖g‖² summed in its own dtype on its own device, the sums added in float64 and read once (not once per parameter)
        Tensor? squares = null;
        foreach (var p in ps)
        {
            var g = p.Grad!;
            var s = (g * g).Sum().To(DType.Float64);
            squares = squares is null ? s : squares + (s.Device == squares.Device ? s : s.To(squares.Device));
        }
        double total = squares is null ? 0 : Math.Sqrt(squares.Item<double>());
        if (total > maxNorm)
        {
            double scale = maxNorm / (total + 1e-6);
            foreach (var p in ps) p.SetGrad(p.Grad! * scale);
        }
        return total;
    }
}

public static partial class GradClip
{
    /// <summary>Clamps every gradient element into [−clip, clip] (torch.nn.utils.clip_grad_value_).</summary>
    public static void ClipGradValue(IEnumerable<Parameter> parameters, double clip)
    {
        if (parameters is null) throw new ArgumentNullException(nameof(parameters), "clip_grad_value: the parameters are null");
        if (!(clip >= 0) || double.IsInfinity(clip))
            throw new ArgumentOutOfRangeException(nameof(clip), clip, $"clip_grad_value: the clip value must be a finite number, 0 or more, got {clip}");
        var all = parameters.ToArray();
        if (all.Any(p => p is null)) throw new ArgumentException("clip_grad_value: a parameter is null", nameof(parameters));
        using var _ = Autograd.NoGrad();
        var clipped = all.Select(p => p.Grad?.Clamp(-clip, clip)).ToArray();   // all computed before any is set
        for (int i = 0; i < all.Length; i++)
            if (clipped[i] is { } g) all[i].SetGrad(g);
    }
}

/// <summary>A learning-rate schedule: call <see cref="Step"/> once per epoch, after the optimizer's steps.</summary>
public abstract class LrScheduler
{
    readonly Optimizer optimizer;
    readonly double baseRate;

    /// <summary>A schedule of <paramref name="optimizer"/>'s learning rate, starting from its current rate.</summary>
    protected LrScheduler(Optimizer optimizer)
    {
        if (optimizer is null) throw new ArgumentNullException(nameof(optimizer), "lr_scheduler: the optimizer is null");
        (this.optimizer, baseRate) = (optimizer, optimizer.InitialRate ??= optimizer.LearningRate);
        foreach (var g in optimizer.Groups)
            if (g.LearningRate is double r) g.InitialRate ??= r;
    }

    /// <summary>Epochs completed.</summary>
    public int Epoch { get; private set; }

    /// <summary>The optimizer whose rate this schedules.</summary>
    internal Optimizer Target => optimizer;

    /// <summary>The rate the schedule started from.</summary>
    internal double BaseRate => baseRate;

    /// <summary>Advances one epoch and sets the optimizer's learning rates (its own and each group's); a rate that is not a finite number 0 or more is refused and nothing changes.</summary>
    public void Step()
    {
        SetRates(Epoch + 1);
        Epoch++;
    }

    /// <summary>The rates of <paramref name="epoch"/>, for the optimizer and each group with a rate of its own (from its initial rate), all checked before any is set.</summary>
    private protected void SetRates(int epoch)
    {
        string owner = GetType().Name.ToLowerInvariant();
        double Checked(double rate) => double.IsFinite(rate) && rate >= 0 ? rate
            : throw new InvalidOperationException($"{owner}: the learning rate for epoch {epoch} would be {rate}; its parameters make no usable schedule");
        double main = Checked(RateAt(baseRate, epoch));
        var groups = optimizer.Groups.Select(g => g.LearningRate is double r ? Checked(RateAt(g.InitialRate ?? r, epoch)) : (double?)null).ToArray();
        optimizer.LearningRate = main;
        for (int i = 0; i < groups.Length; i++)
            if (groups[i] is double r) optimizer.Groups[i].LearningRate = r;
    }

    /// <summary>A period of a schedule: 1 or more epochs.</summary>
    private protected static int Epochs(string owner, string what, int value) =>
        value >= 1 ? value : throw new ArgumentOutOfRangeException(what, value, $"{owner}: {what} must be 1 or more epochs, got {value}");

    /// <summary>A factor or rate of a schedule: a finite number, 0 or more.</summary>
    private protected static double Rate(string owner, string what, double value) =>
        double.IsFinite(value) && value >= 0 ? value : throw new ArgumentOutOfRangeException(what, value, $"{owner}: {what} must be a finite number, 0 or more, got {value}");

    /// <summary>The rate after <paramref name="epoch"/> epochs, in closed form.</summary>
    protected internal abstract double RateAt(double baseRate, int epoch);
}

/// <summary>lr = base·γ^⌊epoch/stepSize⌋ (torch.optim.lr_scheduler.StepLR); stepSize ≥ 1, γ a finite number ≥ 0.</summary>
public sealed class StepLr : LrScheduler
{
    readonly int stepSize;
    readonly double gamma;

    /// <summary>Multiplies the rate by <paramref name="gamma"/> every <paramref name="stepSize"/> epochs.</summary>
    public StepLr(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        (this.stepSize, this.gamma) = (Epochs("step_lr", "the step size", stepSize), Rate("step_lr", "gamma", gamma));
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch) => b * Math.Pow(gamma, epoch / stepSize);
}

/// <summary>
/// lr = η_min + (base − η_min)(1 + cos(π·epoch/T))/2 (torch.optim.lr_scheduler.CosineAnnealingLR,
/// closed form); T ≥ 1 epochs, η_min a finite number ≥ 0.
/// </summary>
public sealed class CosineAnnealingLr : LrScheduler
{
    readonly int tMax;
    readonly double etaMin;

    /// <summary>Anneals from the optimizer's rate to <paramref name="etaMin"/> over <paramref name="tMax"/> epochs.</summary>
    public CosineAnnealingLr(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        (this.tMax, this.etaMin) = (Epochs("cosine_annealing_lr", "T_max", tMax), Rate("cosine_annealing_lr", "the minimum rate", etaMin));
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch) => etaMin + (b - etaMin) * (1 + Math.Cos(Math.PI * epoch / tMax)) / 2;
}
