namespace Cotangent.Nn;

/// <summary>A dense layer: y = x·Wᵀ + b, W [out, in] and b [out] drawn from U(−1/√in, 1/√in) as PyTorch does.</summary>
public sealed class Linear : Module
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    {
        using var _ = OpCall.Enter("linear");
        if (inFeatures < 0 || outFeatures < 0)
            throw new OpArgumentException("linear", $"linear: in and out features must be 0 or more, got {inFeatures} and {outFeatures}");
        if (!dtype.IsFloating())
            throw new DTypeMismatchException("linear", $"linear: parameters are float32 or float64, not {dtype.Name()}");
        double bound = Init.FanInBound(inFeatures);
        Weight = AddParameter("weight", Init.Uniform([outFeatures, inFeatures], bound, dtype, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outFeatures], bound, dtype, generator));
        Place(device);
    }

    /// <summary>[out, in].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>x [.., in] to [.., out].</summary>
    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight.Value, Bias?.Value);
}

/// <summary>A 2-D convolution layer over [N, C, H, W], weights from U(−b, b), b = 1/√(C/groups·kh·kw).</summary>
public sealed class Conv2d : Module
{
    readonly int[] stride, padding, dilation;
    readonly int groups;

    /// <summary>
    /// A layer from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a k×k
    /// kernel; <paramref name="groups"/> splits the channels (groups = in channels: depthwise).
    /// </summary>
    public Conv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true, Generator? generator = null, int dilation = 1, int groups = 1, DType dtype = DType.Float32, Device? device = null)
        : this(inChannels, outChannels, (kernel, kernel), (stride, stride), (padding, padding), bias, generator, (dilation, dilation), groups, dtype, device) { }

    /// <summary>
    /// The same with a kernel, stride, padding and dilation per axis (height, width), as
    /// torch.nn.Conv2d's tuples; stride and dilation default to 1, padding to 0.
    /// </summary>
    public Conv2d(int inChannels, int outChannels, (int Height, int Width) kernel, (int Height, int Width)? stride = null, (int Height, int Width)? padding = null, bool bias = true, Generator? generator = null, (int Height, int Width)? dilation = null, int groups = 1, DType dtype = DType.Float32, Device? device = null)
    {
        using var _ = OpCall.Enter("conv2d");
        var (s, p, d) = (stride ?? (1, 1), padding ?? (0, 0), dilation ?? (1, 1));
        if (inChannels < 0 || outChannels < 0 || kernel.Height <= 0 || kernel.Width <= 0 || s.Height <= 0 || s.Width <= 0
            || p.Height < 0 || p.Width < 0 || d.Height <= 0 || d.Width <= 0)
            throw new OpArgumentException("conv2d", $"conv2d: channels {inChannels} → {outChannels} must be 0 or more, kernel {kernel}, stride {s} and dilation {d} positive, padding {p} 0 or more");
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new OpArgumentException("conv2d", $"conv2d: channels {inChannels} → {outChannels} do not split into {groups} groups");
        Layers.RequireFloat("conv2d", dtype);
        (this.stride, this.padding, this.dilation, this.groups) = ([s.Height, s.Width], [p.Height, p.Width], [d.Height, d.Width], groups);
        double bound = Init.FanInBound((long)inChannels / groups * kernel.Height * kernel.Width);
        Weight = AddParameter("weight", Init.Uniform([outChannels, inChannels / groups, kernel.Height, kernel.Width], bound, dtype, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outChannels], bound, dtype, generator));
        Place(device);
    }

    /// <summary>[out, in / groups, kh, kw].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>[N, in, H, W] to [N, out, H', W'].</summary>
    public override Tensor Forward(Tensor input)
    {
        using var _ = OpCall.Enter("conv2d", input);
        // one stride and padding for both axes, no dilation or groups: the fused kernels' entry point
        bool plain = groups == 1 && dilation[0] == 1 && dilation[1] == 1 && stride[0] == stride[1] && padding[0] == padding[1];
        return plain
            ? Tensor.Conv2d(input, Weight.Value, Bias?.Value, stride[0], padding[0])
            : Tensor.Conv2d(input, Weight.Value, Bias?.Value, stride, padding, dilation, groups);
    }
}

