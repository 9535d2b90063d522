namespace Cotangent;

/// <summary>
/// The functional face of the engine (JAX's and torch.func's): transforms that return
/// gradients instead of accumulating them. They nest to any depth: a transform that runs
/// inside another one's function (or whose pullback is called there) keeps its results
/// differentiable, so grad of grad, Hessians, and inner functions that capture the outer
/// function's variables all give the outer transform its derivative. At the top level the
/// results carry no graph, as torch.autograd.grad without create_graph.
/// </summary>
public static class Autograd
{
    /// <summary>
    /// A scope of anomaly detection (torch.autograd.detect_anomaly): the first op whose output,
    /// or VJP whose gradient, holds a NaN or ±∞ raises <see cref="AnomalyException"/> naming the
    /// op, its inputs' shapes and the stack trace of the forward call. Every op's values are read
    /// to check them, so it is for debugging; off (the default), it costs one counter read per op.
    /// <c>DetectAnomaly(false)</c> turns it off inside an outer scope.
    /// </summary>
    public static IDisposable DetectAnomaly(bool enabled = true) => Anomaly.Set(enabled);

    /// <summary>
    /// Backward from several outputs at once (torch.autograd.backward): adds Σₖ Jₖᵀvₖ to every
    /// leaf's gradient, one sweep over the shared graph. A null seed is allowed for a scalar
    /// output (ones); every output must require grad.
    /// </summary>
    public static void Backward(Tensor[] tensors, Tensor?[]? grads = null, bool retainGraph = false, bool createGraph = false)
    {
        if (tensors is null || tensors.Length == 0 || tensors.Any(t => t is null))
            throw new OpArgumentException("backward", "backward: expects at least one output tensor, and no null");
        if (grads is not null && grads.Length != tensors.Length)
            throw new OpArgumentException("backward", $"backward: {tensors.Length} outputs but {grads.Length} seeds");
        var seeds = new Tensor[tensors.Length];
        for (int i = 0; i < tensors.Length; i++)
        {
            var y = tensors[i];
            if (!y.RequiresGrad)
                throw new InvalidOperationException($"backward: output {i} does not require grad and has no grad_fn");
            var v = grads?[i];
            if (v is null)
            {
                if (y.Numel != 1)
                    throw new InvalidOperationException($"backward: output {i} has shape {ShapeMath.Format(y.ShapeArray)}; a seed can be left out only for a scalar output");
                v = Tensor.Ones(y.ShapeArray, y.DType, y.Device);
            }
            seeds[i] = Tensor.CheckSeed("backward", y, v);
        }
        Engine.Run(tensors, seeds, retainGraph || createGraph, createGraph, wrt: null, accumulate: true);
    }

    /// <summary>A scope in which ops record nothing (torch.no_grad).</summary>
    public static IDisposable NoGrad() => GradMode.Set(false);

    /// <summary>A scope in which ops record again, inside a NoGrad scope (torch.enable_grad).</summary>
    public static IDisposable EnableGrad() => GradMode.Set(true);

    /// <summary>
    /// How many transforms are tracing their function around this code. Above 0, a derivative
    /// computed here may itself be differentiated by an outer transform, so it is recorded.
    /// </summary>
    /// <remarks>
    /// Per async flow, as grad mode is: a transform called from a task its function started
    /// (Task.Run(...).Result inside f) is still inside it, and must keep its graph.
    /// </remarks>
    static readonly AsyncLocal<int> Tracing = new();

    /// <summary>True inside the function of a transform (or a pullback called there).</summary>
    internal static bool IsTracing => Tracing.Value > 0;

    /// <summary>Runs <paramref name="run"/> as a transform's traced function: transforms inside it keep their results differentiable.</summary>
    internal static T Traced<T>(Func<T> run)
    {
        Tracing.Value++;
        try { return run(); }
        finally { Tracing.Value--; }
    }

