using Cotangent.Backends;

namespace Cotangent;

/// <summary>Elementwise binary ops with NumPy broadcasting, comparisons, where, and casts.</summary>
public sealed partial class Tensor
{
    /// <summary>Promotes both operands to a common dtype (bool &lt; int64 &lt; float32 &lt; float64) on one device.</summary>
    static (Tensor, Tensor) Common(string op, Tensor a, Tensor b)
    {
        SameDevice(op, a, b);
        var t = DTypes.Promote(a.DType, b.DType);
        return (a.DType == t ? a : a.To(t), b.DType == t ? b : b.To(t));
    }

    /// <summary>A 0-d tensor holding a C# number beside <paramref name="like"/>: its dtype, or float32 for a fraction beside integers.</summary>
    static Tensor Lift(double v, Tensor like, string op = "scalar")
    {
        // beside an int64 or bool tensor, a whole number that int64 holds exactly is an int64; any
        // other (a fraction, ±∞, NaN, or beyond ±2⁶³, which would wrap) promotes to float32
        if (like is null) throw new OpArgumentException(op, $"{op}: the tensor is null");
        var t = like.DType.IsFloating() ? like.DType : DTypes.IsInt64(v) ? DType.Int64 : DType.Float32;
        // a 0-d constant of a known-good dtype and value: no creation checks to pay on every op
        return new Tensor(KernelsFor(like.Device).Full(t, 1, v), []);
    }

    static Tensor Binary(string op, BinaryKind kind, Tensor a, Tensor b, VjpRule? rule)
    {
        using var _ = OpCall.Enter(op, a, b);
        (a, b) = Common(op, a, b);
        if (a.DType == DType.Bool) throw new DTypeMismatchException(op, $"{op}: not defined for bool tensors; cast with .To(DType.Int64) or a float dtype");
        var shape = ShapeMath.Broadcast(op, a.shape, b.shape);
        return Result(op, a.Kernels.Binary(kind, a.ViewAs(shape), b.ViewAs(shape)), shape, [a, b], rule);
    }

    /// <summary>a + b. Linear: the cotangent passes to both.</summary>
    [Op("add")]
    public static Tensor Add(Tensor a, Tensor b) => Binary("add", BinaryKind.Add, a, b, (_, g, _, _) => g);

    /// <summary>a − b. Primitive for speed (one pass, not add∘neg); linear.</summary>
    [Op("sub")]
    public static Tensor Sub(Tensor a, Tensor b) => Binary("sub", BinaryKind.Sub, a, b, (i, g, _, _) => i == 0 ? g : -g);

    /// <summary>a · b elementwise. Bilinear: ∂/∂a = b, ∂/∂b = a.</summary>
    [Op("mul")]
    public static Tensor Mul(Tensor a, Tensor b) => Binary("mul", BinaryKind.Mul, a, b, (i, g, x, _) => g * x[1 - i]);

    /// <summary>
    /// a / b, true division as in PyTorch: integer and bool operands divide as float32
    /// (1 / 2 = 0.5; <see cref="FloorDivide(Tensor, Tensor)"/> rounds down instead). Primitive for
    /// numerics (a/b rounds once; a·b⁻¹ twice). ∂/∂a = 1/b, ∂/∂b = −(a/b)/b.
    /// </summary>
    [Op("div")]
    public static Tensor Div(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("div", a, b);
        if (!a.DType.IsFloating() && !b.DType.IsFloating())
        {
            SameDevice("div", a, b);
            (a, b) = (a.To(DType.Float32), b.To(DType.Float32));
        }
        return Binary("div", BinaryKind.Div, a, b, (i, g, x, y) => i == 0 ? g / x[1] : -(g * y / x[1]));
    }

    /// <summary>
    /// ⌊a / b⌋ elementwise, rounding towards −∞ (torch.floor_divide, Python's //), in the operands'
    /// common dtype: int64 stays int64. An int64 division by zero is an error, raised before any
    /// work; float division by zero gives ±∞ or NaN as IEEE does. Piecewise constant: no gradient.
    /// </summary>
    [Op("floor_divide", OpKind.NonDifferentiable)]
    public static Tensor FloorDivide(Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("floor_divide", a, b);
        (a, b) = Common("floor_divide", a, b);
        if (a.DType == DType.Bool) throw new DTypeMismatchException("floor_divide", "floor_divide: not defined for bool tensors; cast with .To(DType.Int64) or a float dtype");
        var shape = ShapeMath.Broadcast("floor_divide", a.shape, b.shape);
        if (b.DType == DType.Int64 && b.Eq(0L).To(DType.Int64).Sum().Item<long>() > 0)
            throw new OpArgumentException("floor_divide", $"floor_divide: integer division by zero (the divisor {ShapeMath.Format(b.shape)} int64 holds a 0)");
        return new Tensor(a.Kernels.Binary(BinaryKind.FloorDiv, a.ViewAs(shape), b.ViewAs(shape)), shape);
    }

