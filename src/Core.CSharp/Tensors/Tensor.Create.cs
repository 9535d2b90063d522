using Cotangent.Backends;

namespace Cotangent;

/// <summary>
/// Creation functions (as torch.zeros, torch.arange, ...) and read-out. Each takes an optional
/// device and otherwise places its tensor on <see cref="Device.Default"/>; the values are made
/// on the host and handed to that device's backend, which owns the storage.
/// </summary>
public sealed partial class Tensor
{
    static Tensor Filled(string op, int[] shape, DType dtype, double value, Device? device = null)
    {
        using var _ = OpCall.Enter(op);
        CheckShape(op, shape);
        DTypes.Check(op, dtype);
        if (dtype == DType.Int64 && !DTypes.IsInt64(value))
            throw new OpArgumentException(op, $"{op}: {value} is not an int64 value (a whole number below 2⁶³ in magnitude); use a float dtype");
        return new Tensor(Backend.For(device ?? Device.Default, op).Full(dtype, ShapeMath.Numel(shape), value), [.. shape]);
    }

    /// <summary>Refuses a null shape, a negative size and more elements than one buffer holds.</summary>
    static void CheckShape(string op, int[] shape)
    {
        if (shape is null) throw new OpArgumentException(op, $"{op}: the shape is null");
        foreach (var d in shape)
            if (d < 0) throw new ShapeMismatchException(op, $"{op}: negative size in shape {ShapeMath.Format(shape)}");
        ShapeMath.Numel(shape);
    }

    /// <summary>float32 zeros of the given shape.</summary>
    public static Tensor Zeros(params int[] shape) => Filled("zeros", shape, DType.Float32, 0);
    /// <summary>Zeros of the given shape and dtype, on the device (the default device when null).</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null) => Filled("zeros", shape, dtype, 0, device);
    /// <summary>float32 ones of the given shape.</summary>
    public static Tensor Ones(params int[] shape) => Filled("ones", shape, DType.Float32, 1);
    /// <summary>Ones of the given shape and dtype, on the device (the default device when null).</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, Device? device = null) => Filled("ones", shape, dtype, 1, device);
    /// <summary>A tensor of the given shape with every element <paramref name="value"/>.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null) => Filled("full", shape, dtype, value, device);
    /// <summary>Zeros with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like) => Filled("zeros_like", Like("zeros_like", like).shape, like.DType, 0, like.Device);
    /// <summary>Ones with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor OnesLike(Tensor like) => Filled("ones_like", Like("ones_like", like).shape, like.DType, 1, like.Device);

    static Tensor Like(string op, Tensor like) => like ?? throw new OpArgumentException(op, $"{op}: the tensor is null");

    /// <summary>A 0-d tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Filled("scalar", [], dtype, value, device);

    /// <summary>Values start, start+step, ... below end (torch.arange). Start, end and step must be finite, step non-zero.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Float32, Device? device = null)
    {
        using var _ = OpCall.Enter("arange");
        if (!double.IsFinite(start) || !double.IsFinite(end) || !double.IsFinite(step))
            throw new OpArgumentException("arange", $"arange: start, end and step must be finite numbers, got [{start}, {end}) by {step}");
        if (step == 0) throw new OpArgumentException("arange", $"arange: step must be non-zero, got {step}");
        double count = Math.Ceiling((end - start) / step);
        long n = count <= 0 ? 0 : count > Array.MaxLength ? long.MaxValue : (long)count;
        if (n > Array.MaxLength) throw new OpArgumentException("arange", $"arange: [{start}, {end}) by {step} has {count:G6} elements, more than one buffer can hold");
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = start + i * step;
        return FromDoubles("arange", v, [(int)n], dtype, device);
    }

    /// <summary>0, 1, ..., end−1 (torch.arange(end)).</summary>
    public static Tensor Arange(int end, DType dtype = DType.Float32, Device? device = null) => Arange(0, end, 1, dtype, device);

