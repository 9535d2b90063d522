namespace Cotangent.Nn;

/// <summary>The input, unchanged (torch.nn.Identity): a placeholder where a layer may go.</summary>
public sealed class Identity : Module
{
    /// <summary>An identity layer; it has no parameters.</summary>
    public Identity() { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Input(input);
}

/// <summary>
/// Modules held in a list, registered as children "0", "1", … (torch.nn.ModuleList): their
/// parameters are the list's. Like PyTorch's it has no forward of its own; index or iterate it.
/// </summary>
public sealed class ModuleList : Module, IReadOnlyList<Module>
{
    readonly List<Module> items = [];

    /// <summary>A list of the given modules.</summary>
    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules ?? throw new ArgumentNullException(nameof(modules), "module_list: the modules are null")) Add(m);
    }

    /// <summary>Appends a module, registered under its position.</summary>
    public void Add(Module module)
    {
        if (module is null) throw new ArgumentNullException(nameof(module), "module_list: the module is null");
        items.Add(AddModule(items.Count.ToString(), module));
    }

    /// <inheritdoc/>
    public Module this[int index] => index >= 0 && index < items.Count ? items[index] : throw new ArgumentOutOfRangeException(nameof(index), index, $"module_list: index {index} is out of range for {items.Count} modules");

    /// <inheritdoc/>
    public int Count => items.Count;

    /// <inheritdoc/>
    public IEnumerator<Module> GetEnumerator() => items.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => items.GetEnumerator();

    /// <summary>Refused: a list of modules does not say how to chain them (use <see cref="Sequential"/>).</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("module_list: a ModuleList has no forward; call its modules (or use Sequential to chain them)");
}

/// <summary>Modules by name, registered as children under their keys (torch.nn.ModuleDict); no forward of its own.</summary>
public sealed class ModuleDict : Module, IReadOnlyDictionary<string, Module>
{
    readonly Dictionary<string, Module> items = [];
    readonly List<string> order = [];

    /// <summary>A dictionary of the given modules, in their order.</summary>
    public ModuleDict(IEnumerable<KeyValuePair<string, Module>>? modules = null)
    {
        foreach (var (k, m) in modules ?? []) Add(k, m);
    }

    /// <summary>Adds a module under a key (a valid child name: non-empty, no dots, not taken).</summary>
    public void Add(string key, Module module)
    {
        if (module is null) throw new ArgumentNullException(nameof(module), $"module_dict: the module for '{key}' is null");
        items[key] = AddModule(key, module);
        order.Add(key);
    }

    /// <inheritdoc/>
    public Module this[string key] => items.TryGetValue(key, out var m) ? m : throw new KeyNotFoundException($"module_dict: no module '{key}'; it has {string.Join(", ", order)}");

    /// <inheritdoc/>
    public IEnumerable<string> Keys => order;

    /// <inheritdoc/>
    public IEnumerable<Module> Values => order.Select(k => items[k]);

    /// <inheritdoc/>
    public int Count => order.Count;

    /// <inheritdoc/>
    public bool ContainsKey(string key) => items.ContainsKey(key);

    /// <inheritdoc/>
    public bool TryGetValue(string key, out Module value) => items.TryGetValue(key, out value!);

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, Module>> GetEnumerator() => order.Select(k => KeyValuePair.Create(k, items[k])).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Refused: a dictionary of modules has no forward of its own.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("module_dict: a ModuleDict has no forward; call its modules");
}

/// <summary>Channel dropout (torch.nn.Dropout2d): whole channels of [N, C, H, W] dropped while training.</summary>
public sealed class Dropout2d(double p = 0.5, Generator? generator = null) : Module
{
    readonly double p = Tensor.CheckDropout(p);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Input(input).Dropout2d(p, Training, generator);
}

/// <summary>[N, C·r², H, W] to [N, C, H·r, W·r] (torch.nn.PixelShuffle).</summary>
public sealed class PixelShuffle(int upscaleFactor) : Module
{
    readonly int upscaleFactor = upscaleFactor > 0 && upscaleFactor <= 46340 ? upscaleFactor
        : throw new OpArgumentException("pixel_shuffle", $"pixel_shuffle: the upscale factor must be in 1 … 46340, got {upscaleFactor}");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Input(input).PixelShuffle(upscaleFactor);
}

