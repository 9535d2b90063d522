using Cotangent.Backends;
using Cotangent.Backends.Cpu;

namespace Cotangent;

/// <summary>
/// An immutable n-dimensional array that can take part in reverse-mode differentiation.
/// No public member changes a tensor's elements; ops return new tensors, and views
/// (reshape, permute, slice, expand) share storage safely because of that. A leaf made with
/// <see cref="RequireGrad"/> owns a gradient accumulator: <see cref="Grad"/> reads it,
/// <see cref="ZeroGrad"/> clears it, and backward passes add to it.
/// </summary>
public sealed partial class Tensor
{
    readonly int identityHash = ByIdentity.Next();
    internal int IdentityHash => identityHash;

    readonly Storage storage;
    readonly int[] shape;
    readonly int[] strides;
    readonly int offset;
    readonly bool requiresGrad;
    Node? gradFn;

    /// <summary>
    /// A leaf a functional transform made of an input that nothing outside it differentiates (a
    /// constant to every other transform): a graph that reaches it does not depend on anything
    /// the caller can differentiate. Set once, before the leaf is handed to the function.
    /// </summary>
    internal bool IsTransformLeaf { get; private set; }

    /// <summary>Marks this fresh leaf as a transform's own (see <see cref="IsTransformLeaf"/>).</summary>
    internal Tensor AsTransformLeaf()
    {
        IsTransformLeaf = true;
        return this;
    }

    internal Tensor(Storage storage, int[] shape, int[]? strides = null, int offset = 0, bool requiresGrad = false, GradAccumulator? accumulator = null)
    {
        this.storage = storage;
        this.shape = shape;
        this.strides = strides ?? ShapeMath.ContiguousStrides(shape);
        this.offset = offset;
        this.requiresGrad = requiresGrad;
        if (requiresGrad) Accumulator = accumulator ?? new GradAccumulator();
    }

    /// <summary>A tensor over existing storage, laid out row-major.</summary>
    internal static Tensor OfStorage(Storage storage, int[] shape) => new(storage, shape);

    /// <summary>A leaf with this tensor's values that keeps <paramref name="from"/>'s gradient accumulator (for parameter updates).</summary>
    internal Tensor LeafSharingGradWith(Tensor from) => new(storage, shape, strides, offset, requiresGrad: true, accumulator: from.Accumulator);

    /// <summary>The buffer this view reads.</summary>
    internal Storage Storage => storage;

    /// <summary>The sizes of the axes (a copy; a scalar's is empty).</summary>
    public int[] Shape => [.. shape];

    internal ReadOnlySpan<int> ShapeSpan => shape;

    /// <summary>The shape array itself (never mutated; internal callers must not write to it).</summary>
    internal int[] ShapeArray => shape;

    /// <summary>The size of one axis (negative counts from the end).</summary>
    public int Size(int axis) => shape[ShapeMath.ExistingAxis("size", axis, Rank)];

    /// <summary>The number of axes.</summary>
    public int Rank => shape.Length;

    /// <summary>The number of elements.</summary>
    public int Numel => ShapeMath.Numel(shape);

    /// <summary>The element type.</summary>
    public DType DType => storage.DType;

    /// <summary>Where the elements live.</summary>
    public Device Device => storage.Device;

    /// <summary>True when gradients flow to or through this tensor.</summary>
    public bool RequiresGrad => requiresGrad;

    /// <summary>The backward function of the op that made this tensor; null for leaves and tensors built directly.</summary>
    public Node? GradFn => gradFn;

    /// <summary>True for tensors no recorded op produced (PyTorch's <c>is_leaf</c>).</summary>
    public bool IsLeaf => gradFn is null;

    internal GradAccumulator? Accumulator { get; }

    /// <summary>The gradient accumulated by backward passes into this leaf; null before any, or after <see cref="ZeroGrad"/>.</summary>
    public Tensor? Grad => Accumulator?.Value;

    /// <summary>Clears the accumulated gradient (PyTorch's <c>x.grad = None</c>).</summary>
    public void ZeroGrad() => Accumulator?.Clear();

    /// <summary>
    /// A new leaf that shares this tensor's values and accumulates gradients
    /// (PyTorch's <c>requires_grad_()</c> on a fresh tensor).
    /// </summary>
    /// <exception cref="DTypeMismatchException">the dtype is not a float dtype.</exception>
    /// <exception cref="InvalidOperationException">this tensor is the output of an op; detach it first.</exception>
    public Tensor RequireGrad()
    {
        if (!DType.IsFloating())
            throw new DTypeMismatchException("require_grad", $"require_grad: only float32 and float64 tensors can require gradients, not {DType.Name()}");
        if (gradFn is not null)
            throw new InvalidOperationException($"require_grad: this tensor is the output of '{gradFn.Name}', not a leaf; use Detach().RequireGrad() for a new leaf with the same values");
        return new Tensor(storage, shape, strides, offset, requiresGrad: true);
    }

