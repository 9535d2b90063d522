namespace Cotangent.Nn;

/// <summary>A dense layer: y = x·Wᵀ + b, W [out, in] and b [out] drawn from U(−1/√in, 1/√in) as PyTorch does.</summary>
public sealed class Linear : Module
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null, DType dtype = DType.Float32)
    {
        double bound = 1 / Math.Sqrt(inFeatures);
        Weight = AddParameter("weight", Init.Uniform([outFeatures, inFeatures], bound, dtype, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outFeatures], bound, dtype, generator));
    }

    /// <summary>[out, in].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>x [.., in] to [.., out].</summary>
    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight.Value, Bias?.Value);
}

/// <summary>A 2-D convolution layer over [N, C, H, W], weights from U(−1/√(C·k·k), 1/√(C·k·k)).</summary>
public sealed class Conv2d : Module
{
    readonly int stride, padding;

    /// <summary>A layer from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a k×k kernel.</summary>
    public Conv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true, Generator? generator = null)
    {
        this.stride = stride;
        this.padding = padding;
        double bound = 1 / Math.Sqrt(inChannels * kernel * kernel);
        Weight = AddParameter("weight", Init.Uniform([outChannels, inChannels, kernel, kernel], bound, DType.Float32, generator));
        if (bias) Bias = AddParameter("bias", Init.Uniform([outChannels], bound, DType.Float32, generator));
    }

    /// <summary>[out, in, k, k].</summary>
    public Parameter Weight { get; }
    /// <summary>[out], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>[N, in, H, W] to [N, out, H', W'].</summary>
    public override Tensor Forward(Tensor input) => Tensor.Conv2d(input, Weight.Value, Bias?.Value, stride, padding);
}

/// <summary>Max over k×k windows.</summary>
public sealed class MaxPool2d(int kernel, int? stride = null) : Module
{
    /// <summary>[N, C, H, W] to [N, C, H/k, W/k].</summary>
    public override Tensor Forward(Tensor input) => input.MaxPool2d(kernel, stride);
}

/// <summary>Mean over k×k windows.</summary>
public sealed class AvgPool2d(int kernel, int? stride = null) : Module
{
    /// <summary>[N, C, H, W] to [N, C, H/k, W/k].</summary>
    public override Tensor Forward(Tensor input) => input.AvgPool2d(kernel, stride);
}

/// <summary>Inverted dropout with probability p in training mode; the identity in evaluation mode.</summary>
public sealed class Dropout(double p, Generator? generator = null) : Module
{
    /// <summary>Drops elements while <see cref="Module.Training"/>.</summary>
    public override Tensor Forward(Tensor input) => input.Dropout(p, Training, generator);
}

/// <summary>Layer normalisation over the trailing axes of a given shape, with learnt scale γ (ones) and shift β (zeros).</summary>
public sealed class LayerNorm : Module
{
    readonly int rank;
    readonly double eps;

    /// <summary>Normalises over trailing axes of the given shape.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5)
    {
        rank = normalizedShape.Length;
        this.eps = eps;
        Gamma = AddParameter("weight", Tensor.Ones(normalizedShape));
        Beta = AddParameter("bias", Tensor.Zeros(normalizedShape));
    }

    /// <summary>The scale γ.</summary>
    public Parameter Gamma { get; }
    /// <summary>The shift β.</summary>
    public Parameter Beta { get; }

    /// <summary>Normalises the trailing axes.</summary>
    public override Tensor Forward(Tensor input)
    {
        var trailing = input.Shape[^rank..];
        if (!ShapeMath.SameShape(trailing, Gamma.Shape))
            throw new ShapeMismatchException("layer_norm", $"layer_norm: input {ShapeMath.Format(input.Shape)} does not end in the normalised shape {ShapeMath.Format(Gamma.Shape)}");
        return Tensor.LayerNorm(input, rank, Gamma.Value, Beta.Value, eps);
    }
}

/// <summary>A lookup table of <c>count</c> vectors of size <c>dim</c>, initialised N(0, 1).</summary>
public sealed class Embedding : Module
{
    /// <summary>A table of count × dim.</summary>
    public Embedding(int count, int dim, Generator? generator = null)
    {
        Weight = AddParameter("weight", Tensor.Randn([count, dim], DType.Float32, generator));
    }

    /// <summary>[count, dim].</summary>
    public Parameter Weight { get; }

    /// <summary>int64 indices of any shape to vectors: shape ++ [dim].</summary>
    public override Tensor Forward(Tensor input) =>
        Weight.Value.IndexSelect(0, input.Flatten()).Reshape([.. input.Shape, Weight.Shape[1]]);
}

/// <summary>Modules applied in order; children are named "0", "1", ...</summary>
public sealed class Sequential : Module
{
    readonly Module[] layers;

    /// <summary>The layers, in order.</summary>
    public Sequential(params Module[] layers)
    {
        this.layers = layers;
        for (int i = 0; i < layers.Length; i++) AddModule(i.ToString(), layers[i]);
    }

    /// <summary>Runs the layers in order.</summary>
    public override Tensor Forward(Tensor input) => layers.Aggregate(input, (x, m) => m.Forward(x));
}

/// <summary>An elementwise function as a module: <c>new Activation(x => x.Relu())</c>, or the named ones below.</summary>
public class Activation(Func<Tensor, Tensor> f) : Module
{
    /// <summary>Applies the function.</summary>
    public override Tensor Forward(Tensor input) => f(input);
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
public sealed class Flatten() : Activation(x => x.Reshape(x.Shape[0], -1));

/// <summary>Parameter initialisers.</summary>
public static class Init
{
    /// <summary>Values uniform in [−bound, bound).</summary>
    public static Tensor Uniform(int[] shape, double bound, DType dtype = DType.Float32, Generator? generator = null) =>
        Tensor.Rand(shape, dtype, generator) * (2 * bound) - bound;
}