/// <summary>Group normalisation (torch.nn.GroupNorm) with a per-channel scale (ones) and shift (zeros) when affine.</summary>
public sealed class GroupNorm : Module
{
    readonly int groups;
    readonly double eps;

    /// <summary><paramref name="numChannels"/> channels in <paramref name="numGroups"/> groups.</summary>
    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true, DType dtype = DType.Float32, Device? device = null)
    {
        if (numGroups <= 0 || numChannels <= 0 || numChannels % numGroups != 0)
            throw new OpArgumentException("group_norm", $"group_norm: {numChannels} channels do not split into {numGroups} groups");
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new OpArgumentException("group_norm", $"group_norm: eps must be a finite number 0 or more, got {eps}");
        Layers.RequireFloat("group_norm", dtype);
        (groups, this.eps) = (numGroups, eps);
        if (affine)
        {
            Weight = AddParameter("weight", Tensor.Ones([numChannels], dtype));
            Bias = AddParameter("bias", Tensor.Zeros([numChannels], dtype));
        }
        Place(device);
    }

    /// <summary>The scale γ, or null.</summary>
    public Parameter? Weight { get; }
    /// <summary>The shift β, or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Tensor.GroupNorm(Input(input), groups, Weight?.Value, Bias?.Value, eps);
}

/// <summary>
/// Instance normalisation of [N, C, H, W] (torch.nn.InstanceNorm2d): no affine by default, as
/// PyTorch's; running statistics are not kept (trackRunningStats true is refused).
/// </summary>
public sealed class InstanceNorm2d : Module
{
    readonly double eps;

    /// <summary>Over <paramref name="numFeatures"/> channels.</summary>
    public InstanceNorm2d(int numFeatures, double eps = 1e-5, bool affine = false, bool trackRunningStats = false, DType dtype = DType.Float32, Device? device = null)
    {
        if (numFeatures <= 0) throw new OpArgumentException("instance_norm", $"instance_norm: numFeatures must be positive, got {numFeatures}");
        if (trackRunningStats)
            throw new OpArgumentException("instance_norm", "instance_norm: running statistics are not supported; each input is normalised by its own");
        Layers.RequireFloat("instance_norm", dtype);
        (NumFeatures, this.eps) = (numFeatures, eps);
        if (affine)
        {
            Weight = AddParameter("weight", Tensor.Ones([numFeatures], dtype));
            Bias = AddParameter("bias", Tensor.Zeros([numFeatures], dtype));
        }
        Place(device);
    }

    /// <summary>The number of channels.</summary>
    public int NumFeatures { get; }
    /// <summary>The scale γ, or null.</summary>
    public Parameter? Weight { get; }
    /// <summary>The shift β, or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var x = Input(input);
        if (x.Rank != 4 || x.Size(1) != NumFeatures)
            throw new ShapeMismatchException("instance_norm", $"instance_norm: expects [N, {NumFeatures}, H, W], got {ShapeMath.Format(x.Shape)}");
        return Tensor.InstanceNorm(x, Weight?.Value, Bias?.Value, eps);
    }
}

/// <summary>RMS normalisation over trailing axes (torch.nn.RMSNorm), with a learnt scale (ones) when elementwise-affine.</summary>
public sealed class RMSNorm : Module
{
    readonly int[] shape;
    readonly double? eps;