/// <summary>Max over k×k windows, with padding, dilation and ceil_mode as torch.nn.MaxPool2d.</summary>
public sealed class MaxPool2d(int kernel, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    readonly int kernel = Pooling.Check("max_pool2d", kernel, stride);

    /// <summary>[N, C, H, W] to [N, C, H', W'].</summary>
    public override Tensor Forward(Tensor input) => padding == 0 && dilation == 1 && !ceilMode
        ? Input(input).MaxPool2d(kernel, stride)
        : Input(input).MaxPool2d([kernel], stride is int s ? [s] : null, [padding], [dilation], ceilMode);

    /// <summary>The maxima and their flat indices (h·W + w in each plane), for <see cref="MaxUnpool2d"/>.</summary>
    public (Tensor Values, Tensor Indices) ForwardWithIndices(Tensor input) =>
        Input(input).MaxPool2dWithIndices([kernel], stride is int s ? [s] : null, [padding], [dilation], ceilMode);
}

/// <summary>Mean over k×k windows, with zero padding (counted or not) and ceil_mode as torch.nn.AvgPool2d.</summary>
public sealed class AvgPool2d(int kernel, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    readonly int kernel = Pooling.Check("avg_pool2d", kernel, stride);

    /// <summary>[N, C, H, W] to [N, C, H', W'].</summary>
    public override Tensor Forward(Tensor input) => padding == 0 && !ceilMode
        ? Input(input).AvgPool2d(kernel, stride)
        : Input(input).AvgPool2d([kernel], stride is int s ? [s] : null, [padding], ceilMode, countIncludePad);
}

/// <summary>Inverted dropout with probability p in training mode; the identity in evaluation mode.</summary>
public sealed class Dropout(double p, Generator? generator = null) : Module
{
    readonly double p = Tensor.CheckDropout(p);

    /// <summary>Drops elements while <see cref="Module.Training"/>.</summary>
    public override Tensor Forward(Tensor input) => Input(input).Dropout(p, Training, generator);
}

/// <summary>
/// Batch normalisation (torch.nn.BatchNorm1d/2d): per channel (axis 1), (x − mean)/√(var + eps)
/// with the batch's mean and biased variance while training, then γ·x̂ + β when affine. Training
/// also updates the running statistics, buffers named as PyTorch's: running_mean and
/// running_var (the batch's unbiased variance) by running ← (1 − momentum)·running +
/// momentum·batch, or as a cumulative average when momentum is null, and num_batches_tracked.
/// Evaluation normalises with the running statistics (or the batch's, without tracking).
/// </summary>
public abstract class BatchNorm : Module
{
    readonly string op;
    readonly int[] ranks;
    readonly double eps;
    readonly double? momentum;

