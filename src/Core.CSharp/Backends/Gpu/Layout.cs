namespace Cotangent.Backends.Gpu;

/// <summary>
/// How a kernel reads a strided view: sizes, strides and offset of up to eight axes, passed by
/// value (a kernel takes no arrays). <see cref="At"/> maps a row-major position in the view's
/// shape to the element's place in its buffer; a contiguous view skips the walk.
/// </summary>
internal struct Layout
{
    public const int MaxRank = 8;

    public int Rank, Offset, Contiguous;
    public int S0, S1, S2, S3, S4, S5, S6, S7;
    public int T0, T1, T2, T3, T4, T5, T6, T7;

    public readonly int Size(int d) => d switch { 0 => S0, 1 => S1, 2 => S2, 3 => S3, 4 => S4, 5 => S5, 6 => S6, _ => S7 };

    public readonly int Stride(int d) => d switch { 0 => T0, 1 => T1, 2 => T2, 3 => T3, 4 => T4, 5 => T5, 6 => T6, _ => T7 };

    /// <summary>The buffer index of the element at row-major position <paramref name="linear"/>.</summary>
    public readonly int At(int linear)
    {
        if (Contiguous != 0) return Offset + linear;
        int at = Offset;
        for (int d = Rank - 1; d >= 0; d--)
        {
            int s = Size(d);
            if (s <= 1) continue;   // a unit axis adds nothing; a size-0 one holds no element (and must not divide)
            at += linear % s * Stride(d);
            linear /= s;
        }
        return at;
    }

    /// <summary>A dense vector of n elements from the buffer's start.</summary>
    public static Layout Dense(int n) => new() { Rank = 1, Contiguous = 1, S0 = n, T0 = 1 };

    /// <summary>The layout of a view; more than eight axes is an error naming the op.</summary>
    public static Layout Of(Strided x, string op) => Of(x.Shape, x.Strides, x.Offset, op);

    public static Layout Of(int[] shape, int[] strides, int offset, string op)
    {
        if (shape.Length > MaxRank)
            throw new ShapeMismatchException(op, $"{op}: GPU kernels read tensors of at most {MaxRank} axes, got shape {ShapeMath.Format(shape)}");
        var l = new Layout { Rank = shape.Length, Offset = offset, Contiguous = ShapeMath.IsContiguous(shape, strides) ? 1 : 0 };
        for (int d = 0; d < shape.Length; d++) l.Set(d, shape[d], strides[d]);
        return l;
    }

    void Set(int d, int size, int stride)
    {
        switch (d)
        {
            case 0: S0 = size; T0 = stride; break;
            case 1: S1 = size; T1 = stride; break;
            case 2: S2 = size; T2 = stride; break;
            case 3: S3 = size; T3 = stride; break;
            case 4: S4 = size; T4 = stride; break;
            case 5: S5 = size; T5 = stride; break;
            case 6: S6 = size; T6 = stride; break;
            default: S7 = size; T7 = stride; break;
        }
    }
}