    /// <summary>Over trailing axes of <paramref name="normalizedShape"/>; eps null: the dtype's machine epsilon.</summary>
    public RMSNorm(int[] normalizedShape, double? eps = null, bool elementwiseAffine = true, DType dtype = DType.Float32, Device? device = null)
    {
        if (normalizedShape is null || normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new OpArgumentException("rms_norm", $"rms_norm: the normalised shape must be one or more positive sizes, got {ShapeMath.Format(normalizedShape ?? [])}");
        Layers.RequireFloat("rms_norm", dtype);
        if (eps is double e && (!(e >= 0) || double.IsInfinity(e))) throw new OpArgumentException("rms_norm", $"rms_norm: eps must be a finite number 0 or more, got {e}");
        (shape, this.eps) = ([.. normalizedShape], eps);
        if (elementwiseAffine) Weight = AddParameter("weight", Tensor.Ones(shape, dtype));
        Place(device);
    }

    /// <summary>The scale, or null.</summary>
    public Parameter? Weight { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var x = Input(input);
        if (x.Rank < shape.Length || !ShapeMath.SameShape(x.Shape[^shape.Length..], shape))
            throw new ShapeMismatchException("rms_norm", $"rms_norm: input {ShapeMath.Format(x.Shape)} does not end in the normalised shape {ShapeMath.Format(shape)}");
        return Tensor.RmsNorm(x, shape.Length, Weight?.Value, eps);
    }
}

/// <summary>Checks shared by the layers.</summary>
internal static class Layers
{
    public static void RequireFloat(string op, DType dtype)
    {
        if (!dtype.IsFloating()) throw new DTypeMismatchException(op, $"{op}: parameters are float32 or float64, not {dtype.Name()}");
    }
}

/// <summary>
/// Multi-head attention (torch.nn.MultiheadAttention): q, k, v projected by in_proj_weight
/// [3E, E] (Xavier-uniform) and in_proj_bias (zeros), split into heads, attended, joined and
/// projected by out_proj. Inputs are [L, N, E] ([N, L, E] with batchFirst, or unbatched [L, E]).
/// Masks follow PyTorch's MultiheadAttention: true in a bool attn_mask or key_padding_mask
/// means "do not attend"; a float attn_mask is added to the scores.
/// </summary>
public sealed class MultiheadAttention : Module
{
    readonly int heads;
    readonly double dropout;
    readonly bool batchFirst;
    readonly Generator? generator;