    /// <summary>
    /// This tensor on <paramref name="device"/> (torch's <c>x.to(device)</c>): itself when already
    /// there, else a copy whose VJP copies the cotangent back to this tensor's device. The only
    /// way data crosses devices: ops never copy implicitly.
    /// </summary>
    [Op("to_device")]
    public Tensor To(Device device)
    {
        using var _ = OpCall.Enter("to_device", this);
        var target = Backend.For(device, "to_device");
        if (device == Device) return this;
        var from = Device;
        var data = Kernels.ToArray(View);
        return Result("to_device", target.Wrap(data), shape, [this], (i, g, x, y) => g.To(from));
    }

    /// <summary>This tensor on the CPU (torch's <c>x.cpu()</c>).</summary>
    public Tensor Cpu() => To(Device.Cpu);

    /// <summary>This tensor on the CUDA device of that ordinal (torch's <c>x.cuda(i)</c>).</summary>
    public Tensor Cuda(int index = 0) => To(Device.Cuda(index));

    /// <summary>
    /// Opens a <see cref="TensorScope"/>: buffers of tensors made inside are recycled when it is
    /// disposed, except those kept. Example: <c>using var _ = Tensor.Scope();</c>
    /// </summary>
    public static TensorScope Scope() => new();

    /// <summary>Marks this tensor's buffer to outlive any <see cref="TensorScope"/> it was made in; returns this tensor.</summary>
    public Tensor Keep()
    {
        storage.Kept = true;
        storage.Pinned = true;
        return this;
    }

    /// <summary>Keeps the buffer past its scope for a holder in the library that made it and may later <see cref="Disown"/> it.</summary>
    internal Tensor Retain()
    {
        storage.Kept = true;
        return this;
    }

    /// <summary>
    /// Refuses a tensor whose buffer a scope already recycled, where it is stored for later
    /// (a parameter, a state, a data set): the failure belongs here, not at its first use.
    /// </summary>
    internal void CheckAlive(string op)
    {
        if (storage.IsRecycled) throw Storage.RecycledError(op);
    }

    /// <summary>The holder lets go of a buffer it retained: see <see cref="Storage.Disown"/>.</summary>
    internal void Disown() => storage.Disown();

    /// <summary>The same values, cut from the graph: no grad_fn, no gradient.</summary>
    public Tensor Detach() => new(storage, shape, strides, offset);

    /// <summary>
    /// Backward pass from a scalar: adds ∂this/∂x to every leaf x's <see cref="Grad"/>.
    /// </summary>
    public void Backward(bool retainGraph = false, bool createGraph = false) => Backward(null, retainGraph, createGraph);

    /// <summary>
    /// Backward pass with a seed <paramref name="v"/> of this tensor's shape: adds the
    /// vector-Jacobian product Jᵀv to every leaf's <see cref="Grad"/>, as torch's <c>y.backward(v)</c>.
    /// With <paramref name="createGraph"/> the gradients are themselves differentiable (and the graph is retained).
    /// </summary>
    public void Backward(Tensor? v, bool retainGraph = false, bool createGraph = false)
    {
        if (!requiresGrad)
            throw new InvalidOperationException("backward: this tensor does not require grad and has no grad_fn; make its inputs with RequireGrad()");
        if (v is null)
        {
            if (Numel != 1)
                throw new InvalidOperationException($"backward: grad can be implicitly created only for scalar outputs, but this tensor has shape {ShapeMath.Format(shape)}; pass v of that shape to compute Jᵀv");
            v = Tensor.Ones(shape, DType, Device);
        }
        v = CheckSeed("backward", this, v);
        // as PyTorch: a graph of the gradient refers to the forward graph, so createGraph retains it
        Engine.Run([this], [v], retainGraph || createGraph, createGraph, wrt: null, accumulate: true);
    }

    /// <summary>A seed (cotangent) for <paramref name="y"/>: of its shape and device, a float, cast to its dtype.</summary>
    internal static Tensor CheckSeed(string op, Tensor y, Tensor v)
    {
        if (v is null) throw new OpArgumentException(op, $"{op}: the seed is null");
        if (!ShapeMath.SameShape(y.shape, v.shape))
            throw new ShapeMismatchException(op, $"{op}: the seed has shape {ShapeMath.Format(v.shape)} but the output has shape {ShapeMath.Format(y.shape)}");
        if (v.Device != y.Device)
            throw new DeviceMismatchException(op, $"{op}: the seed is on {v.Device} but the output is on {y.Device}");
        // a gradient takes its input's dtype: an int or bool seed would make an int or bool gradient
        if (!v.DType.IsFloating())
            throw new DTypeMismatchException(op, $"{op}: the seed is {v.DType.Name()}; gradients are float32 or float64, as the output ({y.DType.Name()})");
        return v.DType == y.DType ? v : v.To(y.DType);
    }

    // ---- plumbing shared by the op files ----------------------------------------------

