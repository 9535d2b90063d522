namespace Cotangent.Nn;

/// <summary>
/// A building block of models (torch.nn.Module): it registers named parameters and child
/// modules, enumerates them with dotted names ("0.weight"), switches train/eval mode, and
/// reads or restores its state.
/// </summary>
/// <remarks>
/// A new layer derives from this class, overrides <see cref="Forward"/> and registers what it
/// holds in its constructor with the protected members (which the site's reference does not
/// list): <c>AddParameter(name, initial)</c>, <c>AddBuffer(name, initial)</c> and
/// <c>AddModule(name, module)</c>; <c>Input(input)</c> refuses a null input by the layer's
/// name, and <c>Place(device)</c> moves what the constructor made to a device.
/// </remarks>
public abstract class Module
{
    /// <summary>A module with no parameters, buffers or children yet; subclasses register theirs.</summary>
    protected Module() { }

    readonly List<(string Name, Parameter Parameter)> parameters = [];
    readonly List<(string Name, Module Module)> children = [];
    readonly List<(string Name, Buffer Buffer)> buffers = [];

    /// <summary>The forward pass.</summary>
    public abstract Tensor Forward(Tensor input);

    /// <summary>A forward pass's input, refused by the layer's name when null.</summary>
    protected Tensor Input(Tensor input) =>
        input ?? throw new OpArgumentException(GetType().Name.ToLowerInvariant(), $"{GetType().Name.ToLowerInvariant()}: the input is null");

    /// <summary>True in training mode (the default); dropout is active only then.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers a parameter under <paramref name="name"/>.</summary>
    protected Parameter AddParameter(string name, Tensor initial)
    {
        CheckName(name);
        var p = new Parameter(initial);
        parameters.Add((name, p));
        return p;
    }

    /// <summary>Registers a buffer (state that is saved and moved but not trained) under <paramref name="name"/>.</summary>
    protected Buffer AddBuffer(string name, Tensor initial)
    {
        CheckName(name);
        if (initial is null) throw new ArgumentNullException(nameof(initial), "buffer: the initial values are null");
        initial.CheckAlive("buffer");
        var b = new Buffer(initial);
        buffers.Add((name, b));
        return b;
    }

    // not iterators themselves: the compiler's [IteratorStateMachine(typeof(...))] on a public
    // method hides its docs from fsdocs, whose reader cannot convert a typeof argument
    /// <summary>Every buffer of this module and its children, with dotted names (torch's named_buffers), each once.</summary>
    public IEnumerable<(string Name, Buffer Buffer)> NamedBuffers() =>
        AllNamedBuffers().DistinctBy(b => b.Buffer, ReferenceEqualityComparer.Instance);

    IEnumerable<(string Name, Buffer Buffer)> AllNamedBuffers()
    {
        foreach (var b in buffers) yield return b;
        foreach (var (name, child) in children)
            foreach (var (n, b) in child.AllNamedBuffers()) yield return ($"{name}.{n}", b);
    }

    /// <summary>Parameters then buffers, by dotted name: what the state dict holds.</summary>
    IEnumerable<(string Name, Tensor Value, Action<Tensor> Assign)> Entries() =>
        NamedParameters().Select(p => (p.Name, p.Parameter.Value, (Action<Tensor>)p.Parameter.Assign))
            .Concat(NamedBuffers().Select(b => (b.Name, b.Buffer.Value, (Action<Tensor>)b.Buffer.Assign)));

