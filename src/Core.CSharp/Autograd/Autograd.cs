namespace Cotangent;

/// <summary>
/// The functional face of the engine (JAX's and torch.func's): transforms that return
/// gradients instead of accumulating them. They nest: inside an outer transform the inner
/// one records its own backward pass, so grad of grad and Hessian-vector products work.
/// </summary>
public static class Autograd
{
    /// <summary>A scope in which ops record nothing (torch.no_grad).</summary>
    public static IDisposable NoGrad() => GradMode.Set(false);

    /// <summary>A scope in which ops record again, inside a NoGrad scope (torch.enable_grad).</summary>
    public static IDisposable EnableGrad() => GradMode.Set(true);

    /// <summary>
    /// Gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/>
    /// (leaves or intermediates), seeded with <paramref name="gradOutputs"/> (ones for scalars),
    /// without touching any leaf's <c>Grad</c> (torch.autograd.grad). An input the outputs do
    /// not depend on gets zeros.
    /// </summary>
    public static Tensor[] Grad(Tensor[] outputs, Tensor[] inputs, Tensor[]? gradOutputs = null, bool retainGraph = false, bool createGraph = false)
    {
        if (gradOutputs is not null && gradOutputs.Length != outputs.Length)
            throw new ArgumentException($"grad: {gradOutputs.Length} seeds for {outputs.Length} outputs");
        var seeds = new Tensor[outputs.Length];
        for (int i = 0; i < outputs.Length; i++)
        {
            var y = outputs[i];
            if (gradOutputs?[i] is { } v) { Tensor.CheckSeed("grad", y, v); seeds[i] = v; }
            else if (y.Numel == 1) seeds[i] = Tensor.OnesLike(y);
            else throw new InvalidOperationException($"grad: output {i} has shape {ShapeMath.Format(y.Shape)}; pass a seed of that shape in gradOutputs");
        }
        foreach (var x in inputs)
            if (!x.RequiresGrad) throw new InvalidOperationException($"grad: an input of shape {ShapeMath.Format(x.Shape)} does not require grad, so no gradient flows to it");
        var live = outputs.Select((y, i) => (y, s: seeds[i])).Where(p => p.y.RequiresGrad).ToArray();
        var g = Engine.Run(live.Select(p => p.y).ToArray(), live.Select(p => p.s).ToArray(), retainGraph || createGraph, createGraph, inputs, accumulate: false);
        return g.Select((t, i) => t ?? Tensor.ZerosLike(inputs[i])).ToArray();
    }

    /// <summary>
    /// Runs f at x and returns f(x) with its pullback v ↦ Jᵀv (jax.vjp). The pullback may be
    /// called many times. When x itself is being differentiated by an outer transform, the
    /// pullback's results are differentiable too.
    /// </summary>
    public static (Tensor Value, Func<Tensor, Tensor> Pullback) Vjp(Func<Tensor, Tensor> f, Tensor x)
    {
        var (y, pb) = Vjp(xs => f(xs[0]), [x]);
        return (y, v => pb(v)[0]);
    }

    /// <summary>The many-input form of <see cref="Vjp(Func{Tensor, Tensor}, Tensor)"/>: one gradient per input.</summary>
    public static (Tensor Value, Func<Tensor, Tensor[]> Pullback) Vjp(Func<Tensor[], Tensor> f, Tensor[] xs) =>
        VjpCore(f, xs, createGraph: false);

    internal static (Tensor, Func<Tensor, Tensor[]>) VjpCore(Func<Tensor[], Tensor> f, Tensor[] xs, bool createGraph)
    {
        bool nested = GradMode.IsEnabled && xs.Any(x => x.RequiresGrad);
        foreach (var x in xs) x.RequireFloat("vjp");
        Tensor[] inner;
        Tensor y;
        using (GradMode.Set(true))
        {
            inner = xs.Select(x => x.RequiresGrad ? x.Alias() : x.Detach().RequireGrad()).ToArray();
            y = f(inner);
        }
        bool higher = nested || createGraph;
        Tensor[] Pullback(Tensor v)
        {
            Tensor.CheckSeed("vjp", y, v);
            if (!y.RequiresGrad) return xs.Select(Tensor.ZerosLike).ToArray();
            using (GradMode.Set(higher || GradMode.IsEnabled))
                return Grad([y], inner, [v], retainGraph: true, createGraph: higher);
        }
        return (nested ? y : y.Detach(), Pullback);
    }