    /// <summary>
    /// Gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/>
    /// (leaves or intermediates), seeded with <paramref name="gradOutputs"/> (ones for scalars),
    /// without touching any leaf's <c>Grad</c> (torch.autograd.grad). As in PyTorch, an output
    /// that does not require grad is an error, and so is an input the outputs do not depend on,
    /// unless <paramref name="allowUnused"/> (then its gradient is zeros, as torch's
    /// materialize_grads). The results carry a graph only with <paramref name="createGraph"/>.
    /// </summary>
    public static Tensor[] Grad(Tensor[] outputs, Tensor[] inputs, Tensor[]? gradOutputs = null, bool retainGraph = false, bool createGraph = false, bool allowUnused = false)
    {
        NotNull("grad", outputs, "the outputs");
        NotNull("grad", inputs, "the inputs");
        foreach (var y in outputs) NotNull("grad", y, "an output");
        foreach (var x in inputs) NotNull("grad", x, "an input");
        if (gradOutputs is not null && gradOutputs.Length != outputs.Length)
            throw new ArgumentException($"grad: {gradOutputs.Length} seeds for {outputs.Length} outputs");
        var seeds = new Tensor[outputs.Length];
        for (int i = 0; i < outputs.Length; i++)
        {
            var y = outputs[i];
            if (!y.RequiresGrad)
                throw new InvalidOperationException($"grad: output {i} ({ShapeMath.Format(y.Shape)}) does not require grad and has no grad_fn: it was computed under NoGrad, after Detach, or from tensors that do not require grad, so no gradient flows from it");
            if (gradOutputs?[i] is { } v) seeds[i] = Tensor.CheckSeed("grad", y, v);
            else if (y.Numel == 1) seeds[i] = Tensor.OnesLike(y);
            else throw new InvalidOperationException($"grad: output {i} has shape {ShapeMath.Format(y.Shape)}; pass a seed of that shape in gradOutputs");
        }
        for (int i = 0; i < inputs.Length; i++)
            if (!inputs[i].RequiresGrad) throw new InvalidOperationException($"grad: input {i} ({ShapeMath.Format(inputs[i].Shape)}) does not require grad, so no gradient flows to it");
        var g = Engine.Run(outputs, seeds, retainGraph || createGraph, createGraph, inputs, accumulate: false);
        for (int i = 0; i < g.Length; i++)
            if (g[i] is null && !allowUnused)
                throw new InvalidOperationException($"grad: input {i} ({ShapeMath.Format(inputs[i].Shape)}) was not used to compute the outputs, so it has no gradient; pass allowUnused: true to get zeros for it");
        return g.Select((t, i) => t ?? Tensor.ZerosLike(inputs[i])).ToArray();
    }

    /// <summary>Whether the outputs' graph reaches a leaf that requires grad other than <paramref name="own"/> (see VjpCore).</summary>
    internal static bool ReachesOutside(Tensor[] outputs, Tensor[] own) => Engine.ReachesOutside(outputs, own);

    /// <summary>
    /// One retained reverse sweep for diff { }: the gradients of <paramref name="wrt"/> (null
    /// where unreached: the caller decides what that means), and with <paramref name="everyLeaf"/>
    /// also those of every leaf that requires grad the outputs reach (the leaves its plain code
    /// used), from the same sweep. The outputs require grad and the seeds fit them; the caller
    /// checked both.
    /// </summary>
    internal static (Tensor?[] Grads, Dictionary<Tensor, Tensor> Leaves) Pullback(Tensor[] outputs, Tensor[] seeds, Tensor[] wrt, bool createGraph, bool everyLeaf)
    {
        var leaves = new Dictionary<Tensor, Tensor>(ByIdentity.Instance);
        if (!everyLeaf)
            return (Engine.Run(outputs, seeds, retainGraph: true, createGraph, wrt, accumulate: false), leaves);
        // every leaf's gradient comes back anyway: only intermediates need capturing
        var inner = wrt.Where(t => !t.IsLeaf).ToArray();
        var g = Engine.Run(outputs, seeds, retainGraph: true, createGraph, inner.Length == 0 ? null : inner, accumulate: false, leaves);
        var result = new Tensor?[wrt.Length];
        for (int i = 0, k = 0; i < wrt.Length; i++)
            result[i] = wrt[i].IsLeaf ? leaves.GetValueOrDefault(wrt[i]) : g[k++];
        return (result, leaves);
    }

    /// <summary>
    /// Runs f at x and returns f(x) with its pullback v ↦ Jᵀv (jax.vjp). The pullback may be
    /// called many times. Inside another transform, f(x) and the pullback's results are
    /// differentiable, with respect to x, to v, and to whatever f closed over.
    /// </summary>
    public static (Tensor Value, Func<Tensor, Tensor> Pullback) Vjp(Func<Tensor, Tensor> f, Tensor x) => Vjp1("vjp", f, x);