    /// <summary>Attention over <paramref name="embedDim"/> features in <paramref name="numHeads"/> heads.</summary>
    public MultiheadAttention(int embedDim, int numHeads, double dropout = 0, bool bias = true, bool batchFirst = false, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    {
        if (embedDim <= 0 || numHeads <= 0 || embedDim % numHeads != 0)
            throw new OpArgumentException("multihead_attention", $"multihead_attention: embed_dim {embedDim} must be positive and divisible by num_heads {numHeads}");
        Layers.RequireFloat("multihead_attention", dtype);
        (EmbedDim, heads, this.dropout, this.batchFirst, this.generator) = (embedDim, numHeads, Tensor.CheckDropout(dropout), batchFirst, generator);
        InProjWeight = AddParameter("in_proj_weight", Init.Uniform([3 * embedDim, embedDim], Math.Sqrt(6.0 / (4.0 * embedDim)), dtype, generator));
        if (bias) InProjBias = AddParameter("in_proj_bias", Tensor.Zeros([3 * embedDim], dtype));
        OutProj = AddModule("out_proj", new Linear(embedDim, embedDim, bias, generator, dtype));
        if (bias) OutProj.Bias!.Assign(Tensor.Zeros([embedDim], dtype));
        Place(device);
    }

    /// <summary>E.</summary>
    public int EmbedDim { get; }
    /// <summary>[3E, E]: the q, k and v projections stacked.</summary>
    public Parameter InProjWeight { get; }
    /// <summary>[3E], or null.</summary>
    public Parameter? InProjBias { get; }
    /// <summary>The output projection.</summary>
    public Linear OutProj { get; }

    /// <summary>Self-attention: the input as query, key and value.</summary>
    public override Tensor Forward(Tensor input) => Attend(Input(input), input, input).Output;

    /// <summary>
    /// Attention of <paramref name="query"/> over <paramref name="key"/>/<paramref name="value"/>;
    /// the weights averaged over heads ([N, L, S]) come back too when <paramref name="needWeights"/>.
    /// </summary>
    public (Tensor Output, Tensor? Weights) Attend(Tensor query, Tensor key, Tensor value, Tensor? keyPaddingMask = null, bool needWeights = true, Tensor? attnMask = null, bool causal = false)
    {
        const string op = "multihead_attention";
        using var _ = OpCall.EnterWith(op, [query, key, value], keyPaddingMask, attnMask);
        bool unbatched = query.Rank == 2;
        if (query.Rank is not (2 or 3) || key.Rank != query.Rank || value.Rank != query.Rank)
            throw new ShapeMismatchException(op, $"{op}: expects query, key and value of rank 3 (or 2, unbatched), got {ShapeMath.Format(query.Shape)}, {ShapeMath.Format(key.Shape)}, {ShapeMath.Format(value.Shape)}");
        if (attnMask is not null && attnMask.DType != DType.Bool && attnMask.DType != query.DType)
            throw new DTypeMismatchException(op, $"{op}: attn_mask must be bool or {query.DType.Name()} (the query's), got {attnMask.DType.Name()}");
        Tensor Batch(Tensor t) => unbatched ? t.Unsqueeze(0) : batchFirst ? t : t.Transpose(0, 1);
        var (q, k, v) = (Batch(query), Batch(key), Batch(value));   // [N, L, E]
        if (q.Rank != 3 || k.Rank != 3 || v.Rank != 3 || q.Size(2) != EmbedDim || k.Size(2) != EmbedDim || v.Size(2) != EmbedDim || k.Size(1) != v.Size(1) || q.Size(0) != k.Size(0) || k.Size(0) != v.Size(0))
            throw new ShapeMismatchException(op, $"{op}: expects query, key, value of {(batchFirst ? "[N, L, E]" : "[L, N, E]")} (or [L, E]) with E = {EmbedDim} and one key per value, got {ShapeMath.Format(query.Shape)}, {ShapeMath.Format(key.Shape)}, {ShapeMath.Format(value.Shape)}");
        int n = q.Size(0), l = q.Size(1), s = k.Size(1), hd = EmbedDim / heads;
        var w = InProjWeight.Value;
        var b = InProjBias?.Value;
        Tensor Project(Tensor x, int part) =>
            Tensor.Linear(x, w.Narrow(0, part * EmbedDim, EmbedDim), b?.Narrow(0, part * EmbedDim, EmbedDim))
                .Reshape(n, x.Size(1), heads, hd).Transpose(1, 2);             // [N, h, len, hd]
        var (qh, kh, vh) = (Project(q, 0), Project(k, 1), Project(v, 2));
        var scores = Tensor.MatMul(qh, kh.Transpose(-2, -1)) * (1 / Math.Sqrt(hd));   // [N, h, L, S]
        Tensor? blocked = null;
        if (causal) blocked = Tensor.Ones([l, s], DType.Bool, q.Device).Triu(1);
        if (attnMask is not null)
        {
            var m = attnMask.Rank == 3 ? attnMask.Reshape(n, heads, l, s) : attnMask;   // [N·h, L, S] per head, as PyTorch
            if (m.DType == DType.Bool) blocked = blocked is null ? m : Tensor.LogicalOr(blocked, m);
            else scores = scores + m;
        }
        if (keyPaddingMask is not null)
        {
            if (keyPaddingMask.DType != DType.Bool || !ShapeMath.SameShape(keyPaddingMask.Shape, unbatched ? [s] : [n, s]))
                throw new ShapeMismatchException(op, $"{op}: key_padding_mask must be bool {(unbatched ? $"[{s}]" : $"[{n}, {s}]")}, got {keyPaddingMask.DType.Name()} {ShapeMath.Format(keyPaddingMask.Shape)}");
            var pad = keyPaddingMask.Reshape(n, 1, 1, s);
            blocked = blocked is null ? pad : Tensor.LogicalOr(blocked, pad);
        }
        if (blocked is not null)
        {
            var full = blocked.Expand(scores.Shape);
            if (full.LogicalNot().To(DType.Int64).Sum([-1]).Eq(0.0).Any().Item<bool>())
                throw new OpArgumentException(op, $"{op}: a query has every key masked out; its attention weights would be NaN");
            scores = Tensor.Where(full, double.NegativeInfinity, scores);
        }
        var weights = scores.Softmax(-1);
        var dropped = Training && dropout > 0 ? weights.Dropout(dropout, true, generator) : weights;
        var joined = Tensor.MatMul(dropped, vh).Transpose(1, 2).Reshape(n, l, EmbedDim);
        var y = OutProj.Forward(joined);
        y = unbatched ? y.Squeeze(0) : batchFirst ? y : y.Transpose(0, 1);
        Tensor? avg = needWeights ? dropped.Mean([1]) : null;   // after dropout, as PyTorch returns them
        return (y, unbatched ? avg?.Squeeze(0) : avg);
    }
}

/// <summary>A recurrent layer's results: the top layer's output at every step, and the last hidden (and cell) state of every layer and direction.</summary>
public sealed record RecurrentOutput(Tensor Output, Tensor H, Tensor? C)
{
    /// <summary>The top layer's output at every step: [seq, batch, directions·hidden] (batch first when the layer is).</summary>
    public Tensor Output { get; init; } = Output;
    /// <summary>The last hidden state of every layer and direction: [layers·directions, batch, hidden].</summary>
    public Tensor H { get; init; } = H;
    /// <summary>The last cell state, shaped as <see cref="H"/>, for an LSTM; null for RNN and GRU.</summary>
    public Tensor? C { get; init; } = C;
}

/// <summary>
/// Multi-layer, optionally bidirectional recurrent layers over [L, N, in] ([N, L, in] with
/// batchFirst, or unbatched [L, in]), with torch.nn's parameter names and layout:
/// weight_ih_l{k}[_reverse] [G·H, in], weight_hh_l{k} [G·H, H], bias_ih/bias_hh [G·H], all
/// from U(−1/√H, 1/√H). Each layer's input projection is one matrix product over all steps;
/// the steps then run in order (in reverse for the reverse direction), dropout between layers
/// while training.
/// </summary>
public abstract class Recurrent : Module
{
    readonly string op;
    readonly int gates, layers;
    readonly bool batchFirst, bidirectional;
    readonly double dropout;
    readonly Generator? generator;
    readonly (Parameter Wih, Parameter Whh, Parameter? Bih, Parameter? Bhh)[] cells;