    internal Strided View => new(storage, shape, strides, offset);

    internal Strided ViewAs(int[] target) => new(storage, target, ShapeMath.BroadcastStrides(shape, strides, target), offset);

    internal IKernels Kernels => Backend.For(Device, "kernels");

    internal static IKernels KernelsFor(Device d) => Backend.For(d, OpCall.Blame("device"));

    internal bool IsContiguous => ShapeMath.IsContiguous(shape, strides);

    /// <summary>Wraps a kernel's output, recording the op when grad mode is on and an input needs a gradient.</summary>
    internal static Tensor Result(string op, Storage s, int[] shape, Tensor[] inputs, VjpRule? rule)
    {
        var y = Record(op, new Tensor(s, shape, null, 0, Tracks(rule, inputs)), inputs, rule);
        if (Anomaly.IsOn) Anomaly.CheckForward(op, y, inputs);
        return y;
    }

    /// <summary>A view sharing <paramref name="x"/>'s storage, recorded like any op.</summary>
    internal static Tensor ViewOf(string op, Tensor x, int[] shape, int[] strides, int offset, VjpRule rule) =>
        Record(op, new Tensor(x.storage, shape, strides, offset, Tracks(rule, [x])), [x], rule);

    static bool Tracks(VjpRule? rule, Tensor[] inputs)
    {
        if (rule is null || !GradMode.IsEnabled) return false;
        foreach (var t in inputs) if (t.requiresGrad) return true;
        return false;
    }

    static Tensor Record(string op, Tensor y, Tensor[] inputs, VjpRule? rule)
    {
        if (y.requiresGrad)
        {
            y.gradFn = new Node(op, inputs, rule!);
            y.gradFn.Attach(y);
        }
        return y;
    }

    /// <summary>
    /// A primitive whose forward is itself a composition (run without recording) and whose
    /// VJP is its own rule: used where the composition's gradient would be wrong or slow.
    /// </summary>
    internal static Tensor Fused(string op, Func<Tensor> forward, Tensor[] inputs, VjpRule rule)
    {
        Tensor y;
        using (GradMode.Set(false)) y = forward();
        var s = y.IsContiguous && y.offset == 0 ? y.storage : y.Kernels.Contiguous(y.View);
        return Result(op, s, y.shape, inputs, rule);
    }

    /// <summary>y + α·x in one kernel pass, recording nothing: for optimizer updates, which run under NoGrad.</summary>
    internal static Tensor AddScaled(Tensor y, double alpha, Tensor x)
    {
        SameDevice("add_scaled", y, x);
        if (!ShapeMath.SameShape(y.shape, x.shape) || y.DType != x.DType)
            throw new ShapeMismatchException("add_scaled", $"add_scaled: {ShapeMath.Format(y.shape)} {y.DType.Name()} and {ShapeMath.Format(x.shape)} {x.DType.Name()} differ");
        return new Tensor(y.Kernels.AddScaled(y.View, alpha, x.View), y.shape);
    }

    /// <summary>
    /// One fused Adam/AdamW update of p from g and the moments m, v (null on the first step),
    /// recording nothing: new values, new m, new v, each a fresh tensor.
    /// </summary>
    internal static (Tensor Value, Tensor M, Tensor V) AdamUpdate(Tensor p, Tensor g, Tensor? m, Tensor? v, AdamStep step)
    {
        foreach (var t in new[] { g, m, v })
            if (t is not null) ElementForElement("adam", "parameter", p, "its gradient or moment", t);
        var (pv, mv, vv) = p.Kernels.Adam(p.View, g.View, m?.View, v?.View, step);
        return (new Tensor(pv, p.shape), new Tensor(mv, p.shape), new Tensor(vv, p.shape));
    }

    /// <summary>
    /// Two operands a fused kernel reads element for element (a pullback's cotangent and saved
    /// value, an optimizer's parameter and state): one device, one dtype, one shape, or an error
    /// naming the op and both.
    /// </summary>
    internal static void ElementForElement(string op, string aName, Tensor a, string bName, Tensor b)
    {
        SameDevice(op, a, b);
        if (a.DType != b.DType)
            throw new DTypeMismatchException(op, $"{op}: {aName} {a.DType.Name()} and {bName} {b.DType.Name()} differ");
        if (!ShapeMath.SameShape(a.shape, b.shape))
            throw new ShapeMismatchException(op, $"{op}: {aName} {ShapeMath.Format(a.shape)} and {bName} {ShapeMath.Format(b.shape)} differ");
    }

    internal static void SameDevice(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device)
            throw new DeviceMismatchException(op, $"{op}: expected all tensors on one device, but got {a.Device} and {b.Device}");
    }

    internal void RequireFloat(string op)
    {
        if (!DType.IsFloating())
            throw new DTypeMismatchException(op, $"{op}: expects a float32 or float64 tensor, got {DType.Name()}; cast with .To(DType.Float32)");
    }
}
