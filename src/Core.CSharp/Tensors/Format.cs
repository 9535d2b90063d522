using System.Globalization;
using System.Text;

namespace Cotangent;

/// <summary>PyTorch-like printing: values with elision for big tensors, then shape, dtype, device and grad_fn.</summary>
public sealed partial class Tensor
{
    const int ElideAbove = 1000, EdgeItems = 3;

    /// <summary>
    /// e.g. <c>tensor([0.1000, 1.0000], shape=[2], dtype=float32, device=cpu, grad_fn=&lt;MulBackward&gt;)</c>;
    /// tensors over 1000 elements show three items at each edge of every axis.
    /// </summary>
    public override string ToString()
    {
        if (Numel == 0 && Rank > 0) return $"tensor([], shape={ShapeMath.Format(shape)}, dtype={DType.Name()}, device={Device}{(gradFn is not null ? $", grad_fn={gradFn}" : requiresGrad ? ", requires_grad=True" : "")})";
        var values = ToArray<double>();
        bool elide = values.Length > ElideAbove;
        var shown = ShownValues(values, elide);
        var fmt = ChooseFormat(shown);
        int width = shown.Select(v => Cell(v, fmt).Length).DefaultIfEmpty(1).Max();
        var sb = new StringBuilder("tensor(");
        if (Rank == 0) sb.Append(Cell(values[0], fmt));
        else Append(sb, values, 0, 0, width, fmt, elide, 7);
        sb.Append($", shape={ShapeMath.Format(shape)}, dtype={DType.Name()}, device={Device}");
        if (gradFn is not null) sb.Append($", grad_fn={gradFn}");
        else if (requiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    IEnumerable<double> ShownValues(double[] values, bool elide)
    {
        if (!elide) return values;
        // only values that appear in the elided print decide the number format
        var idx = Enumerable.Range(0, values.Length).Where(i =>
        {
            int rem = i;
            for (int a = Rank - 1; a >= 0; a--)
            {
                int k = rem % shape[a]; rem /= shape[a];
                if (shape[a] > 2 * EdgeItems && k >= EdgeItems && k < shape[a] - EdgeItems) return false;
            }
            return true;
        });
        return idx.Select(i => values[i]);
    }

    enum NumberFormat { Int, Bool, Fixed, Sci, Float }

    NumberFormat ChooseFormat(IEnumerable<double> shown)
    {
        if (DType == DType.Bool) return NumberFormat.Bool;
        if (DType == DType.Int64) return NumberFormat.Int;
        var finite = shown.Where(double.IsFinite).Select(Math.Abs).ToArray();
        if (finite.Length == 0) return NumberFormat.Fixed;
        if (finite.All(v => v == Math.Floor(v)) && finite.Max() < 1e8) return NumberFormat.Float;
        double max = finite.Max(), min = finite.Where(v => v > 0).DefaultIfEmpty(1).Min();
        return max >= 1e8 || min < 1e-4 || max / min > 1e5 ? NumberFormat.Sci : NumberFormat.Fixed;
    }

    static string Cell(double v, NumberFormat f) => f switch
    {
        _ when double.IsNaN(v) => "nan",
        _ when double.IsPositiveInfinity(v) => "inf",
        _ when double.IsNegativeInfinity(v) => "-inf",
        NumberFormat.Bool => v != 0 ? "True" : "False",
        NumberFormat.Int => ((long)v).ToString(CultureInfo.InvariantCulture),
        NumberFormat.Float => v.ToString("0", CultureInfo.InvariantCulture) + ".",
        NumberFormat.Sci => v.ToString("0.0000e+00", CultureInfo.InvariantCulture),
        _ => v.ToString("0.0000", CultureInfo.InvariantCulture),
    };

    void Append(StringBuilder sb, double[] v, int axis, int start, int width, NumberFormat fmt, bool elide, int indent)
    {
        int n = shape[axis], step = 1;
        for (int a = axis + 1; a < Rank; a++) step *= shape[a];
        bool cut = elide && n > 2 * EdgeItems;
        sb.Append('[');
        for (int k = 0; k < n; k++)
        {
            if (cut && k == EdgeItems) { sb.Append(axis == Rank - 1 ? "..., " : "...,\n" + new string(' ', indent + 1)); k = n - EdgeItems; }
            if (axis == Rank - 1) sb.Append(Cell(v[start + k], fmt).PadLeft(width));
            else Append(sb, v, axis + 1, start + k * step, width, fmt, elide, indent + 1);
            if (k < n - 1)
                sb.Append(axis == Rank - 1 ? ", " : "," + new string('\n', Rank - axis - 1) + new string(' ', indent + 1));
        }
        sb.Append(']');
    }
}