    private protected Recurrent(string op, int gates, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst, double dropout, bool bidirectional, Generator? generator, DType dtype, Device? device = null)
    {
        this.op = op;
        if (inputSize <= 0 || hiddenSize <= 0 || numLayers <= 0)
            throw new OpArgumentException(op, $"{op}: input size {inputSize}, hidden size {hiddenSize} and layers {numLayers} must be positive");
        Layers.RequireFloat(op, dtype);
        (this.gates, layers, this.batchFirst, this.bidirectional, this.dropout, this.generator) = (gates, numLayers, batchFirst, bidirectional, Tensor.CheckDropout(dropout), generator);
        (InputSize, HiddenSize) = (inputSize, hiddenSize);
        int directions = bidirectional ? 2 : 1;
        double bound = 1 / Math.Sqrt(hiddenSize);
        cells = new (Parameter, Parameter, Parameter?, Parameter?)[numLayers * directions];
        for (int k = 0; k < numLayers; k++)
            for (int d = 0; d < directions; d++)
            {
                string suffix = $"l{k}{(d == 1 ? "_reverse" : "")}";
                int inSize = k == 0 ? inputSize : hiddenSize * directions;
                var wih = AddParameter($"weight_ih_{suffix}", Init.Uniform([gates * hiddenSize, inSize], bound, dtype, generator));
                var whh = AddParameter($"weight_hh_{suffix}", Init.Uniform([gates * hiddenSize, hiddenSize], bound, dtype, generator));
                Parameter? bih = bias ? AddParameter($"bias_ih_{suffix}", Init.Uniform([gates * hiddenSize], bound, dtype, generator)) : null;
                Parameter? bhh = bias ? AddParameter($"bias_hh_{suffix}", Init.Uniform([gates * hiddenSize], bound, dtype, generator)) : null;
                cells[k * directions + d] = (wih, whh, bih, bhh);
            }
        Place(device);
    }

    /// <summary>Features of each input step.</summary>
    public int InputSize { get; }
    /// <summary>Features of the hidden state H.</summary>
    public int HiddenSize { get; }