    static (Tensor Value, Func<Tensor, Tensor> Pullback) Vjp1(string op, Func<Tensor, Tensor> f, Tensor x, bool createGraph = false)
    {
        NotNull(op, f, "the function");
        var (y, pb) = VjpCore(op, xs => f(xs[0]), [x], createGraph);
        return (y, v => pb(v)[0]);
    }

    /// <summary>The many-input form of <see cref="Vjp(Func{Tensor, Tensor}, Tensor)"/>: one gradient per input.</summary>
    public static (Tensor Value, Func<Tensor, Tensor[]> Pullback) Vjp(Func<Tensor[], Tensor> f, Tensor[] xs) =>
        VjpCore("vjp", f, xs, createGraph: false);

    /// <summary>A null argument to a transform: an error that names the transform.</summary>
    static void NotNull(string op, object? value, string what)
    {
        if (value is null) throw new ArgumentNullException(what, $"{op}: {what} is null");
    }

    internal static (Tensor, Func<Tensor, Tensor[]>) VjpCore(string op, Func<Tensor[], Tensor> f, Tensor[] xs, bool createGraph)
    {
        NotNull(op, f, "the function");
        NotNull(op, xs, "the inputs");
        foreach (var x in xs)
        {
            NotNull(op, x, "an input");
            x.RequireFloat(op);
        }
        // nested: this transform runs inside another one's function, which may differentiate it
        bool nested = IsTracing && GradMode.IsEnabled;
        Tensor[] inner;
        Tensor y;
        using (GradMode.Set(true))
        {
            // an input that is itself being differentiated stays connected through a new node;
            // any other input becomes a fresh leaf of this transform's own
            inner = xs.Select(x => nested && x.RequiresGrad ? x.Alias() : x.Detach().RequireGrad().AsTransformLeaf()).ToArray();
            y = Traced(() => f(inner));
        }
        if (y is null) throw new InvalidOperationException($"{op}: the function returned null instead of a tensor");
        // f closed over tensors that require grad (a model's parameters, the variable of
        // imperative code around this call): its value and derivative depend on them, and
        // whoever differentiates those must get through this call, so both keep their graph
        bool captures = !nested && GradMode.IsEnabled && y.RequiresGrad && Engine.ReachesOutside([y], inner);
        Tensor[] Pullback(Tensor v)
        {
            v = Tensor.CheckSeed(op, y, v);
            // the result is differentiable when asked for, when an outer transform traces this
            // call, or when f depends on tensors from outside it that require grad
            bool higher = (createGraph || nested || captures || IsTracing) && GradMode.IsEnabled;
            // a function that does not depend on its input (a constant) has a zero derivative
            if (!y.RequiresGrad) return xs.Select(Tensor.ZerosLike).ToArray();
            return Grad([y], inner, [v], retainGraph: true, createGraph: higher, allowUnused: true);
        }
        return (nested || captures ? y : y.Detach(), Pullback);
    }

    /// <summary>
    /// The leaves that require grad and that the outputs depend on through recorded ops
    /// (the AccumulateGrad ends of PyTorch's next_functions), each once.
    /// </summary>
    public static Tensor[] Leaves(params Tensor[] outputs)
    {
        NotNull("leaves", outputs, "the outputs");
        foreach (var y in outputs) NotNull("leaves", y, "an output");
        return Engine.Leaves(outputs);
    }

    /// <summary>∇f(x) for a scalar-valued f (jax.grad).</summary>
    public static Tensor Grad(Func<Tensor, Tensor> f, Tensor x) => ValueAndGrad("grad", f, x).Grad;

    /// <summary>The function x ↦ ∇f(x), for composing (grad of grad).</summary>
    public static Func<Tensor, Tensor> Grad(Func<Tensor, Tensor> f)
    {
        NotNull("grad", f, "the function");
        return x => Grad(f, x);
    }

    /// <summary>f(x) and ∇f(x) from one forward and one backward pass (jax.value_and_grad).</summary>
    public static (Tensor Value, Tensor Grad) ValueAndGrad(Func<Tensor, Tensor> f, Tensor x) => ValueAndGrad("value_and_grad", f, x);

    static (Tensor Value, Tensor Grad) ValueAndGrad(string op, Func<Tensor, Tensor> f, Tensor x)
    {
        var (y, pb) = Vjp1(op, f, x);
        if (y.Numel != 1)
            throw new InvalidOperationException($"{op}: f must return a scalar, but returned shape {ShapeMath.Format(y.Shape)}; use Vjp or Jacobian");
        return (y, pb(Tensor.OnesLike(y)));
    }