    /// <summary>⌊a / s⌋ for a number s.</summary>
    public static Tensor FloorDivide(Tensor a, double s) => FloorDivide(a, Lift(s, a, "floor_divide"));

    /// <summary>
    /// aᵇ elementwise. ∂/∂a = b·aᵇ⁻¹, ∂/∂b = aᵇ·ln a (defined for a &gt; 0). As PyTorch: ∂/∂a is
    /// 0 where b = 0 (0·a⁻¹ would be NaN at a = 0), and ∂/∂b is 0 where a = 0 and b ≥ 0 (aᵇ·ln a
    /// would be 0·(−∞)).
    /// </summary>
    [Op("pow")]
    public Tensor Pow(Tensor exponent)
    {
        using var _ = OpCall.Enter("pow", this, exponent);
        RequireFloat("pow");
        return Binary("pow", BinaryKind.Pow, this, exponent, (i, g, x, y) => i == 0
            ? Where(x[1].Eq(0.0), 0.0, g * x[1] * x[0].Pow(x[1] - 1.0))
            : Where(And(x[0].Eq(0.0), x[1].Ge(0.0)), 0.0, g * y * x[0].Log()));
    }

    /// <summary>xᶜ for a constant c. d/dx = c·xᶜ⁻¹.</summary>
    [Op("pow_scalar")]
    public Tensor Pow(double exponent)
    {
        using var _ = OpCall.Enter("pow_scalar", this);
        RequireFloat("pow_scalar");
        return Result("pow_scalar", Kernels.Binary(BinaryKind.Pow, View, Lift(exponent, this).ViewAs(shape)), shape, [this],
            (_, g, x, _) => exponent == 0 ? ZerosLike(g) : g * exponent * x[0].Pow(exponent - 1));
    }

    /// <summary>aᵇ elementwise; the static form F#'s <c>**</c> operator resolves to.</summary>
    public static Tensor Pow(Tensor a, Tensor b) => a.Pow(b);

    /// <summary>aᶜ for a constant c; the static form F#'s <c>**</c> operator resolves to.</summary>
    public static Tensor Pow(Tensor a, double c) => a.Pow(c);

    /// <summary>Elementwise maximum of two tensors (a NaN in either gives NaN). The cotangent goes to the larger; ties split it.</summary>
    [Op("maximum")]
    public static Tensor Maximum(Tensor a, Tensor b) => Binary("maximum", BinaryKind.Max, a, b, (i, g, x, y) => SplitTies(g, x[i], x[1 - i], y));

    /// <summary>Elementwise minimum of two tensors. The cotangent goes to the smaller; ties split it.</summary>
    [Op("minimum")]
    public static Tensor Minimum(Tensor a, Tensor b) => Binary("minimum", BinaryKind.Min, a, b, (i, g, x, y) => SplitTies(g, x[i], x[1 - i], y));

    static Tensor SplitTies(Tensor g, Tensor self, Tensor other, Tensor y) =>
        Where(Same(self, y), Where(Same(other, y), g * 0.5, g), 0.0);

    /// <summary>Elementwise a and b of two masks.</summary>
    static Tensor And(Tensor a, Tensor b) => Where(a, b, a);

    /// <summary>Where a equals b, NaN counting as equal to NaN: which input an extreme came from, NaNs included.</summary>
    static Tensor Same(Tensor a, Tensor b) => Where(b.Ne(b), a.Ne(a), a.Eq(b));

    /// <summary>a + b.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);
    /// <summary>a − b.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);
    /// <summary>a · b elementwise.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);
    /// <summary>a / b elementwise.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);
    /// <summary>−a.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>a + s.</summary>
    public static Tensor operator +(Tensor a, double s) => Add(a, Lift(s, a, "add"));
    /// <summary>s + a.</summary>
    public static Tensor operator +(double s, Tensor a) => Add(Lift(s, a, "add"), a);
    /// <summary>a − s.</summary>
    public static Tensor operator -(Tensor a, double s) => Sub(a, Lift(s, a, "sub"));
    /// <summary>s − a.</summary>
    public static Tensor operator -(double s, Tensor a) => Sub(Lift(s, a, "sub"), a);
    /// <summary>a · s.</summary>
    public static Tensor operator *(Tensor a, double s) => Mul(a, Lift(s, a, "mul"));
    /// <summary>s · a.</summary>
    public static Tensor operator *(double s, Tensor a) => Mul(Lift(s, a, "mul"), a);
    /// <summary>a / s.</summary>
    public static Tensor operator /(Tensor a, double s) => Div(a, Lift(s, a, "div"));
    /// <summary>s / a.</summary>
    public static Tensor operator /(double s, Tensor a) => Div(Lift(s, a, "div"), a);

    // ---- comparisons: masks, no gradient -------------------------------------------------