    /// <summary>Registers a child module under <paramref name="name"/>.</summary>
    protected T AddModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        children.Add((name, module));
        return module;
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"module: '{name}' is not a valid name (non-empty, no dots)");
        if (parameters.Any(p => p.Name == name) || children.Any(c => c.Name == name) || buffers.Any(b => b.Name == name))
            throw new ArgumentException($"module: the name '{name}' is already registered");
    }

    /// <summary>
    /// Every parameter of this module and its children, with dotted names, in registration order.
    /// A parameter reached twice (a layer shared by two places in the tree) is listed once, under
    /// its first name, as PyTorch's named_parameters() does: an optimizer must update it once per step.
    /// </summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters() =>
        AllNamedParameters().DistinctBy(p => p.Parameter, ReferenceEqualityComparer.Instance);

    IEnumerable<(string Name, Parameter Parameter)> AllNamedParameters()
    {
        foreach (var p in parameters) yield return p;
        foreach (var (name, child) in children)
            foreach (var (n, p) in child.AllNamedParameters()) yield return ($"{name}.{n}", p);
    }

    /// <summary>Every parameter, in registration order.</summary>
    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>The direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => children;

    /// <summary>Sets training (true) or evaluation (false) mode here and below; returns this module.</summary>
    public Module Train(bool on = true)
    {
        Training = on;
        foreach (var (_, c) in children) c.Train(on);
        return this;
    }

    /// <summary>Evaluation mode (no dropout); returns this module.</summary>
    public Module Eval() => Train(false);

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>
    /// Moves every parameter, with its accumulated gradient, to <paramref name="device"/>
    /// (PyTorch's <c>model.to(device)</c>); returns this module. All or nothing: every copy is
    /// made before any parameter changes. An optimizer over the parameters moves its state to
    /// them at its next step.
    /// </summary>
    public Module To(Device device)
    {
        Backends.Backend.For(device, "module.to");
        var ps = Parameters().ToArray();
        var bs = NamedBuffers().Select(b => b.Buffer).ToArray();
        var moved = new (Tensor Value, Tensor? Grad)[ps.Length];
        var movedBuffers = new Tensor[bs.Length];
        using (Autograd.NoGrad())
        {
            for (int i = 0; i < ps.Length; i++)
                moved[i] = (ps[i].Value.Detach().To(device), ps[i].Grad?.To(device));
            for (int i = 0; i < bs.Length; i++) movedBuffers[i] = bs[i].Value.To(device);
        }
        for (int i = 0; i < ps.Length; i++)
            if (ps[i].Value.Device != device) ps[i].MoveTo(moved[i].Value, moved[i].Grad);
        for (int i = 0; i < bs.Length; i++) bs[i].MoveTo(movedBuffers[i]);
        return this;
    }

    /// <summary>
    /// Converts every floating-point parameter (with its gradient) and buffer to
    /// <paramref name="dtype"/> (PyTorch's <c>model.to(torch.float64)</c>, e.g. for gradient
    /// checks); integer buffers such as num_batches_tracked stay as they are. Returns this
    /// module; all or nothing, as <see cref="To(Device)"/>. Optimizers made before keep state of
    /// the old dtype: make them after converting.
    /// </summary>
    public Module To(DType dtype)
    {
        if (!dtype.IsFloating())
            throw new DTypeMismatchException("module.to", $"module.to: parameters convert to float32 or float64, not {dtype.Name()}");
        var ps = Parameters().Where(p => p.Value.DType != dtype).ToArray();
        var bs = NamedBuffers().Select(b => b.Buffer).Where(b => b.Value.DType.IsFloating() && b.Value.DType != dtype).ToArray();
        (Tensor Value, Tensor? Grad)[] converted;
        Tensor[] convertedBuffers;
        using (Autograd.NoGrad())
        {
            converted = ps.Select(p => (p.Value.Detach().To(dtype), p.Grad?.To(dtype))).ToArray();
            convertedBuffers = bs.Select(b => b.Value.To(dtype)).ToArray();
        }
        for (int i = 0; i < ps.Length; i++) ps[i].MoveTo(converted[i].Item1, converted[i].Item2);
        for (int i = 0; i < bs.Length; i++) bs[i].MoveTo(convertedBuffers[i]);
        return this;
    }

    /// <summary>A layer's constructor placing its new parameters and buffers on <paramref name="device"/> (null: where they were made, the default device).</summary>
    protected void Place(Device? device)
    {
        if (device is { } d) To(d);
    }

    /// <summary>Moves the module to the CPU (PyTorch's <c>model.cpu()</c>).</summary>
    public Module Cpu() => To(Device.Cpu);

    /// <summary>Moves the module to the CUDA device of that ordinal (PyTorch's <c>model.cuda(i)</c>).</summary>
    public Module Cuda(int index = 0) => To(Device.Cuda(index));

    /// <summary>The parameters' and buffers' current values by dotted name.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() =>
        Entries().ToDictionary(e => e.Name, e => e.Value.Detach());

    /// <summary>
    /// Restores parameter values by name. Every entry is checked (names, shapes, dtypes) before
    /// any parameter changes, so a bad state leaves the module as it was. As PyTorch's
    /// <c>load_state_dict</c> copies into the parameters, values land on each parameter's device
    /// (a checkpoint loads on the CPU; a model on another device takes it there).
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        CheckStateDict(state);
        var named = Entries().ToArray();
        var values = new Tensor[named.Length];
        using (Autograd.NoGrad())
            for (int i = 0; i < named.Length; i++)
                values[i] = state[named[i].Name].Detach().To(named[i].Value.Device);   // every copy before any change
        for (int i = 0; i < named.Length; i++) named[i].Assign(values[i]);
    }

    /// <summary>
    /// Throws <see cref="StateDictMismatchException"/> if <see cref="LoadStateDict"/> would refuse
    /// the state, listing every missing, unexpected and mismatched entry with its shape and dtype
    /// on both sides; changes nothing.
    /// </summary>
    public void CheckStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (state is null) throw new ArgumentNullException(nameof(state), "load_state_dict: the state is null");
        var unreadable = state.Where(kv => kv.Value is null || kv.Value.Storage.IsRecycled)
            .Select(kv => kv.Value is null ? $"{kv.Key} is null" : $"{kv.Key} was recycled by a Tensor.Scope (Keep() it)").ToList();
        if (unreadable.Count > 0)
            throw new StateDictMismatchException("load_state_dict", "the state holds tensors that cannot be read", [], [], unreadable);
        var named = Entries().ToList();
        var missing = named.Where(p => !state.ContainsKey(p.Name))
            .Select(p => $"{p.Name} {StateDictMismatchException.Describe(p.Value)}").ToList();
        var unexpected = state.Where(kv => named.All(p => p.Name != kv.Key))
            .Select(kv => $"{kv.Key} {StateDictMismatchException.Describe(kv.Value)}").ToList();
        var mismatched = named.Where(p => state.TryGetValue(p.Name, out var v) && (!ShapeMath.SameShape(v.Shape, p.Value.Shape) || v.DType != p.Value.DType))
            .Select(p => $"{p.Name} is {StateDictMismatchException.Describe(state[p.Name])} in the state but {StateDictMismatchException.Describe(p.Value)} in the module").ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0)
            throw new StateDictMismatchException("load_state_dict", $"the state does not fit this {GetType().Name}", missing, unexpected, mismatched);
    }

    /// <summary>The module tree with parameter shapes.</summary>
    public override string ToString()
    {
        var lines = new List<string> { GetType().Name + "(" };
        foreach (var (n, p) in parameters) lines.Add($"  {n}: {ShapeMath.Format(p.Shape)}");
        foreach (var (n, b) in buffers) lines.Add($"  {n}: {ShapeMath.Format(b.Value.Shape)} (buffer)");
        foreach (var (n, c) in children) lines.Add($"  ({n}): " + c.ToString().Replace("\n", "\n  "));
        lines.Add(")");
        return string.Join("\n", lines);
    }
}