    private protected virtual bool HasCell => false;

    /// <summary>One step: the input projection of this step (with its bias), the state, and the hidden-to-hidden weights.</summary>
    private protected abstract (Tensor H, Tensor? C) Step(Tensor xw, Tensor h, Tensor? c, Tensor whh, Tensor? bhh);

    /// <summary>The output at every step of the top layer.</summary>
    public override Tensor Forward(Tensor input) => Run(input).Output;

    /// <summary>
    /// The layers over <paramref name="input"/> from initial states <paramref name="h0"/> (and
    /// <paramref name="c0"/>) [layers·directions, N, H] (zeros when null).
    /// </summary>
    public RecurrentOutput Run(Tensor input, Tensor? h0 = null, Tensor? c0 = null)
    {
        using var _ = OpCall.EnterWith(op, [input], h0, c0);
        var x = Input(input);
        bool unbatched = x.Rank == 2;
        if (unbatched) x = x.Unsqueeze(1);
        else if (batchFirst) x = x.Transpose(0, 1);
        if (x.Rank != 3 || x.Size(2) != InputSize)
            throw new ShapeMismatchException(op, $"{op}: expects {(batchFirst ? "[N, L, in]" : "[L, N, in]")} (or [L, in]) with in = {InputSize}, got {ShapeMath.Format(input.Shape)}");
        int steps = x.Size(0), n = x.Size(1), directions = bidirectional ? 2 : 1;
        if (steps == 0) throw new ShapeMismatchException(op, $"{op}: the sequence is empty ({ShapeMath.Format(input.Shape)})");
        var dtype = cells[0].Wih.Value.DType;
        if (x.DType != dtype) throw new DTypeMismatchException(op, $"{op}: input is {x.DType.Name()}, the layer's parameters {dtype.Name()}");
        Tensor State(Tensor? given, string what)
        {
            int[] want = [layers * directions, n, HiddenSize];
            if (given is null) return Tensor.Zeros(want, dtype, x.Device);
            var g = unbatched ? given.Unsqueeze(1) : given;
            if (!ShapeMath.SameShape(g.Shape, want))
                throw new ShapeMismatchException(op, $"{op}: {what} must be {ShapeMath.Format(unbatched ? [layers * directions, HiddenSize] : want)}, got {ShapeMath.Format(given.Shape)}");
            return g;
        }
        var hs = State(h0, "h0");
        Tensor? cs = HasCell ? State(c0, "c0") : null;
        if (hs.DType != dtype || cs is not null && cs.DType != dtype)
            throw new DTypeMismatchException(op, $"{op}: the initial state must be {dtype.Name()}, as the layer's parameters");
        if (n == 0)
        {
            // an empty batch: outputs and states with no rows (the matrix kernels take no empty spans)
            var none = Tensor.Zeros([steps, 0, directions * HiddenSize], dtype, x.Device);
            var outNone = unbatched ? none.Squeeze(1) : batchFirst ? none.Transpose(0, 1) : none;
            return new RecurrentOutput(outNone, hs, cs);
        }
        var lastH = new Tensor[layers * directions];
        var lastC = new Tensor[layers * directions];
        var layerInput = x;
        for (int k = 0; k < layers; k++)
        {
            var outs = new Tensor[directions];
            for (int d = 0; d < directions; d++)
            {
                int i = k * directions + d;
                var (wih, whh, bih, bhh) = cells[i];
                var xw = Tensor.Linear(layerInput, wih.Value, bih?.Value);         // [L, N, G·H], one GEMM
                Tensor h = hs.Select(0, i), c = cs?.Select(0, i)!;
                var seq = new Tensor[steps];
                for (int s = 0; s < steps; s++)
                {
                    int t = d == 0 ? s : steps - 1 - s;
                    (h, var cNew) = Step(xw.Select(0, t), h, c, whh.Value, bhh?.Value);
                    c = cNew!;
                    seq[t] = h;
                }
                (lastH[i], lastC[i]) = (h, c);
                outs[d] = Tensor.Stack(seq, 0);
            }
            layerInput = directions == 1 ? outs[0] : Tensor.Cat(outs, 2);
            if (k < layers - 1 && Training && dropout > 0) layerInput = layerInput.Dropout(dropout, true, generator);
        }
        var output = unbatched ? layerInput.Squeeze(1) : batchFirst ? layerInput.Transpose(0, 1) : layerInput;
        var hn = Tensor.Stack(lastH, 0);
        var cn = HasCell ? Tensor.Stack(lastC, 0) : null;
        return new RecurrentOutput(output, unbatched ? hn.Squeeze(1) : hn, unbatched ? cn?.Squeeze(1) : cn);
    }