    /// <summary>
    /// The leaves that require grad and that the outputs depend on through recorded ops
    /// (the AccumulateGrad ends of PyTorch's next_functions), each once.
    /// </summary>
    public static Tensor[] Leaves(params Tensor[] outputs) => Engine.Leaves(outputs);

    /// <summary>∇f(x) for a scalar-valued f (jax.grad).</summary>
    public static Tensor Grad(Func<Tensor, Tensor> f, Tensor x) => ValueAndGrad(f, x).Grad;

    /// <summary>The function x ↦ ∇f(x), for composing (grad of grad).</summary>
    public static Func<Tensor, Tensor> Grad(Func<Tensor, Tensor> f) => x => Grad(f, x);

    /// <summary>f(x) and ∇f(x) from one forward and one backward pass (jax.value_and_grad).</summary>
    public static (Tensor Value, Tensor Grad) ValueAndGrad(Func<Tensor, Tensor> f, Tensor x)
    {
        var (y, pb) = Vjp(f, x);
        if (y.Numel != 1)
            throw new InvalidOperationException($"grad: f must return a scalar, but returned shape {ShapeMath.Format(y.Shape)}; use Vjp or Jacobian");
        return (y, pb(Tensor.OnesLike(y)));
    }

    /// <summary>
    /// f(x) and the Jacobian-vector product J·t (jax.jvp), by transposing the pullback: u ↦ Jᵀu
    /// is linear, so its own VJP at t is J·t.
    /// </summary>
    public static (Tensor Value, Tensor Tangent) Jvp(Func<Tensor, Tensor> f, Tensor x, Tensor t)
    {
        if (!ShapeMath.SameShape(x.Shape, t.Shape))
            throw new ShapeMismatchException("jvp", $"jvp: the tangent has shape {ShapeMath.Format(t.Shape)} but x has shape {ShapeMath.Format(x.Shape)}");
        bool nested = GradMode.IsEnabled && x.RequiresGrad;
        var (y, pb) = VjpCore(xs => f(xs[0]), [x], createGraph: true);
        using (GradMode.Set(true))
        {
            var u = Tensor.ZerosLike(y).RequireGrad();
            var jtu = pb(u)[0];
            if (!jtu.RequiresGrad) return (y, Tensor.ZerosLike(y));
            var jt = Grad([jtu], [u], [t.To(x.DType)], retainGraph: true, createGraph: nested)[0];
            return (nested ? y : y.Detach(), nested ? jt : jt.Detach());
        }
    }

    /// <summary>The Jacobian of f at x, of shape f(x).Shape ++ x.Shape, one pullback per output element.</summary>
    public static Tensor Jacobian(Func<Tensor, Tensor> f, Tensor x)
    {
        var (y, pb) = Vjp(f, x);
        int m = y.Numel;
        var rows = new Tensor[m];
        for (int j = 0; j < m; j++)
        {
            var e = new double[m];
            e[j] = 1;
            rows[j] = pb(Tensor.FromArray(e, y.Shape).To(y.DType)).Reshape(-1);
        }
        int[] shape = [.. y.Shape, .. x.Shape];
        return m == 0 ? Tensor.Zeros(shape, x.DType) : Tensor.Stack(rows).Reshape(shape);
    }

    /// <summary>The Hessian of a scalar f at x: the Jacobian of its gradient, shape x.Shape ++ x.Shape.</summary>
    public static Tensor Hessian(Func<Tensor, Tensor> f, Tensor x) => Jacobian(Grad(f), x);

    /// <summary>The Hessian-vector product H·v of a scalar f at x, without forming H: the pullback of ∇f at v (H is symmetric).</summary>
    public static Tensor Hvp(Func<Tensor, Tensor> f, Tensor x, Tensor v) => Vjp(Grad(f), x).Pullback(v);
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
        foreach (var x in inputs) Tensor.SameDevice(name, inputs[0], x);
        return Tensor.Fused(name, () => forward(inputs), inputs, vjp);
    }
}