    /// <summary><paramref name="steps"/> evenly spaced values from start to end inclusive; start and end must be finite.</summary>
    public static Tensor Linspace(double start, double end, int steps, DType dtype = DType.Float32, Device? device = null)
    {
        using var _ = OpCall.Enter("linspace");
        if (!double.IsFinite(start) || !double.IsFinite(end))
            throw new OpArgumentException("linspace", $"linspace: start and end must be finite numbers, got {start} and {end}");
        CheckShape("linspace", [steps]);
        var v = new double[steps];
        double h = steps > 1 ? (end - start) / (steps - 1) : 0;
        for (int i = 0; i < steps; i++) v[i] = i == steps - 1 && steps > 1 ? end : start + i * h;
        return FromDoubles("linspace", v, [steps], dtype, device);
    }

    /// <summary>The n×m identity (m defaults to n).</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32, Device? device = null)
    {
        using var _ = OpCall.Enter("eye");
        int cols = m ?? n;
        CheckShape("eye", [n, cols]);
        var v = new double[n * cols];
        for (int i = 0; i < Math.Min(n, cols); i++) v[i * cols + i] = 1;
        return FromDoubles("eye", v, [n, cols], dtype, device);
    }

    /// <summary>Host values, converted to the dtype, handed to the device's backend (which then owns the array).</summary>
    static Tensor FromDoubles(string op, double[] v, int[] shape, DType dtype, Device? device)
    {
        var backend = Backend.For(device ?? Device.Default, op);
        Array data = dtype switch
        {
            DType.Float64 => v,
            DType.Float32 => Array.ConvertAll(v, d => (float)d),
            DType.Int64 => Array.ConvertAll(v, d => (long)d),
            DType.Bool => Array.ConvertAll(v, d => d != 0),
            var t => throw new DTypeMismatchException(op, $"{op}: {(int)t} is not a dtype (float32, float64, int64 or bool)"),
        };
        return new Tensor(backend.Wrap(data), shape);
    }

    /// <summary>A host array the caller gives up, on the default device.</summary>
    internal static Tensor Adopt(string op, Array data, int[] shape, Device? device) => new(Backend.For(device ?? Device.Default, op).Wrap(data), shape);

    /// <summary>A 1-D float32 tensor of the values.</summary>
    public static Tensor From(params float[] values) => FromArray(values, [values?.Length ?? 0]);
    /// <summary>A 1-D float64 tensor of the values.</summary>
    public static Tensor From(params double[] values) => FromArray(values, [values?.Length ?? 0]);
    /// <summary>A 1-D int64 tensor of the values.</summary>
    public static Tensor From(params long[] values) => FromArray(values, [values?.Length ?? 0]);
    /// <summary>A 1-D bool tensor of the values.</summary>
    public static Tensor From(params bool[] values) => FromArray(values, [values?.Length ?? 0]);
    /// <summary>A 2-D float32 tensor of the values, on the device (the default device when null).</summary>
    public static Tensor From(float[,] values, Device? device = null) => FromGrid(values, device);
    /// <summary>A 2-D float64 tensor of the values, on the device (the default device when null).</summary>
    public static Tensor From(double[,] values, Device? device = null) => FromGrid(values, device);
    /// <summary>A 2-D int64 tensor of the values, on the device (the default device when null).</summary>
    public static Tensor From(long[,] values, Device? device = null) => FromGrid(values, device);

    /// <summary>A 2-D float32 tensor from rows of equal length, on the device (the default device when null).</summary>
    public static Tensor From(float[][] rows, Device? device = null) => FromRows(rows, device);
    /// <summary>A 2-D float64 tensor from rows of equal length, on the device (the default device when null).</summary>
    public static Tensor From(double[][] rows, Device? device = null) => FromRows(rows, device);
    /// <summary>A 2-D int64 tensor from rows of equal length, on the device (the default device when null).</summary>
    public static Tensor From(long[][] rows, Device? device = null) => FromRows(rows, device);

    static Tensor FromRows<T>(T[][] rows, Device? device) where T : unmanaged
    {
        if (rows is null || rows.Any(r => r is null)) throw new OpArgumentException("from_array", "from_array: the rows (or one of them) are null");
        int cols = rows.Length == 0 ? 0 : rows[0].Length;
        for (int i = 0; i < rows.Length; i++)
            if (rows[i].Length != cols)
                throw new ShapeMismatchException("from_array", $"from_array: row {i} has {rows[i].Length} values, row 0 has {cols}; rows must have one length");
        return Adopt("from_array", rows.SelectMany(r => r).ToArray(), [rows.Length, cols], device);
    }