    private protected BatchNorm(string op, int[] ranks, int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats, DType dtype, Device? device = null)
    {
        this.op = op;
        this.ranks = ranks;
        if (numFeatures <= 0) throw new OpArgumentException(op, $"{op}: numFeatures must be positive, got {numFeatures}");
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new OpArgumentException(op, $"{op}: eps must be a finite number 0 or more, got {eps}");
        if (momentum is double m && !(m >= 0 && m <= 1)) throw new OpArgumentException(op, $"{op}: momentum must lie in [0, 1] (or be null for a cumulative average), got {m}");
        if (!dtype.IsFloating()) throw new DTypeMismatchException(op, $"{op}: parameters are float32 or float64, not {dtype.Name()}");
        NumFeatures = numFeatures;
        this.eps = eps;
        this.momentum = momentum;
        if (affine)
        {
            Weight = AddParameter("weight", Tensor.Ones([numFeatures], dtype));
            Bias = AddParameter("bias", Tensor.Zeros([numFeatures], dtype));
        }
        if (trackRunningStats)
        {
            RunningMean = AddBuffer("running_mean", Tensor.Zeros([numFeatures], dtype));
            RunningVar = AddBuffer("running_var", Tensor.Ones([numFeatures], dtype));
            NumBatchesTracked = AddBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int64));
        }
        Place(device);
    }

    /// <summary>The number of channels C.</summary>
    public int NumFeatures { get; }
    /// <summary>The scale γ (ones), or null when not affine.</summary>
    public Parameter? Weight { get; }
    /// <summary>The shift β (zeros), or null when not affine.</summary>
    public Parameter? Bias { get; }
    /// <summary>The running mean per channel, or null without tracking.</summary>
    public Buffer? RunningMean { get; }
    /// <summary>The running (unbiased) variance per channel, or null without tracking.</summary>
    public Buffer? RunningVar { get; }
    /// <summary>How many training batches have updated the running statistics (int64), or null without tracking.</summary>
    public Buffer? NumBatchesTracked { get; }

    /// <summary>Normalises each channel of [N, C, ...].</summary>
    public override Tensor Forward(Tensor input)
    {
        using var _ = OpCall.Enter(op, input);
        var x = Input(input);
        // the state's device before anything is computed or counted
        if ((Weight?.Value ?? RunningMean?.Value) is { } state && state.Device != x.Device)
            throw new DeviceMismatchException(op, $"{op}: the input is on {x.Device} but the layer's parameters and buffers are on {state.Device}; move one with To(device)");
        if (Array.IndexOf(ranks, x.Rank) < 0 || x.Size(1) != NumFeatures)
            throw new ShapeMismatchException(op, $"{op}: expects {string.Join(" or ", ranks.Select(r => r == 2 ? "[N, C]" : r == 3 ? "[N, C, L]" : "[N, C, H, W]"))} with C = {NumFeatures}, got {ShapeMath.Format(x.Shape)}");
        var dtype = (Weight?.Value ?? RunningMean?.Value)?.DType;
        if (dtype is { } t && x.DType != t) throw new DTypeMismatchException(op, $"{op}: input is {x.DType.Name()}, the layer's state {t.Name()}; convert one to the other");
        var along = Enumerable.Range(0, x.Rank).Select(a => a == 1 ? NumFeatures : 1).ToArray();
        if (Training || RunningMean is null)
        {
            long n = x.Numel / NumFeatures;
            if (Training && n <= 1)
                throw new ShapeMismatchException(op, $"{op}: expected more than 1 value per channel when training, got input {ShapeMath.Format(x.Shape)}");
            if (n == 1)
            {
                // evaluation without running statistics on one value a channel: x̂ = 0, as PyTorch
                var zero = (x - x.Detach()) * 0.0;
                return Weight is null ? zero : zero * Weight.Value.Reshape(along) + Bias!.Value.Reshape(along);
            }
            // one fused op (where the backend has it) that also gives the statistics
            var y = Tensor.BatchNorm(x, Weight?.Value, Bias?.Value, eps, out var mean, out var variance);
            if (Training && RunningMean is not null) Track(mean, variance, n);
            return y;
        }
        var normalised = (x - RunningMean.Value.Reshape(along)) / (RunningVar!.Value.Reshape(along) + eps).Sqrt();
        return Weight is null ? normalised : normalised * Weight.Value.Reshape(along) + Bias!.Value.Reshape(along);
    }

    void Track(Tensor mean, Tensor variance, long n)
    {
        using var _ = Autograd.NoGrad();
        var count = NumBatchesTracked!.Value + 1L;
        NumBatchesTracked.Assign(count);
        double m = momentum ?? 1.0 / count.Item<long>();
        var unbiased = variance.Detach().Reshape(NumFeatures) * ((double)n / (n - 1));
        RunningMean!.Assign(RunningMean.Value * (1 - m) + mean.Detach().Reshape(NumFeatures) * m);
        RunningVar!.Assign(RunningVar.Value * (1 - m) + unbiased * m);
    }
}

/// <summary>Batch normalisation of [N, C] or [N, C, L] (torch.nn.BatchNorm1d).</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32, Device? device = null)
    : BatchNorm("batch_norm1d", [2, 3], numFeatures, eps, momentum, affine, trackRunningStats, dtype, device);

/// <summary>Batch normalisation of [N, C, H, W] (torch.nn.BatchNorm2d).</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32, Device? device = null)
    : BatchNorm("batch_norm2d", [4], numFeatures, eps, momentum, affine, trackRunningStats, dtype, device);

/// <summary>Layer normalisation over the trailing axes of a given shape, with learnt scale γ (ones) and shift β (zeros).</summary>
public sealed class LayerNorm : Module
{
    readonly int rank;
    readonly double eps;

