namespace Cotangent.Nn;

/// <summary>
/// A named, mutable cell holding an immutable tensor that requires grad, and its gradient
/// accumulator. Optimizers give it new values; the accumulated gradient survives an update
/// until <see cref="ZeroGrad"/>, as PyTorch's <c>.grad</c> does.
/// </summary>
public sealed class Parameter
{
    /// <summary>A parameter starting at <paramref name="initial"/>'s values (float32 or float64).</summary>
    public Parameter(Tensor initial)
    {
        if (initial is null) throw new ArgumentNullException(nameof(initial), "parameter: the initial values are null");
        if (!initial.DType.IsFloating())
            throw new DTypeMismatchException("parameter", $"parameter: values must be float32 or float64 to take gradients, got {initial.DType.Name()} {ShapeMath.Format(initial.Shape)}");
        initial.CheckAlive("parameter");
        value = initial.Detach().RequireGrad().Keep();
    }

    Tensor value = null!;

    /// <summary>
    /// The current values: a leaf that requires grad. Use it in the forward pass. In a
    /// DataParallel replica's forward this is the replica's copy on that device (a
    /// differentiable copy of the leaf, so gradients flow back here).
    /// </summary>
    public Tensor Value
    {
        get => replicas.Current is { } r && r.TryGetValue(this, out var copy) ? copy : value;
        private set => this.value = value;
    }

    static readonly Replicas<Parameter> replicas = new();

    /// <summary>
    /// Until disposed, this flow reads each parameter in <paramref name="copies"/> as its copy
    /// (how DataParallel runs one module's forward on several devices at once).
    /// </summary>
    internal static IDisposable Replicate(Dictionary<Parameter, Tensor> copies) => replicas.Enter(copies);

    /// <summary>The gradient accumulated since the last <see cref="ZeroGrad"/>, or null.</summary>
    public Tensor? Grad => value.Grad;

    /// <summary>The shape of the values.</summary>
    public int[] Shape => value.Shape;

    /// <summary>Clears the accumulated gradient.</summary>
    public void ZeroGrad() => value.ZeroGrad();

    /// <summary>
    /// Replaces the values (same shape, dtype and device), keeping the gradient accumulator.
    /// Fails before changing anything when they do not match.
    /// </summary>
    public void Assign(Tensor values) => Replace(values, made: false);

    /// <summary>
    /// Assign, for an optimizer: values it <paramref name="made"/> itself (handed out nowhere
    /// else) are retained rather than pinned, so once superseded in a later step they go back
    /// to that step's scope. The replaced values are let go either way (pinned ones stay).
    /// </summary>
    internal void Replace(Tensor values, bool made)
    {
        if (values is null) throw new ArgumentNullException(nameof(values), "assign: the new values are null");
        values.CheckAlive("assign");
        if (!ShapeMath.SameShape(values.ShapeArray, value.ShapeArray) || values.DType != value.DType || values.Device != value.Device)
            throw new ShapeMismatchException("assign", $"assign: new values {ShapeMath.Format(values.Shape)} {values.DType.Name()} on {values.Device} do not match the parameter's {ShapeMath.Format(value.Shape)} {value.DType.Name()} on {value.Device}");
        var old = value;
        var fresh = values.Detach().LeafSharingGradWith(old);
        value = made ? fresh.Retain() : fresh.Keep();
        if (!ReferenceEquals(old.Storage, fresh.Storage)) old.Disown();   // an update that returned its input gives nothing up
    }

    /// <summary>
    /// Moves the parameter to the device of <paramref name="values"/> (its values there, copied
    /// by the caller) with its accumulated gradient <paramref name="grad"/> (also moved, or null),
    /// as PyTorch's <c>module.to(device)</c> moves <c>.data</c> and <c>.grad</c>.
    /// </summary>
    internal void MoveTo(Tensor values, Tensor? grad)
    {
        var old = value;
        var oldGrad = old.Accumulator?.Value;
        value = values.Detach().RequireGrad().Keep();
        if (grad is not null) value.Accumulator!.Set(grad.Detach().Keep());
        // the copies left behind go back to the allocator of their device (pinned ones stay)
        old.Disown();
        oldGrad?.Disown();
    }

