namespace Cotangent;

/// <summary>
/// A VJP rule: the gradient with respect to input <c>i</c>, given the cotangent of the
/// output, the op's inputs and its output; null when input i is not differentiable. The
/// engine calls it only for inputs that need a gradient, and reduces broadcast axes itself.
/// </summary>
public delegate Tensor? VjpRule(int i, Tensor cotangent, Tensor[] inputs, Tensor output);

/// <summary>
/// The gradients of every wanted input at once (null entries for the rest), for an op whose
/// pullbacks share one pass over memory (batch norm's ∂x, ∂γ, ∂β); null declines, and the
/// engine asks the per-input <see cref="VjpRule"/> instead. The engine asks it only in a
/// backward pass that records no graph (a joint kernel makes none) and wants some input.
/// </summary>
internal delegate Tensor?[]? JointVjpRule(bool[] wanted, Tensor cotangent, Tensor[] inputs, Tensor output);

/// <summary>
/// The backward function of one op application, as PyTorch's <c>grad_fn</c>: it names the
/// op and holds what the VJP needs until a backward pass without <c>retainGraph</c> frees it.
/// </summary>
public sealed class Node
{
    internal int IdentityHash => identityHash;
    readonly int identityHash = ByIdentity.Next();
    Tensor[]? inputs;
    Tensor? output;
    VjpRule? rule;
    JointVjpRule? joint;

    internal Node(string name, Tensor[] inputs, VjpRule rule)
    {
        Name = name;
        CreatedAt = Anomaly.Trace();
        this.inputs = inputs;
        this.rule = rule;
        Edges = new Edge[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            Edges[i] = new Edge(t.GradFn, t.RequiresGrad && t.IsLeaf ? t : null, t.ShapeArray, t.DType, t.RequiresGrad);
        }
    }

    /// <summary>Where each input's gradient goes; kept after release, like PyTorch's next_functions.</summary>
    internal Edge[] Edges { get; }

    /// <summary>Where the forward op was called, kept while <see cref="Autograd.DetectAnomaly"/> is on; else null.</summary>
    public string? CreatedAt { get; }

    /// <summary>The op's registry name, e.g. <c>mul</c>.</summary>
    public string Name { get; }

    /// <summary>True once a backward pass without retainGraph has freed the saved tensors.</summary>
    public bool IsReleased => rule is null;

    /// <summary>
    /// The backward functions of the inputs, as PyTorch's <c>next_functions</c>: null for an
    /// input that is a leaf or needs no gradient. Kept after release, as in PyTorch: a pass frees
    /// the saved tensors, not the structure.
    /// </summary>
    public IReadOnlyList<Node?> NextFunctions => Edges.Select(e => e.Fn).ToArray();

    /// <summary>
    /// For each input, in the order of <see cref="NextFunctions"/>, the leaf its gradient
    /// accumulates into (the tensor PyTorch's <c>AccumulateGrad</c> in <c>next_functions</c>
    /// holds), or null for an input made by another op or needing no gradient: where
    /// <see cref="NextFunctions"/> is null, this tells a leaf from a constant. Kept after release.
    /// </summary>
    public IReadOnlyList<Tensor?> NextLeaves => Edges.Select(e => e.Leaf).ToArray();

    internal void Attach(Tensor y) => output = y;

    /// <summary>
    /// The diff { } run whose step made this node's output, or null: how a run tells its own
    /// step outputs from tensors that come from outside, with a field read instead of a lookup.
    /// </summary>
    internal object? Owner { get; set; }

    internal Tensor? Vjp(int i, Tensor cotangent)
    {
        if (rule is null || inputs is null || output is null)
            throw new InvalidOperationException(FreedMessage(Name));
        return rule(i, cotangent, inputs, output);
    }

    /// <summary>Whether a joint rule may answer for all inputs at once (<see cref="JointVjp"/>).</summary>
    internal bool HasJoint => joint is not null;

    internal void SetJoint(JointVjpRule rule) => joint = rule;

    /// <summary>The wanted inputs' gradients from the joint rule, or null when it declines or there is none.</summary>
    internal Tensor?[]? JointVjp(bool[] wanted, Tensor cotangent)
    {
        if (joint is null) return null;
        if (rule is null || inputs is null || output is null)
            throw new InvalidOperationException(FreedMessage(Name));
        return joint(wanted, cotangent, inputs, output);
    }

    internal void Release()
    {
        inputs = null;
        output = null;
        rule = null;
        joint = null;
    }

    internal static string FreedMessage(string op) =>
        $"backward: trying to backward through the graph a second time: the saved tensors of '{op}' were freed " +
        "after the first backward pass. Pass retainGraph: true to the first Backward call to backward twice.";

    /// <summary>PyTorch's spelling, e.g. <c>&lt;MulBackward&gt;</c>.</summary>
    public override string ToString() => $"<{Pascal(Name)}Backward>";

    static string Pascal(string s) => string.Concat(s.Split('_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));
}

/// <summary>One input of a node: its backward function, or the leaf itself, and the shape and dtype its gradient must have.</summary>
internal sealed record Edge(Node? Fn, Tensor? Leaf, int[] Shape, DType DType, bool RequiresGrad);

/// <summary>
/// Told when a leaf's gradient for the current backward pass is complete, before the rest of
/// the pass runs (PyTorch's post-accumulate-grad hook): how DistributedDataParallel starts
/// reducing a bucket of gradients while backward continues.
/// </summary>
internal interface IGradHook
{
    /// <summary>The leaf's gradient has been accumulated; no later node of this pass adds to it.</summary>
    void Ready(Tensor leaf);

    /// <summary>
    /// A pass whose graph holds any of this hook's leaves has ended (whether or not they got a
    /// gradient); <paramref name="failure"/> is its error, if it failed.
    /// </summary>
    void Finished(Exception? failure);

    /// <summary>Hooks end a pass in this order (creation order): the same on every rank.</summary>
    long Order { get; }
}

/// <summary>The gradient a leaf accumulates across backward passes (PyTorch's AccumulateGrad).</summary>
internal sealed class GradAccumulator
{
    readonly Lock gate = new();
    Tensor? value;

    /// <summary>Told when this leaf's gradient of a Backward pass is complete; survives parameter updates, which share the accumulator.</summary>
    public IGradHook? Hook { get; set; }

    public Tensor? Value { get { lock (gate) return value; } }

    /// <summary>
    /// Adds a gradient; gradients outlive the step's scope. An <paramref name="owned"/> one
    /// (made by the backward pass for this leaf alone) and the sums made here are retained, not
    /// pinned: once cleared or replaced they go back to the current scope for reuse.
    /// </summary>
    public void Add(Tensor g, bool owned = false)
    {
        lock (gate)
        {
            if (value is null) value = owned ? g.Retain() : g.Keep();
            else
            {
                var sum = (value + g).Retain();
                value.Disown();
                value = sum;
            }
        }
    }

    public void Clear()
    {
        lock (gate)
        {
            value?.Disown();
            value = null;
        }
    }

    /// <summary>Replaces the gradient with one the caller made for this leaf alone: retained, so once cleared or replaced it goes back to the scope for reuse.</summary>
    public void SetOwned(Tensor g)
    {
        lock (gate)
        {
            value?.Disown();
            value = g.Retain();
        }
    }

    public void Set(Tensor? g)
    {
        lock (gate)
        {
            value?.Disown();
            value = g?.Keep();
        }
    }
}
