namespace Cotangent;

/// <summary>Element types a tensor can hold.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float, the default for creation functions.</summary>
    Float32,
    /// <summary>64-bit IEEE float; the property suite checks gradients in it.</summary>
    Float64,
    /// <summary>64-bit signed integer: indices and class labels.</summary>
    Int64,
    /// <summary>Masks produced by comparisons; consumed by <c>Where</c>.</summary>
    Bool,
}

/// <summary>Facts about dtypes: names, sizes and promotion.</summary>
public static class DTypes
{
    /// <summary>PyTorch's spelling, used in messages and <c>ToString</c>.</summary>
    public static string Name(this DType t) => t switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Int64 => "int64",
        DType.Bool => "bool",
        _ => t.ToString(),
    };

    /// <summary>Bytes an element takes (a bool takes one).</summary>
    public static int Size(this DType t) => t switch
    {
        DType.Float32 => 4,
        DType.Float64 or DType.Int64 => 8,
        DType.Bool => 1,
        _ => throw new DTypeMismatchException("dtype", $"dtype: {(int)t} is not a dtype"),
    };

    /// <summary>True when <paramref name="v"/> is a whole number an int64 holds exactly (|v| &lt; 2⁶³).</summary>
    public static bool IsInt64(double v) => double.IsFinite(v) && v == Math.Floor(v) && v >= -9.2233720368547758e18 && v < 9.2233720368547758e18;

    /// <summary>Refuses a value that is not one of the named dtypes (an integer cast to DType).</summary>
    internal static DType Check(string op, DType t) =>
        (uint)t <= (uint)DType.Bool ? t : throw new DTypeMismatchException(op, $"{op}: {(int)t} is not a dtype (float32, float64, int64 or bool)");

    /// <summary>True for the dtypes that can carry gradients.</summary>
    public static bool IsFloating(this DType t) => t is DType.Float32 or DType.Float64;

    /// <summary>
    /// The dtype of a binary op's result, as in PyTorch: bool &lt; int64 &lt; float32 &lt; float64.
    /// </summary>
    public static DType Promote(DType a, DType b) => Rank(a) >= Rank(b) ? a : b;

    static int Rank(DType t) => t switch
    {
        DType.Bool => 0,
        DType.Int64 => 1,
        DType.Float32 => 2,
        _ => 3,
    };

    internal static DType Of<T>(string op = "dtype") =>
        typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(double) ? DType.Float64
        : typeof(T) == typeof(long) ? DType.Int64
        : typeof(T) == typeof(bool) ? DType.Bool
        : throw new DTypeMismatchException(op, $"{op}: Cotangent has no dtype for the .NET type {typeof(T).Name}; use float, double, long or bool");
}
