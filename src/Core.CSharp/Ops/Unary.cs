using Cotangent.Backends;

namespace Cotangent;

/// <summary>Elementwise unary ops: forward kernel and VJP rule side by side.</summary>
public sealed partial class Tensor
{
    Tensor Unary(string op, UnaryKind kind, VjpRule? rule, bool intsToo = false)
    {
        using var _ = OpCall.Enter(op, this);
        if (!intsToo || DType == DType.Bool) RequireFloat(op);
        return Result(op, Kernels.Unary(kind, View), shape, [this], rule);
    }

    /// <summary>−x. Linear: the cotangent passes negated.</summary>
    [Op("neg")]
    public Tensor Neg() => Unary("neg", UnaryKind.Neg, (_, g, _, _) => -g, intsToo: true);

    /// <summary>eˣ. d/dx = eˣ, read from the output.</summary>
    [Op("exp")]
    public Tensor Exp() => Unary("exp", UnaryKind.Exp, (_, g, _, y) => g * y);

    /// <summary>Natural log. d/dx = 1/x.</summary>
    [Op("log")]
    public Tensor Log() => Unary("log", UnaryKind.Log, (_, g, x, _) => g / x[0]);

    /// <summary>√x. d/dx = 1/(2√x), read from the output.</summary>
    [Op("sqrt")]
    public Tensor Sqrt() => Unary("sqrt", UnaryKind.Sqrt, (_, g, _, y) => g * 0.5 / y);

    /// <summary>|x|. d/dx = sign x (0 at 0, as PyTorch).</summary>
    [Op("abs")]
    public Tensor Abs() => Unary("abs", UnaryKind.Abs, (_, g, x, _) => g * x[0].Sign(), intsToo: true);

    /// <summary>sin x. d/dx = cos x.</summary>
    [Op("sin")]
    public Tensor Sin() => Unary("sin", UnaryKind.Sin, (_, g, x, _) => g * x[0].Cos());

    /// <summary>cos x. d/dx = −sin x.</summary>
    [Op("cos")]
    public Tensor Cos() => Unary("cos", UnaryKind.Cos, (_, g, x, _) => -(g * x[0].Sin()));

    /// <summary>tanh x. d/dx = 1 − tanh² x, read from the output.</summary>
    [Op("tanh")]
    public Tensor Tanh() => Unary("tanh", UnaryKind.Tanh, (_, g, _, y) => g * (1.0 - y * y));

    /// <summary>σ(x) = 1/(1 + e⁻ˣ). d/dx = σ(1 − σ), read from the output.</summary>
    [Op("sigmoid")]
    public Tensor Sigmoid() => Unary("sigmoid", UnaryKind.Sigmoid, (_, g, _, y) => g * y * (1.0 - y));

    /// <summary>max(x, 0). d/dx = 1 where x &gt; 0, else 0.</summary>
    [Op("relu")]
    public Tensor Relu() => Unary("relu", UnaryKind.Relu, (_, g, x, _) => ReluBackward(g, x[0]), intsToo: true);

    /// <summary>
    /// ReLU's pullback: <paramref name="g"/> where <paramref name="x"/> &gt; 0, else 0 (torch's
    /// threshold_backward). A primitive for speed: one pass, where where(x &gt; 0, g, 0) takes a
    /// compare, a bool mask and a select. Linear in g; piecewise constant in x, so x gets no gradient.
    /// </summary>
    [Op("relu_backward")]
    public static Tensor ReluBackward(Tensor g, Tensor x) =>
        Binary("relu_backward", BinaryKind.ReluGrad, g, x, (i, gg, xs, _) => i == 0 ? ReluBackward(gg, xs[1]) : null);

    /// <summary>log(1 + eˣ), computed without overflow. d/dx = σ(x).</summary>
    [Op("softplus")]
    public Tensor Softplus() => Unary("softplus", UnaryKind.Softplus, (_, g, x, _) => g * x[0].Sigmoid());

    /// <summary>x·Φ(x) with the exact normal CDF Φ. d/dx = Φ(x) + x·φ(x), one fused pass (<see cref="GeluBackward"/>).</summary>
    [Op("gelu")]
    public Tensor Gelu() => Unary("gelu", UnaryKind.Gelu, (_, g, x, _) => GeluBackward(g, x[0]));

    /// <summary>
    /// gelu's pullback g·(Φ(x) + x·φ(x)) as one primitive (one pass instead of nine ops). Its own
    /// VJP: ∂/∂g = Φ(x) + x·φ(x), ∂/∂x = g·φ(x)·(2 − x²), so second derivatives go through it too.
    /// </summary>
    [Op("gelu_backward")]
    public static Tensor GeluBackward(Tensor g, Tensor x)
    {
        using var _ = OpCall.Enter("gelu_backward", g, x);
        g.RequireFloat("gelu_backward");
        x.RequireFloat("gelu_backward");
        return Binary("gelu_backward", BinaryKind.GeluGrad, g, x, (i, u, xs, _) =>
        {
            var z = xs[1];
            if (i == 0) return GeluBackward(u, z);
            var pdf = (z * z * -0.5).Exp() * (1 / Math.Sqrt(2 * Math.PI));
            return u * xs[0] * pdf * (2.0 - z * z);
        });
    }

    /// <summary>The error function. d/dx = 2/√π · e^(−x²).</summary>
    [Op("erf")]
    public Tensor Erf() => Unary("erf", UnaryKind.Erf, (_, g, x, _) => g * (x[0] * x[0]).Neg().Exp() * (2 / Math.Sqrt(Math.PI)));

    // Static forms, so F#'s built-in exp, log, sqrt, abs, sin, cos and tanh apply to tensors.
    /// <summary>eˣ elementwise.</summary>
    public static Tensor Exp(Tensor x) => x.Exp();
    /// <summary>Natural log elementwise.</summary>
    public static Tensor Log(Tensor x) => x.Log();
    /// <summary>√x elementwise.</summary>
    public static Tensor Sqrt(Tensor x) => x.Sqrt();
    /// <summary>|x| elementwise.</summary>
    public static Tensor Abs(Tensor x) => x.Abs();
    /// <summary>sin x elementwise.</summary>
    public static Tensor Sin(Tensor x) => x.Sin();
    /// <summary>cos x elementwise.</summary>
    public static Tensor Cos(Tensor x) => x.Cos();
    /// <summary>tanh x elementwise.</summary>
    public static Tensor Tanh(Tensor x) => x.Tanh();

    /// <summary>−1, 0 or 1 by the sign of x. Piecewise constant: no gradient.</summary>
    [Op("sign", OpKind.NonDifferentiable)]
    public Tensor Sign() => Unary("sign", UnaryKind.Sign, null, intsToo: true);
}