    /// <summary>Gate j of G stacked along the last axis.</summary>
    private protected Tensor Gate(Tensor t, int j) => t.Narrow(-1, j * HiddenSize, HiddenSize);
}

/// <summary>An Elman RNN (torch.nn.RNN): h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh), or relu.</summary>
public sealed class RNN(int inputSize, int hiddenSize, int numLayers = 1, string nonlinearity = "tanh", bool bias = true, bool batchFirst = false, double dropout = 0, bool bidirectional = false, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    : Recurrent("rnn", 1, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, generator, dtype, device)
{
    readonly bool relu = nonlinearity switch
    {
        "tanh" => false,
        "relu" => true,
        _ => throw new OpArgumentException("rnn", $"rnn: nonlinearity must be \"tanh\" or \"relu\", got \"{nonlinearity}\""),
    };

    private protected override (Tensor H, Tensor? C) Step(Tensor xw, Tensor h, Tensor? c, Tensor whh, Tensor? bhh)
    {
        var a = xw + Tensor.Linear(h, whh, bhh);
        return (relu ? a.Relu() : a.Tanh(), null);
    }
}

/// <summary>
/// LSTM (torch.nn.LSTM), gates in PyTorch's order i, f, g, o: c' = σ(f)·c + σ(i)·tanh(g),
/// h' = σ(o)·tanh(c').
/// </summary>
public sealed class LSTM(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0, bool bidirectional = false, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    : Recurrent("lstm", 4, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, generator, dtype, device)
{
    private protected override bool HasCell => true;

    private protected override (Tensor H, Tensor? C) Step(Tensor xw, Tensor h, Tensor? c, Tensor whh, Tensor? bhh)
    {
        var a = xw + Tensor.Linear(h, whh, bhh);
        var cNew = Gate(a, 1).Sigmoid() * c! + Gate(a, 0).Sigmoid() * Gate(a, 2).Tanh();
        return (Gate(a, 3).Sigmoid() * cNew.Tanh(), cNew);
    }
}

/// <summary>
/// GRU (torch.nn.GRU), gates in PyTorch's order r, z, n: n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)),
/// h' = (1 − z)·n + z·h.
/// </summary>
public sealed class GRU(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0, bool bidirectional = false, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    : Recurrent("gru", 3, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, generator, dtype, device)
{
    private protected override (Tensor H, Tensor? C) Step(Tensor xw, Tensor h, Tensor? c, Tensor whh, Tensor? bhh)
    {
        var hw = Tensor.Linear(h, whh, bhh);
        var r = (Gate(xw, 0) + Gate(hw, 0)).Sigmoid();
        var z = (Gate(xw, 1) + Gate(hw, 1)).Sigmoid();
        var candidate = (Gate(xw, 2) + r * Gate(hw, 2)).Tanh();
        return ((1.0 - z) * candidate + z * h, null);
    }
}

/// <summary>A 1-D convolution layer over [N, C, L] (torch.nn.Conv1d), weights from U(−1/√(C/groups·k), 1/√(C/groups·k)).</summary>
public sealed class Conv1d : Module
{
    readonly int stride, padding, dilation, groups;

    /// <summary>A layer from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a kernel of <paramref name="kernel"/>.</summary>
    public Conv1d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 || dilation <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new OpArgumentException("conv1d", $"conv1d: channels {inChannels} → {outChannels} in {groups} groups, kernel {kernel}, stride {stride}, dilation {dilation} and padding {padding} do not make a layer");
        Layers.RequireFloat("conv1d", dtype);
        (this.stride, this.padding, this.dilation, this.groups) = (stride, padding, dilation, groups);
        double bound = Init.FanInBound((long)inChannels / groups * kernel);
        Weight = AddParameter("weight", Init.Uniform([outChannels, inChannels / groups, kernel], bound, dtype, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outChannels], bound, dtype, generator));
        Place(device);
    }

    /// <summary>[out, in/groups, k].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Tensor.Conv1d(Input(input), Weight.Value, Bias?.Value, stride, padding, dilation, groups);
}

/// <summary>A transposed 2-D convolution layer (torch.nn.ConvTranspose2d), weight [in, out/groups, k, k].</summary>
public sealed class ConvTranspose2d : Module
{
    readonly int stride, padding, outputPadding, dilation, groups;

    /// <summary>A layer from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a k×k kernel.</summary>
    public ConvTranspose2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, int outputPadding = 0, int groups = 1, bool bias = true, int dilation = 1, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 || outputPadding < 0 || dilation <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new OpArgumentException("conv_transpose2d", $"conv_transpose2d: channels {inChannels} → {outChannels} in {groups} groups, kernel {kernel}, stride {stride}, dilation {dilation}, padding {padding} and output padding {outputPadding} do not make a layer");
        Layers.RequireFloat("conv_transpose2d", dtype);
        if (outputPadding >= Math.Max(stride, dilation))
            throw new OpArgumentException("conv_transpose2d", $"conv_transpose2d: output padding {outputPadding} must be smaller than the stride {stride} or the dilation {dilation}");
        (this.stride, this.padding, this.outputPadding, this.dilation, this.groups) = (stride, padding, outputPadding, dilation, groups);
        // PyTorch's fan-in here is weight.size(1)·k·k: out/groups channels
        double bound = Init.FanInBound((long)outChannels / groups * kernel * kernel);
        Weight = AddParameter("weight", Init.Uniform([inChannels, outChannels / groups, kernel, kernel], bound, dtype, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outChannels], bound, dtype, generator));
        Place(device);
    }

