namespace Cotangent;

/// <summary>Shape arithmetic shared by ops and kernels: sizes, strides, broadcasting, axes.</summary>
public static class ShapeMath
{
    /// <summary>The number of elements of a shape (1 for a scalar's empty shape).</summary>
    public static int Numel(ReadOnlySpan<int> shape)
    {
        if (shape.Contains(0)) return 0;
        long n = 1;
        foreach (var d in shape)
        {
            n *= d;   // stays exact: each factor is an int and the product is checked before it can overflow
            if (n > Array.MaxLength || n < 0)
                throw new OpArgumentException("numel", $"numel: shape {Format(shape)} has {Count(shape)} elements, more than one buffer can hold ({Array.MaxLength:N0})");
        }
        return (int)n;
    }

    /// <summary>The element count of a shape as a wide integer, for messages about shapes too large to hold.</summary>
    static string Count(ReadOnlySpan<int> shape)
    {
        System.Numerics.BigInteger n = 1;
        foreach (var d in shape) n *= d;
        return n.ToString("N0");
    }

    /// <summary>A shape seen around one axis: the product of the sizes before it, its size (1 for a scalar), the product after it.</summary>
    public static (int Outer, int Size, int Inner) AroundAxis(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape.Length == 0 ? 1 : shape[axis], inner);
    }

    /// <summary>Row-major strides of a contiguous tensor.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= Math.Max(shape[i], 1); }
        return s;
    }

    /// <summary>True when (shape, strides) visit memory in row-major order without gaps.</summary>
    public static bool IsContiguous(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides)
    {
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] != 1 && strides[i] != acc) return false;
            acc *= shape[i];
        }
        return true;
    }

    /// <summary>NumPy broadcasting of two shapes; <paramref name="op"/> names the op in the error.</summary>
    public static int[] Broadcast(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i < r - a.Length ? 1 : a[i - (r - a.Length)];
            int db = i < r - b.Length ? 1 : b[i - (r - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ShapeMismatchException(op,
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together (dimension {i} of the aligned shapes: {da} vs {db})");
            o[i] = da == 1 ? db : da;
        }
        return o;
    }

    /// <summary>Strides that read a tensor of <paramref name="shape"/> as if it had <paramref name="target"/> (stride 0 on broadcast axes).</summary>
    internal static int[] BroadcastStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, ReadOnlySpan<int> target)
    {
        var o = new int[target.Length];
        int lead = target.Length - shape.Length;
        for (int i = 0; i < target.Length; i++)
        {
            if (i < lead) { o[i] = 0; continue; }
            o[i] = shape[i - lead] == 1 && target[i] != 1 ? 0 : strides[i - lead];
        }
        return o;
    }

    /// <summary>Resolves a possibly negative axis against a rank; the error names the op.</summary>
    public static int Axis(string op, int axis, int rank)
    {
        int r = Math.Max(rank, 1);
        if (axis < -r || axis >= r)
            throw new AxisOutOfRangeException(op, $"{op}: axis {axis} is out of range for a tensor of rank {rank} (expected {-r}..{r - 1})");
        return axis < 0 ? axis + r : axis;
    }

    /// <summary>
    /// Resolves a set of axes (null = all), sorted and without repeats. A 0-d tensor accepts
    /// axis 0 and −1 (as PyTorch does) and has no axes to reduce: the result is empty.
    /// </summary>
    public static int[] Axes(string op, int[]? axes, int rank)
    {
        if (axes is null) return Enumerable.Range(0, rank).ToArray();
        var o = new int[axes.Length];
        for (int i = 0; i < axes.Length; i++) o[i] = Axis(op, axes[i], rank);
        Array.Sort(o);
        for (int i = 1; i < o.Length; i++)
            if (o[i] == o[i - 1]) throw new AxisOutOfRangeException(op, $"{op}: axis {o[i]} appears twice in [{string.Join(", ", axes)}]");
        return rank == 0 ? [] : o;
    }

    /// <summary>An axis that must exist (size, select, split): a 0-d tensor has none.</summary>
    public static int ExistingAxis(string op, int axis, int rank)
    {
        if (rank == 0)
            throw new AxisOutOfRangeException(op, $"{op}: axis {axis} does not exist: the tensor is 0-d (a scalar) and has no axes");
        return Axis(op, axis, rank);
    }

    /// <summary>Shapes print as <c>[2, 3]</c>.</summary>
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    internal static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