    /// <summary>Normalises over trailing axes of the given shape.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, DType dtype = DType.Float32, Device? device = null)
    {
        Layers.RequireFloat("layer_norm", dtype);
        if (normalizedShape is null || normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new OpArgumentException("layer_norm", $"layer_norm: the normalised shape must be one or more positive sizes, got {ShapeMath.Format(normalizedShape ?? [])}");
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new OpArgumentException("layer_norm", $"layer_norm: eps must be a finite number 0 or more, got {eps}");
        rank = normalizedShape.Length;
        this.eps = eps;
        Gamma = AddParameter("weight", Tensor.Ones(normalizedShape, dtype));
        Beta = AddParameter("bias", Tensor.Zeros(normalizedShape, dtype));
        Place(device);
    }

    /// <summary>The scale γ.</summary>
    public Parameter Gamma { get; }
    /// <summary>The shift β.</summary>
    public Parameter Beta { get; }

    /// <summary>Normalises the trailing axes.</summary>
    public override Tensor Forward(Tensor input)
    {
        if (Input(input).Rank < rank || !ShapeMath.SameShape(input.Shape[^rank..], Gamma.Shape))
            throw new ShapeMismatchException("layer_norm", $"layer_norm: input {ShapeMath.Format(input.Shape)} does not end in the normalised shape {ShapeMath.Format(Gamma.Shape)}");
        return Tensor.LayerNorm(input, rank, Gamma.Value, Beta.Value, eps);
    }
}

/// <summary>A lookup table of <c>count</c> vectors of size <c>dim</c>, initialised N(0, 1).</summary>
public sealed class Embedding : Module
{
    /// <summary>A table of count × dim.</summary>
    public Embedding(int count, int dim, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
    {
        Layers.RequireFloat("embedding", dtype);
        using var _ = OpCall.Enter("embedding");
        if (count < 0 || dim < 0)
            throw new OpArgumentException("embedding", $"embedding: count and dim must be 0 or more, got {count} and {dim}");
        Weight = AddParameter("weight", Tensor.Randn([count, dim], dtype, generator));
        Place(device);
    }

    /// <summary>[count, dim].</summary>
    public Parameter Weight { get; }

    /// <summary>int64 indices of any shape to vectors: shape ++ [dim].</summary>
    public override Tensor Forward(Tensor input)
    {
        using var _ = OpCall.Enter("embedding", input);
        if (input.DType != DType.Int64)
            throw new DTypeMismatchException("embedding", $"embedding: indices must be int64, got {input.DType.Name()} {ShapeMath.Format(input.Shape)}");
        return Weight.Value.IndexSelect(0, input.Flatten()).Reshape([.. input.Shape, Weight.Shape[1]]);
    }
}

/// <summary>Modules applied in order; children are named "0", "1", ...</summary>
public sealed class Sequential : Module
{
    readonly Module[] layers;

    /// <summary>The layers, in order.</summary>
    public Sequential(params Module[] layers)
    {
        if (layers is null || layers.Any(l => l is null)) throw new ArgumentException("sequential: the layers (or one of them) are null");
        this.layers = layers;
        for (int i = 0; i < layers.Length; i++) AddModule(i.ToString(), layers[i]);
    }

    /// <summary>Runs the layers in order.</summary>
    public override Tensor Forward(Tensor input) => layers.Aggregate(Input(input), (x, m) => m.Forward(x));
}

/// <summary>An elementwise function as a module: <c>new Activation(x => x.Relu())</c>, or the named ones below.</summary>
public class Activation(Func<Tensor, Tensor> f) : Module
{
    readonly Func<Tensor, Tensor> f = f ?? throw new ArgumentNullException(nameof(f), "activation: the function is null");

    /// <summary>Applies the function.</summary>
    public override Tensor Forward(Tensor input) => f(Input(input));
}

/// <summary>max(x, 0).</summary>
public sealed class ReLU() : Activation(x => x.Relu());
/// <summary>tanh x.</summary>
public sealed class Tanh() : Activation(x => x.Tanh());
/// <summary>σ(x).</summary>
public sealed class Sigmoid() : Activation(x => x.Sigmoid());
/// <summary>x·Φ(x).</summary>
public sealed class GELU() : Activation(x => x.Gelu());
/// <summary>All axes from 1 on flattened: [N, ...] to [N, rest].</summary>
public sealed class Flatten() : Activation(x =>
{
    if (x.Rank == 0) throw new ShapeMismatchException("flatten", "flatten: a 0-d tensor has no batch axis to keep");
    return x.Reshape(x.Size(0), ShapeMath.Numel(x.Shape.AsSpan(1)));
});

/// <summary>Checks shared by the pooling layers.</summary>
internal static class Pooling
{
    public static int Check(string op, int kernel, int? stride)
    {
        if (kernel <= 0 || stride is <= 0)
            throw new OpArgumentException(op, $"{op}: the kernel size ({kernel}) and stride ({stride?.ToString() ?? "the kernel size"}) must be positive");
        return kernel;
    }
}

/// <summary>Parameter initialisers.</summary>
public static class Init
{
    /// <summary>Values uniform in [−bound, bound).</summary>
    public static Tensor Uniform(int[] shape, double bound, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (!double.IsFinite(bound) || bound < 0 || (dtype == DType.Float32 && bound > float.MaxValue))
            throw new OpArgumentException("uniform", $"uniform: the bound must be a finite number 0 or more{(dtype == DType.Float32 ? ", within float32's range" : "")}, got {bound}");
        // (2u − 1)·b rather than 2b·u − b: 2b overflows for b near double's range
        return (Tensor.Rand(shape, dtype, generator) * 2.0 - 1.0) * bound;
    }

    /// <summary>
    /// PyTorch's default bound 1/√fan_in for a layer's weights and bias; 0 when fan_in is 0
    /// (a layer with no inputs), where 1/√0 would fill it with NaN.
    /// </summary>
    public static double FanInBound(long fanIn) => fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
}