    /// <summary>[in, out/groups, k, k].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) =>
        Tensor.ConvTranspose2d(Input(input), Weight.Value, Bias?.Value, [stride], [padding], [outputPadding], groups, [dilation]);
}

/// <summary>Average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d).</summary>
public sealed class AdaptiveAvgPool2d(int outH, int outW) : Module
{
    readonly int outH = outH > 0 && outW > 0 ? outH : throw new OpArgumentException("adaptive_avg_pool2d", $"adaptive_avg_pool2d: the output size must be positive, got {outH}×{outW}");

    /// <summary>A square output of <paramref name="size"/>.</summary>
    public AdaptiveAvgPool2d(int size) : this(size, size) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Input(input).AdaptiveAvgPool2d(outH, outW);
}

/// <summary>Resizing of [N, C, H, W] (torch.nn.Upsample): to a size or by a scale factor, nearest or bilinear.</summary>
public sealed class Upsample(int[]? size = null, double[]? scaleFactor = null, string mode = "nearest", bool alignCorners = false) : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Input(input).Interpolate(size, scaleFactor, mode, alignCorners);
}

/// <summary>The inverse of max pooling (torch.nn.MaxUnpool2d): call <see cref="Unpool"/> with the indices max pooling returned.</summary>
public sealed class MaxUnpool2d(int kernel, int? stride = null, int padding = 0) : Module
{
    readonly int kernel = kernel > 0 && stride is null or > 0 && padding >= 0 ? kernel
        : throw new OpArgumentException("max_unpool2d", $"max_unpool2d: kernel {kernel} and stride {stride} must be positive, padding {padding} 0 or more");

    /// <summary>Values put back at their indices, zeros elsewhere.</summary>
    public Tensor Unpool(Tensor input, Tensor indices, int[]? outputSize = null) =>
        Input(input).MaxUnpool2d(indices, [kernel], stride is int s ? [s] : null, [padding], outputSize);

    /// <summary>Refused: unpooling needs the indices (<see cref="Unpool"/>).</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("max_unpool2d: needs the indices max pooling returned; call Unpool(input, indices)");
}