    static Tensor FromGrid<T>(T[,] values, Device? device) where T : unmanaged
    {
        if (values is null) throw new OpArgumentException("from_array", "from_array: the values are null");
        int r = values.GetLength(0), c = values.GetLength(1);
        var flat = new T[r * c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) flat[i * c + j] = values[i, j];
        return Adopt("from_array", flat, [r, c], device);
    }

    /// <summary>A tensor of the given shape over a copy of the row-major values (float, double, long or bool), on the device (the default device when null).</summary>
    public static Tensor FromArray<T>(T[] values, int[] shape, Device? device = null) where T : unmanaged
    {
        using var _ = OpCall.Enter("from_array");
        if (values is null) throw new OpArgumentException("from_array", "from_array: the values are null");
        CheckShape("from_array", shape);
        if (ShapeMath.Numel(shape) != values.Length)
            throw new ShapeMismatchException("from_array", $"from_array: {values.Length} values do not fill shape {ShapeMath.Format(shape)} ({ShapeMath.Numel(shape)} elements)");
        DTypes.Of<T>("from_array");
        return new Tensor(Backend.For(device ?? Device.Default, "from_array").Wrap((T[])values.Clone()), [.. shape]);
    }

    /// <summary>Reseeds <see cref="Generator.Default"/> (torch.manual_seed).</summary>
    public static void ManualSeed(ulong seed) => Generator.Default.Seed(seed);

    /// <summary>Uniform values in [0, 1).</summary>
    public static Tensor Rand(params int[] shape) => Rand(shape, DType.Float32);
    /// <summary>Uniform values in [0, 1).</summary>
    public static Tensor Rand(int[] shape, DType dtype = DType.Float32, Generator? generator = null, Device? device = null)
    {
        using var _ = OpCall.Enter("rand");
        CheckShape("rand", shape);
        RequireFloatDType("rand", dtype);
        return FromDoubles("rand", (generator ?? Generator.Default).Uniform(ShapeMath.Numel(shape)), [.. shape], dtype, device);
    }

    /// <summary>Standard normal values.</summary>
    public static Tensor Randn(params int[] shape) => Randn(shape, DType.Float32);
    /// <summary>Standard normal values.</summary>
    public static Tensor Randn(int[] shape, DType dtype = DType.Float32, Generator? generator = null, Device? device = null)
    {
        using var _ = OpCall.Enter("randn");
        CheckShape("randn", shape);
        RequireFloatDType("randn", dtype);
        return FromDoubles("randn", (generator ?? Generator.Default).Normal(ShapeMath.Numel(shape)), [.. shape], dtype, device);
    }

    /// <summary>int64 values uniform in [low, high).</summary>
    public static Tensor Randint(long low, long high, int[] shape, Generator? generator = null, Device? device = null)
    {
        using var _ = OpCall.Enter("randint");
        CheckShape("randint", shape);
        if (high <= low) throw new OpArgumentException("randint", $"randint: high ({high}) must be greater than low ({low})");
        var backend = Backend.For(device ?? Device.Default, "randint");
        return new Tensor(backend.Wrap((generator ?? Generator.Default).Integers(low, high, ShapeMath.Numel(shape))), [.. shape]);
    }

    static void RequireFloatDType(string op, DType dtype)
    {
        if (!dtype.IsFloating()) throw new DTypeMismatchException(op, $"{op}: makes float32 or float64 values, not {dtype.Name()}");
    }

    // ---- read-out ----------------------------------------------------------------------

    /// <summary>The elements in row-major order, converted to <typeparamref name="T"/> (float, double, long or bool).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        var want = DTypes.Of<T>("to_array");
        var v = want == DType ? View : new Tensor(Kernels.Cast(View, want), shape).View;
        return (T[])Kernels.ToArray(v);
    }

    /// <summary>The elements in row-major order, as an array of this tensor's element type.</summary>
    public Array ToArray() => Kernels.ToArray(View);

    /// <summary>The value of a one-element tensor (PyTorch's <c>.item()</c>), converted to <typeparamref name="T"/>.</summary>
    public T Item<T>() where T : unmanaged
    {
        DTypes.Of<T>("item");
        if (Numel != 1)
            throw new InvalidOperationException($"item: only one-element tensors can be read as a scalar, but this tensor has shape {ShapeMath.Format(shape)}");
        return ToArray<T>()[0];
    }
}