    /// <summary>
    /// f(x) and the Jacobian-vector product J·t (jax.jvp), by transposing the pullback: u ↦ Jᵀu
    /// is linear, so its own VJP at t is J·t.
    /// </summary>
    public static (Tensor Value, Tensor Tangent) Jvp(Func<Tensor, Tensor> f, Tensor x, Tensor t)
    {
        NotNull("jvp", f, "the function");
        NotNull("jvp", x, "x");
        NotNull("jvp", t, "the tangent");
        if (!ShapeMath.SameShape(x.Shape, t.Shape))
            throw new ShapeMismatchException("jvp", $"jvp: the tangent has shape {ShapeMath.Format(t.Shape)} but x has shape {ShapeMath.Format(x.Shape)}");
        if (!t.DType.IsFloating())
            throw new DTypeMismatchException("jvp", $"jvp: the tangent is {t.DType.Name()}; tangents are float32 or float64, as x ({x.DType.Name()})");
        var (y, pb) = Vjp1("jvp", f, x, createGraph: true);
        if (!y.DType.IsFloating())
            throw new DTypeMismatchException("jvp", $"jvp: f returned {y.DType.Name()} values, which have no tangent; return a float tensor");
        // y keeps its graph only when nested or when f depends on tensors from outside that
        // require grad (see VjpCore): then J·t must keep it too, to be differentiated through
        bool keep = y.RequiresGrad && GradMode.IsEnabled;
        using (GradMode.Set(true))
        {
            var u = Tensor.ZerosLike(y).RequireGrad();
            var jtu = pb(u);
            // Jᵀu does not depend on u only when J is zero: f is constant near x
            if (!jtu.RequiresGrad) return (y, Tensor.ZerosLike(y));
            var jt = Grad([jtu], [u], [t.To(x.DType)], retainGraph: true, createGraph: keep, allowUnused: true)[0];
            return (y, keep ? jt : jt.Detach());
        }
    }

    /// <summary>The Jacobian of f at x, of shape f(x).Shape ++ x.Shape, one pullback per output element.</summary>
    public static Tensor Jacobian(Func<Tensor, Tensor> f, Tensor x) => Jacobian("jacobian", f, x);

    static Tensor Jacobian(string op, Func<Tensor, Tensor> f, Tensor x)
    {
        var (y, pb) = Vjp1(op, f, x);
        if (!y.DType.IsFloating())
            throw new DTypeMismatchException(op, $"{op}: f returned {y.DType.Name()} values, which have no derivative; return a float tensor");
        int m = y.Numel;
        var rows = new Tensor[m];
        for (int j = 0; j < m; j++)
        {
            var e = new double[m];
            e[j] = 1;
            rows[j] = pb(Tensor.FromArray(e, y.Shape, y.Device).To(y.DType)).Reshape(-1);
        }
        int[] shape = [.. y.Shape, .. x.Shape];
        return m == 0 ? Tensor.Zeros(shape, x.DType, x.Device) : Tensor.Stack(rows).Reshape(shape);
    }

    /// <summary>The Hessian of a scalar f at x: the Jacobian of its gradient, shape x.Shape ++ x.Shape.</summary>
    public static Tensor Hessian(Func<Tensor, Tensor> f, Tensor x)
    {
        NotNull("hessian", f, "the function");
        return Jacobian("hessian", x => ValueAndGrad("hessian", f, x).Grad, x);
    }

    /// <summary>The Hessian-vector product H·v of a scalar f at x, without forming H: the pullback of ∇f at v (H is symmetric).</summary>
    public static Tensor Hvp(Func<Tensor, Tensor> f, Tensor x, Tensor v)
    {
        NotNull("hvp", f, "the function");
        NotNull("hvp", v, "v");
        return Vjp1("hvp", x => ValueAndGrad("hvp", f, x).Grad, x).Pullback(v);
    }
}

