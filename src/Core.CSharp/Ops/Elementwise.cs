using Cotangent.Backends;

namespace Cotangent;

/// <summary>
/// The rest of PyTorch's elementwise vocabulary (issue 15): inverse and hyperbolic
/// trigonometry, log1p/expm1, rounding, atan2/hypot/fmod/remainder as primitives with kernels
/// on every backend; the activations, clamp, lerp, nan_to_num, the float-class tests and the
/// logical ops as compositions of those, so their gradients follow from their parts'. Formulas
/// are the ones PyTorch documents.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>log(1 + x), accurate where x is tiny (log(1 + 1e−20) is 1e−20, not 0). d/dx = 1/(1 + x).</summary>
    [Op("log1p")]
    public Tensor Log1p() => Unary("log1p", UnaryKind.Log1p, (_, g, x, _) => g / (x[0] + 1.0));

    /// <summary>eˣ − 1, accurate where x is tiny. d/dx = eˣ, read from the output as y + 1.</summary>
    [Op("expm1")]
    public Tensor Expm1() => Unary("expm1", UnaryKind.Expm1, (_, g, _, y) => g * (y + 1.0));

    /// <summary>tan x. d/dx = 1 + tan² x, read from the output.</summary>
    [Op("tan")]
    public Tensor Tan() => Unary("tan", UnaryKind.Tan, (_, g, _, y) => g * (y * y + 1.0));

    /// <summary>arcsin x on [−1, 1] (NaN outside). d/dx = 1/√(1 − x²).</summary>
    [Op("asin")]
    public Tensor Asin() => Unary("asin", UnaryKind.Asin, (_, g, x, _) => g / (1.0 - x[0] * x[0]).Sqrt());

    /// <summary>arccos x on [−1, 1] (NaN outside). d/dx = −1/√(1 − x²).</summary>
    [Op("acos")]
    public Tensor Acos() => Unary("acos", UnaryKind.Acos, (_, g, x, _) => -(g / (1.0 - x[0] * x[0]).Sqrt()));

    /// <summary>arctan x. d/dx = 1/(1 + x²).</summary>
    [Op("atan")]
    public Tensor Atan() => Unary("atan", UnaryKind.Atan, (_, g, x, _) => g / (x[0] * x[0] + 1.0));

    /// <summary>sinh x. d/dx = cosh x.</summary>
    [Op("sinh")]
    public Tensor Sinh() => Unary("sinh", UnaryKind.Sinh, (_, g, x, _) => g * x[0].Cosh());

    /// <summary>cosh x. d/dx = sinh x.</summary>
    [Op("cosh")]
    public Tensor Cosh() => Unary("cosh", UnaryKind.Cosh, (_, g, x, _) => g * x[0].Sinh());

    /// <summary>⌊x⌋; integers are returned as they are. Piecewise constant: no gradient.</summary>
    [Op("floor", OpKind.NonDifferentiable)]
    public Tensor Floor() => Unary("floor", UnaryKind.Floor, null, intsToo: true);

    /// <summary>⌈x⌉; integers are returned as they are. Piecewise constant: no gradient.</summary>
    [Op("ceil", OpKind.NonDifferentiable)]
    public Tensor Ceil() => Unary("ceil", UnaryKind.Ceil, null, intsToo: true);

    /// <summary>x rounded to the nearest integer, halves to even (torch.round: 0.5 → 0, 1.5 → 2, 2.5 → 2). No gradient.</summary>
    [Op("round", OpKind.NonDifferentiable)]
    public Tensor Round() => Unary("round", UnaryKind.Round, null, intsToo: true);

    /// <summary>x rounded towards zero. Piecewise constant: no gradient.</summary>
    [Op("trunc", OpKind.NonDifferentiable)]
    public Tensor Trunc() => Unary("trunc", UnaryKind.Trunc, null, intsToo: true);

    /// <summary>Float operands as they are; two integer operands as float32 (torch's true-division promotion).</summary>
    static (Tensor, Tensor) AsFloats(string op, Tensor a, Tensor b)
    {
        if (a is null || b is null) throw new OpArgumentException(op, $"{op}: an operand is null");
        SameDevice(op, a, b);
        return a.DType.IsFloating() || b.DType.IsFloating() ? (a, b) : (a.To(DType.Float32), b.To(DType.Float32));
    }

    /// <summary>
    /// atan2(a, b): the angle of the point (b, a) in (−π, π], broadcasting.
    /// ∂/∂a = b/(a² + b²), ∂/∂b = −a/(a² + b²).
    /// </summary>
    [Op("atan2")]
    public static Tensor Atan2(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("atan2", a, b);
        (a, b) = AsFloats("atan2", a, b);
        return Binary("atan2", BinaryKind.Atan2, a, b, (i, g, x, _) =>
        {
            var r2 = x[0] * x[0] + x[1] * x[1];
            return i == 0 ? g * x[1] / r2 : -(g * x[0] / r2);
        });
    }

    /// <summary>√(a² + b²) without overflow in the squares (hypot(1e200, 1e200) is finite). ∂/∂a = a/h, ∂/∂b = b/h.</summary>
    [Op("hypot")]
    public static Tensor Hypot(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("hypot", a, b);
        (a, b) = AsFloats("hypot", a, b);
        return Binary("hypot", BinaryKind.Hypot, a, b, (i, g, x, y) => g * x[i] / y);
    }

    /// <summary>
    /// C's fmod (torch.fmod): a − trunc(a/b)·b, exact, with the sign of a. int64 operands stay
    /// int64 (a zero divisor is an error). ∂/∂a = 1, ∂/∂b = −trunc(a/b).
    /// </summary>
    [Op("fmod")]
    public static Tensor Fmod(Tensor a, Tensor b) => Modulo("fmod", BinaryKind.Fmod, a, b);

    /// <summary>
    /// Python's a mod b (torch.remainder): a − ⌊a/b⌋·b, exact, with the sign of b. int64 operands
    /// stay int64 (a zero divisor is an error). ∂/∂a = 1, ∂/∂b = −⌊a/b⌋.
    /// </summary>
    [Op("remainder")]
    public static Tensor Remainder(Tensor a, Tensor b) => Modulo("remainder", BinaryKind.Remainder, a, b);

    /// <summary>fmod by a number.</summary>
    public static Tensor Fmod(Tensor a, double b) => Fmod(a, Lift(b, a, "fmod"));

    /// <summary>remainder by a number.</summary>
    public static Tensor Remainder(Tensor a, double b) => Remainder(a, Lift(b, a, "remainder"));

    static Tensor Modulo(string op, BinaryKind kind, Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter(op, a, b);
        (a, b) = Common(op, a, b);
        if (a.DType == DType.Bool) throw new DTypeMismatchException(op, $"{op}: not defined for bool tensors; cast with .To(DType.Int64) or a float dtype");
        if (a.DType == DType.Int64)
        {
            // exact in integers: remainder = a − (a // b)·b; fmod moves it to a's sign
            var rem = a - FloorDivide(a, b) * b;
            if (kind == BinaryKind.Remainder) return rem;
            return Where(And(rem.Ne(0L), rem.Lt(0L).Ne(a.Lt(0L))), rem - b, rem);
        }
        return Binary(op, kind, a, b, (i, g, x, _) =>
        {
            if (i == 0) return g;
            var q = x[0] / x[1];
            return -(g * (kind == BinaryKind.Fmod ? q.Trunc() : q.Floor()));
        });
    }

    // ---- compositions -----------------------------------------------------------------

    /// <summary>x² (torch.square).</summary>
    [Op("square", OpKind.Composite)]
    public Tensor Square()
    {
        using var _ = OpCall.Enter("square", this);
        return this * this;
    }

    /// <summary>1/√x (torch.rsqrt).</summary>
    [Op("rsqrt", OpKind.Composite)]
    public Tensor Rsqrt()
    {
        using var _ = OpCall.Enter("rsqrt", this);
        return 1.0 / Sqrt();
    }

    /// <summary>1/x (torch.reciprocal); integers divide as float32.</summary>
    [Op("reciprocal", OpKind.Composite)]
    public Tensor Reciprocal()
    {
        using var _ = OpCall.Enter("reciprocal", this);
        return 1.0 / this;
    }

    /// <summary>SiLU (swish): x·σ(x).</summary>
    [Op("silu", OpKind.Composite)]
    public Tensor Silu()
    {
        using var _ = OpCall.Enter("silu", this);
        RequireFloat("silu");
        return this * Sigmoid();
    }

    /// <summary>Mish: x·tanh(softplus(x)).</summary>
    [Op("mish", OpKind.Composite)]
    public Tensor Mish()
    {
        using var _ = OpCall.Enter("mish", this);
        RequireFloat("mish");
        return this * Softplus().Tanh();
    }

    /// <summary>log σ(x) = −softplus(−x), finite for every x (log of a computed σ would give −∞ below −104 in float32).</summary>
    [Op("logsigmoid", OpKind.Composite)]
    public Tensor LogSigmoid()
    {
        using var _ = OpCall.Enter("logsigmoid", this);
        RequireFloat("logsigmoid");
        return -(-this).Softplus();
    }

    /// <summary>x where x &gt; 0, else slope·x (torch's default slope 0.01).</summary>
    [Op("leaky_relu", OpKind.Composite)]
    public Tensor LeakyRelu(double negativeSlope = 0.01)
    {
        using var _ = OpCall.Enter("leaky_relu", this);
        RequireFloat("leaky_relu");
        return Where(Gt(0.0), this, this * negativeSlope);
    }

    /// <summary>
    /// ELU: x where x &gt; 0, else α·(eˣ − 1). The exponential is taken of min(x, 0) only, so a
    /// large positive x cannot put ∞·0 = NaN into the gradient of the branch not taken.
    /// </summary>
    [Op("elu", OpKind.Composite)]
    public Tensor Elu(double alpha = 1.0)
    {
        using var _ = OpCall.Enter("elu", this);
        RequireFloat("elu");
        var positive = Gt(0.0);
        return Where(positive, this, Where(positive, 0.0, this).Expm1() * alpha);
    }

    /// <summary>SELU: scale·elu(x, α) with PyTorch's constants α = 1.6732632423543772, scale = 1.0507009873554805.</summary>
    [Op("selu", OpKind.Composite)]
    public Tensor Selu()
    {
        using var _ = OpCall.Enter("selu", this);
        return Elu(1.6732632423543772848170429916717) * 1.0507009873554804934193349852946;
    }

    /// <summary>x clamped to [min, max] (torch's defaults −1, 1).</summary>
    [Op("hardtanh", OpKind.Composite)]
    public Tensor Hardtanh(double min = -1.0, double max = 1.0)
    {
        using var _ = OpCall.Enter("hardtanh", this);
        RequireFloat("hardtanh");
        if (!(min <= max)) throw new OpArgumentException("hardtanh", $"hardtanh: min {min} must not exceed max {max}");
        return Clamp(min, max);
    }

    /// <summary>0 for x ≤ −3, 1 for x ≥ 3, x/6 + 1/2 between.</summary>
    [Op("hardsigmoid", OpKind.Composite)]
    public Tensor Hardsigmoid()
    {
        using var _ = OpCall.Enter("hardsigmoid", this);
        RequireFloat("hardsigmoid");
        return (this / 6.0 + 0.5).Clamp(0.0, 1.0);
    }

    /// <summary>x·hardsigmoid(x).</summary>
    [Op("hardswish", OpKind.Composite)]
    public Tensor Hardswish()
    {
        using var _ = OpCall.Enter("hardswish", this);
        return this * Hardsigmoid();
    }

    /// <summary>min(max(x, 0), 6).</summary>
    [Op("relu6", OpKind.Composite)]
    public Tensor Relu6()
    {
        using var _ = OpCall.Enter("relu6", this);
        RequireFloat("relu6");
        return Clamp(0.0, 6.0);
    }

    /// <summary>x/(1 + |x|).</summary>
    [Op("softsign", OpKind.Composite)]
    public Tensor Softsign()
    {
        using var _ = OpCall.Enter("softsign", this);
        RequireFloat("softsign");
        return this / (Abs() + 1.0);
    }

    /// <summary>
    /// gelu with <paramref name="approximate"/> "none" (x·Φ(x), as <see cref="Gelu()"/>) or "tanh"
    /// (<see cref="GeluTanh"/>), as torch's gelu(x, approximate=...).
    /// </summary>
    public Tensor Gelu(string approximate) => approximate switch
    {
        "none" => Gelu(),
        "tanh" => GeluTanh(),
        _ => throw new OpArgumentException("gelu", $"gelu: approximate must be \"none\" or \"tanh\", got \"{approximate}\""),
    };

    /// <summary>gelu's tanh approximation x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), torch's gelu(approximate='tanh').</summary>
    [Op("gelu_tanh", OpKind.Composite)]
    public Tensor GeluTanh()
    {
        using var _ = OpCall.Enter("gelu_tanh", this);
        RequireFloat("gelu_tanh");
        var inner = (this + this * this * this * 0.044715) * Math.Sqrt(2 / Math.PI);
        return this * 0.5 * (inner.Tanh() + 1.0);
    }

    /// <summary>start + weight·(end − start), broadcasting; a gradient reaches all three.</summary>
    [Op("lerp", OpKind.Composite)]
    public static Tensor Lerp(Tensor start, Tensor end, Tensor weight)
    {
        using var _ = OpCall.Enter("lerp", start, end, weight);
        start.RequireFloat("lerp");
        end.RequireFloat("lerp");
        return start + weight * (end - start);
    }

    /// <summary>start + weight·(end − start) for a number weight.</summary>
    public static Tensor Lerp(Tensor start, Tensor end, double weight)
    {
        using var _ = OpCall.Enter("lerp", start, end);
        start.RequireFloat("lerp");
        end.RequireFloat("lerp");
        return start + (end - start) * weight;
    }

    /// <summary>
    /// min(max(x, min), max) elementwise (torch.clamp): a missing bound is not applied; with
    /// min &gt; max every element is max, as in PyTorch; NaN stays NaN. The cotangent reaches x
    /// where min ≤ x ≤ max.
    /// </summary>
    [Op("clamp", OpKind.Composite)]
    public Tensor Clamp(double? min = null, double? max = null)
    {
        using var _ = OpCall.Enter("clamp", this);
        if (min is null && max is null) throw new OpArgumentException("clamp", "clamp: give at least one of min and max");
        if (DType == DType.Bool) throw new DTypeMismatchException("clamp", "clamp: not defined for bool tensors");
        var low = min is double lo ? Where(Lt(lo), Lift(lo, this, "clamp"), this) : this;
        return max is double hi ? Where(low.Gt(hi), Lift(hi, low, "clamp"), low) : low;
    }

    /// <summary>
    /// min(max(x, min), max) with tensor bounds, broadcasting (either may be null). The
    /// cotangent reaches whichever of x, min and max was picked.
    /// </summary>
    [Op("clamp", OpKind.Composite)]
    public Tensor Clamp(Tensor? min, Tensor? max)
    {
        using var _ = OpCall.Enter("clamp", this);
        if (min is null && max is null) throw new OpArgumentException("clamp", "clamp: give at least one of min and max");
        if (DType == DType.Bool) throw new DTypeMismatchException("clamp", "clamp: not defined for bool tensors");
        var low = min is null ? this : Where(Lt(min), min, this);
        return max is null ? low : Where(low.Gt(max), max, low);
    }

    /// <summary>clip is clamp's other name (NumPy's).</summary>
    public Tensor Clip(double? min = null, double? max = null) => Clamp(min, max);

    /// <summary>clip with tensor bounds.</summary>
    public Tensor Clip(Tensor? min, Tensor? max) => Clamp(min, max);

    /// <summary>
    /// NaN → <paramref name="nan"/>, +∞ → <paramref name="posinf"/>, −∞ → <paramref name="neginf"/>
    /// (by default the dtype's largest and least finite values), as torch.nan_to_num. Integer
    /// tensors come back as they are. The cotangent reaches the elements that were kept.
    /// </summary>
    [Op("nan_to_num", OpKind.Composite)]
    public Tensor NanToNum(double nan = 0.0, double? posinf = null, double? neginf = null)
    {
        using var _ = OpCall.Enter("nan_to_num", this);
        if (!DType.IsFloating()) return this;
        double big = DType == DType.Float32 ? float.MaxValue : double.MaxValue;
        var y = Where(Eq(double.PositiveInfinity), posinf ?? big, this);
        y = Where(Eq(double.NegativeInfinity), neginf ?? -big, y);
        return Where(Ne(this), nan, y);
    }

    /// <summary>True where x is NaN (never for integers).</summary>
    [Op("isnan", OpKind.NonDifferentiable)]
    public Tensor IsNan()
    {
        using var _ = OpCall.Enter("isnan", this);
        return Ne(this);
    }

    /// <summary>True where x is +∞ or −∞.</summary>
    [Op("isinf", OpKind.NonDifferentiable)]
    public Tensor IsInf()
    {
        using var _ = OpCall.Enter("isinf", this);
        return DType.IsFloating() ? Abs().Eq(double.PositiveInfinity) : Ne(this);
    }

    /// <summary>True where x is neither NaN nor ±∞.</summary>
    [Op("isfinite", OpKind.NonDifferentiable)]
    public Tensor IsFinite()
    {
        using var _ = OpCall.Enter("isfinite", this);
        return DType.IsFloating() ? Abs().Lt(double.PositiveInfinity) : Eq(this);
    }

    /// <summary>The truth of each element: itself for a mask, x ≠ 0 otherwise (as PyTorch's logical ops read numbers).</summary>
    Tensor Truth() => DType == DType.Bool ? this : Ne(0.0);

    /// <summary>Elementwise a ∧ b of the operands' truth values, broadcasting; a bool mask.</summary>
    [Op("logical_and", OpKind.NonDifferentiable)]
    public static Tensor LogicalAnd(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("logical_and", a, b);
        SameDevice("logical_and", a, b);
        var (x, y) = (a.Truth(), b.Truth());
        return Where(x, y, x);
    }

    /// <summary>Elementwise a ∨ b of the operands' truth values, broadcasting; a bool mask.</summary>
    [Op("logical_or", OpKind.NonDifferentiable)]
    public static Tensor LogicalOr(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("logical_or", a, b);
        SameDevice("logical_or", a, b);
        var (x, y) = (a.Truth(), b.Truth());
        return Where(x, x, y);
    }

    /// <summary>Elementwise a ⊕ b of the operands' truth values, broadcasting; a bool mask.</summary>
    [Op("logical_xor", OpKind.NonDifferentiable)]
    public static Tensor LogicalXor(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("logical_xor", a, b);
        SameDevice("logical_xor", a, b);
        return a.Truth().Ne(b.Truth());
    }

    /// <summary>Elementwise ¬x of the truth values; a bool mask.</summary>
    [Op("logical_not", OpKind.NonDifferentiable)]
    public Tensor LogicalNot()
    {
        using var _ = OpCall.Enter("logical_not", this);
        var t = Truth();
        return t.Eq(t.Ne(t));   // t == false, with false made beside t
    }

    // Static forms, so F#'s built-in floor, ceil, round, truncate, tan, asin, acos, atan, sinh,
    // cosh and atan2 apply to tensors.
    /// <summary>⌊x⌋ elementwise.</summary>
    public static Tensor Floor(Tensor x) => x.Floor();
    /// <summary>⌈x⌉ elementwise.</summary>
    public static Tensor Ceiling(Tensor x) => x.Ceil();
    /// <summary>x rounded half to even, elementwise.</summary>
    public static Tensor Round(Tensor x) => x.Round();
    /// <summary>x rounded towards zero, elementwise.</summary>
    public static Tensor Truncate(Tensor x) => x.Trunc();
    /// <summary>tan x elementwise.</summary>
    public static Tensor Tan(Tensor x) => x.Tan();
    /// <summary>arcsin x elementwise.</summary>
    public static Tensor Asin(Tensor x) => x.Asin();
    /// <summary>arccos x elementwise.</summary>
    public static Tensor Acos(Tensor x) => x.Acos();
    /// <summary>arctan x elementwise.</summary>
    public static Tensor Atan(Tensor x) => x.Atan();
    /// <summary>sinh x elementwise.</summary>
    public static Tensor Sinh(Tensor x) => x.Sinh();
    /// <summary>cosh x elementwise.</summary>
    public static Tensor Cosh(Tensor x) => x.Cosh();
}