    Tensor Compare(string op, CompareKind kind, Tensor other)
    {
        using var _ = OpCall.Enter(op, this, other);
        var (a, b) = Common(op, this, other);
        var shape = ShapeMath.Broadcast(op, a.shape, b.shape);
        return new Tensor(a.Kernels.Compare(kind, a.ViewAs(shape), b.ViewAs(shape)), shape);
    }

    /// <summary>Elementwise a == b as a bool mask.</summary>
    [Op("eq", OpKind.NonDifferentiable)] public Tensor Eq(Tensor other) => Compare("eq", CompareKind.Eq, other);
    /// <summary>Elementwise a == s as a bool mask.</summary>
    [Op("eq", OpKind.NonDifferentiable)] public Tensor Eq(double s) => Compare("eq", CompareKind.Eq, Lift(s, this, "eq"));
    /// <summary>Elementwise a != b as a bool mask.</summary>
    [Op("ne", OpKind.NonDifferentiable)] public Tensor Ne(Tensor other) => Compare("ne", CompareKind.Ne, other);
    /// <summary>Elementwise a != s as a bool mask.</summary>
    [Op("ne", OpKind.NonDifferentiable)] public Tensor Ne(double s) => Compare("ne", CompareKind.Ne, Lift(s, this, "ne"));
    /// <summary>Elementwise a &lt; b as a bool mask.</summary>
    [Op("lt", OpKind.NonDifferentiable)] public Tensor Lt(Tensor other) => Compare("lt", CompareKind.Lt, other);
    /// <summary>Elementwise a &lt; s as a bool mask.</summary>
    [Op("lt", OpKind.NonDifferentiable)] public Tensor Lt(double s) => Compare("lt", CompareKind.Lt, Lift(s, this, "lt"));
    /// <summary>Elementwise a &lt;= b as a bool mask.</summary>
    [Op("le", OpKind.NonDifferentiable)] public Tensor Le(Tensor other) => Compare("le", CompareKind.Le, other);
    /// <summary>Elementwise a &lt;= s as a bool mask.</summary>
    [Op("le", OpKind.NonDifferentiable)] public Tensor Le(double s) => Compare("le", CompareKind.Le, Lift(s, this, "le"));
    /// <summary>Elementwise a &gt; b as a bool mask.</summary>
    [Op("gt", OpKind.NonDifferentiable)] public Tensor Gt(Tensor other) => Compare("gt", CompareKind.Gt, other);
    /// <summary>Elementwise a &gt; s as a bool mask.</summary>
    [Op("gt", OpKind.NonDifferentiable)] public Tensor Gt(double s) => Compare("gt", CompareKind.Gt, Lift(s, this, "gt"));
    /// <summary>Elementwise a &gt;= b as a bool mask.</summary>
    [Op("ge", OpKind.NonDifferentiable)] public Tensor Ge(Tensor other) => Compare("ge", CompareKind.Ge, other);
    /// <summary>Elementwise a &gt;= s as a bool mask.</summary>
    [Op("ge", OpKind.NonDifferentiable)] public Tensor Ge(double s) => Compare("ge", CompareKind.Ge, Lift(s, this, "ge"));

    /// <summary>
    /// Picks a where <paramref name="cond"/> is true, else b, broadcasting all three. The mask
    /// carries no gradient; the cotangent goes to whichever side was picked.
    /// </summary>
    [Op("where")]
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        using var _ = OpCall.Enter("where", cond, a, b);
        if (cond.DType != DType.Bool)
            throw new DTypeMismatchException("where", $"where: the condition must be a bool mask (from Gt, Eq, ...), got {cond.DType.Name()}");
        SameDevice("where", cond, a);
        (a, b) = Common("where", a, b);
        var shape = ShapeMath.Broadcast("where", ShapeMath.Broadcast("where", cond.shape, a.shape), b.shape);
        var s = a.Kernels.Where(cond.ViewAs(shape), a.ViewAs(shape), b.ViewAs(shape));
        return Result("where", s, shape, [a, b], (i, g, _, _) => i == 0 ? Where(cond, g, 0.0) : Where(cond, 0.0, g));
    }

    /// <summary>Picks a where cond, else the constant b.</summary>
    public static Tensor Where(Tensor cond, Tensor a, double b) => Where(cond, a, Lift(b, a, "where"));
    /// <summary>Picks the constant a where cond, else b.</summary>
    public static Tensor Where(Tensor cond, double a, Tensor b) => Where(cond, Lift(a, b, "where"), b);

    /// <summary>The values converted to <paramref name="dtype"/>. Between float dtypes the cotangent is cast back.</summary>
    [Op("cast")]
    public Tensor To(DType dtype)
    {
        DTypes.Check("cast", dtype);
        if (dtype == DType) return this;
        var s = Kernels.Cast(View, dtype);
        VjpRule? rule = dtype.IsFloating() && DType.IsFloating() ? (_, g, x, _) => g.To(x[0].DType) : null;
        return Result("cast", s, shape, [this], rule);
    }
}