/// <summary>
/// A state (a module's parameters or an optimizer's buffers, from a dictionary or a checkpoint)
/// does not fit what it is loaded into. The message lists every missing, unexpected and
/// mismatched entry with the shapes and dtypes on both sides; nothing was changed.
/// </summary>
public sealed class StateDictMismatchException : ShapeMismatchException
{
    internal StateDictMismatchException(string op, string what, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
        : base(op, Format(op, what, missing, unexpected, mismatched))
    {
        (What, Missing, Unexpected, Mismatched) = (what, missing, unexpected, mismatched);
    }

    /// <summary>What did not fit what, e.g. "the state does not fit this Sequential".</summary>
    public string What { get; }

    /// <summary>Entries the target has and the state lacks, each with the target's shape and dtype.</summary>
    public IReadOnlyList<string> Missing { get; }
    /// <summary>Entries the state has and the target does not, each with the state's shape and dtype.</summary>
    public IReadOnlyList<string> Unexpected { get; }
    /// <summary>Entries on both sides whose shapes or dtypes differ.</summary>
    public IReadOnlyList<string> Mismatched { get; }

    /// <summary>The same mismatch, its message prefixed with where the state came from (a checkpoint's path).</summary>
    internal StateDictMismatchException From(string source) =>
        new(Op, $"{source}: {What}", Missing, Unexpected, Mismatched);

    internal static string Describe(Tensor t) => $"{ShapeMath.Format(t.Shape)} {t.DType.Name()}";

    static string Format(string op, string what, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
    {
        var lines = new List<string> { $"{op}: {what}:" };
        if (missing.Count > 0) lines.Add($"  missing from the state: {string.Join(", ", missing)}");
        if (unexpected.Count > 0) lines.Add($"  unexpected in the state: {string.Join(", ", unexpected)}");
        foreach (var m in mismatched) lines.Add($"  {m}");
        return string.Join("\n", lines);
    }
}