/// <summary>
/// User-defined differentiable functions (torch.autograd.Function, jax.custom_vjp): a forward
/// computed without recording and a hand-written VJP rule that the engine calls like any op's.
/// </summary>
public static class CustomOp
{
    /// <summary>
    /// Applies <paramref name="forward"/> to the inputs and records <paramref name="vjp"/> as its
    /// backward function under <paramref name="name"/> (shown by <c>GradFn</c>). The rule gets
    /// (input index, output cotangent, inputs, output) and returns that input's gradient or null.
    /// Write it with Cotangent ops if it must itself be differentiable (createGraph).
    /// </summary>
    public static Tensor Apply(string name, Tensor[] inputs, Func<Tensor[], Tensor> forward, VjpRule vjp)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (inputs is null || inputs.Any(x => x is null)) throw new OpArgumentException(name, $"{name}: the inputs (or one of them) are null");
        if (forward is null || vjp is null) throw new OpArgumentException(name, $"{name}: the forward function and the VJP rule must be given");
        foreach (var x in inputs) Tensor.SameDevice(name, inputs[0], x);
        return Tensor.Fused(name, () => forward(inputs) ?? throw new InvalidOperationException($"{name}: the forward function returned null instead of a tensor"), inputs, vjp);
    }
}

/// <summary>
/// What a <see cref="Function"/> keeps between its forward and backward (torch's ctx): the
/// tensors saved for the backward, and which inputs need a gradient.
/// </summary>
public sealed class FunctionContext
{
    readonly List<Tensor> saved = [];

    internal FunctionContext(bool[] needs) => NeedsInputGrad = needs;

    /// <summary>Keeps tensors for the backward (ctx.save_for_backward).</summary>
    public void SaveForBackward(params Tensor[] tensors)
    {
        if (tensors is null || tensors.Any(t => t is null)) throw new ArgumentException("function: a saved tensor is null");
        saved.AddRange(tensors);
    }

    /// <summary>The tensors saved by the forward, in order (ctx.saved_tensors).</summary>
    public IReadOnlyList<Tensor> SavedTensors => saved;

    /// <summary>For each input, whether its gradient is wanted (ctx.needs_input_grad).</summary>
    public IReadOnlyList<bool> NeedsInputGrad { get; }
}

/// <summary>
/// A custom differentiable op in the style of torch.autograd.Function: override
/// the protected <c>Forward(ctx, inputs)</c> (run without recording; save what the backward needs on the context)
/// and <c>Backward(ctx, gradOutput)</c> (the gradient of every input from the output's cotangent, null
/// for none), then call <see cref="Apply"/>. Backward is called once per cotangent, its results
/// handed to the inputs; write it with Cotangent ops if it must differentiate again.
/// </summary>
public abstract class Function
{
    /// <summary>Subclasses supply <c>Forward</c> and <c>Backward</c>.</summary>
    protected Function() { }

    /// <summary>The forward computation.</summary>
    protected abstract Tensor Forward(FunctionContext ctx, Tensor[] inputs);

    /// <summary>One gradient per input (null where there is none), from the output's cotangent.</summary>
    protected abstract Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput);

    /// <summary>The op's name in GradFn and messages: the class name, lower-cased.</summary>
    protected virtual string Name => GetType().Name.ToLowerInvariant();

    /// <summary>Runs the forward on <paramref name="inputs"/> and records the backward.</summary>
    public Tensor Apply(params Tensor[] inputs)
    {
        string name = Name;
        if (inputs is null || inputs.Any(x => x is null)) throw new OpArgumentException(name, $"{name}: the inputs (or one of them) are null");
        var ctx = new FunctionContext(inputs.Select(x => x.RequiresGrad).ToArray());
        (Tensor Cotangent, Tensor?[] Grads)? last = null;
        VjpRule rule = (i, g, _, _) =>
        {
            if (last is not { } l || !ReferenceEquals(l.Cotangent, g))
            {
                var grads = Backward(ctx, g) ?? throw new InvalidOperationException($"{name}: Backward returned null instead of one gradient per input");
                if (grads.Length != inputs.Length)
                    throw new InvalidOperationException($"{name}: Backward returned {grads.Length} gradients for {inputs.Length} inputs");
                for (int k = 0; k < grads.Length; k++)
                    if (grads[k] is { } gk && !ShapeMath.SameShape(gk.ShapeArray, inputs[k].ShapeArray))
                        throw new InvalidOperationException($"{name}: Backward's gradient {k} has shape {ShapeMath.Format(gk.ShapeArray)}, input {k} has {ShapeMath.Format(inputs[k].ShapeArray)}");
                last = (g, grads);
            }
            return last.Value.Grads[i];
        };
        return CustomOp.Apply(name, inputs, xs => Forward(ctx, xs), rule);
    }
}