    /// <summary>Sets a gradient made for this parameter alone (DDP's averages): recycled by the scope once replaced or cleared.</summary>
    internal void SetGradOwned(Tensor grad) => value.Accumulator!.SetOwned(grad.Detach());

    /// <summary>Overwrites the accumulated gradient (gradient clipping, all-reduce).</summary>
    public void SetGrad(Tensor? grad)
    {
        if (grad is not null && (!ShapeMath.SameShape(grad.Shape, value.Shape) || grad.DType != value.DType || grad.Device != value.Device))
            throw new ShapeMismatchException("set_grad", $"set_grad: gradient {ShapeMath.Format(grad.Shape)} {grad.DType.Name()} on {grad.Device} does not match the parameter's {ShapeMath.Format(value.Shape)} {value.DType.Name()} on {value.Device}");
        grad?.CheckAlive("set_grad");
        value.Accumulator!.Set(grad?.Detach());
    }

    /// <summary>The values, printed.</summary>
    public override string ToString() => $"Parameter({value})";
}

/// <summary>
/// A module's state that is not trained (torch's buffers: batch norm's running statistics): a
/// named, mutable cell holding an immutable tensor without gradient. It is saved and loaded
/// with the parameters (<see cref="Module.StateDict"/>) and moves with them (<see cref="Module.To(Device)"/>).
/// </summary>
public sealed class Buffer
{
    internal Buffer(Tensor initial) => value = initial.Detach().Keep();

    Tensor value;

    static readonly Replicas<Buffer> replicas = new();

    /// <summary>
    /// Until disposed, this flow reads each buffer in <paramref name="copies"/> as its copy and
    /// writes go to the copy, never to the buffer (DataParallel's replicas: as in PyTorch, only
    /// the first device's replica updates the module's running statistics).
    /// </summary>
    internal static IDisposable Replicate(Dictionary<Buffer, Tensor> copies) => replicas.Enter(copies);

    /// <summary>The current values (this flow's replica copy inside a DataParallel replica).</summary>
    public Tensor Value => replicas.Current is { } r && r.TryGetValue(this, out var copy) ? copy : value;

    /// <summary>Replaces the values (same shape, dtype and device); kept beyond any open tensor scope.</summary>
    public void Assign(Tensor values)
    {
        if (values is null) throw new ArgumentNullException(nameof(values), "assign: the new values are null");
        values.CheckAlive("assign");
        var current = Value;
        if (!ShapeMath.SameShape(values.ShapeArray, current.ShapeArray) || values.DType != current.DType || values.Device != current.Device)
            throw new ShapeMismatchException("assign", $"assign: new values {ShapeMath.Format(values.Shape)} {values.DType.Name()} on {values.Device} do not match the buffer's {ShapeMath.Format(current.Shape)} {current.DType.Name()} on {current.Device}");
        if (replicas.Current is { } r && r.ContainsKey(this)) r[this] = values.Detach();
        else value = values.Detach().Keep();
    }

    internal void MoveTo(Tensor values) => value = values.Detach().Keep();
}

/// <summary>
/// Per-flow copies of parameters or buffers for DataParallel's replicas: they flow with the call
/// (as grad mode and scopes do), so tasks a replica's forward starts see its copies too.
/// </summary>
internal sealed class Replicas<TKey> where TKey : class
{
    readonly AsyncLocal<Dictionary<TKey, Tensor>?> current = new();

    /// <summary>This flow's copies, or null outside a replica.</summary>
    public Dictionary<TKey, Tensor>? Current => current.Value;

    /// <summary>Uses <paramref name="copies"/> in this flow until disposed (then the previous ones again).</summary>
    public IDisposable Enter(Dictionary<TKey, Tensor> copies)
    {
        var previous = current.Value;
        current.Value = copies;
        return new Restore(this, previous);
    }

    sealed class Restore(Replicas<TKey> owner, Dictionary<TKey, Tensor>? previous) : IDisposable
    {
        public void Dispose() => owner.current.Value = previous;
    }
}
