namespace Cotangent;

/// <summary>
/// One entry of a tensor indexer, <c>x[0, .., 1..3, TensorIndex.NewAxis]</c>: an int (that axis
/// removed; negative counts from the end), an <see cref="System.Index"/> (<c>^1</c>), a
/// <see cref="System.Range"/> (<c>1..3</c>, <c>..</c> for the whole axis), a stepped slice,
/// <see cref="Ellipsis"/> for as many whole axes as the others leave, <see cref="NewAxis"/> for a
/// new axis of size 1, or a tensor: int64 positions along the axis (adjacent tensor entries pair
/// up, as NumPy and PyTorch pair them) or a bool mask over as many axes as it has.
/// </summary>
public readonly struct TensorIndex
{
    internal enum Kinds { At, Span, Ellipsis, NewAxis, Tensor }

    internal Kinds Kind { get; }
    internal Index At { get; }
    internal Range Span { get; }
    internal int Step { get; }
    internal Tensor? Indices { get; }

    TensorIndex(Kinds kind, Index at = default, Range span = default, int step = 1, Tensor? indices = null) =>
        (Kind, At, Span, Step, Indices) = (kind, at, span, step, indices);

    /// <summary>The element at i along the axis (negative: from the end); the axis goes.</summary>
    public static implicit operator TensorIndex(int i) => i == int.MinValue
        ? throw OpCall.Index("index", $"index: {i} is out of range for any axis")
        : new(Kinds.At, at: i < 0 ? Index.FromEnd(-i) : Index.FromStart(i));

    /// <summary>The element at an <see cref="System.Index"/> (<c>^1</c> is the last); the axis goes.</summary>
    public static implicit operator TensorIndex(Index i) => new(Kinds.At, at: i);

    /// <summary>The elements of a range (<c>1..^1</c>), clamped to the axis as Python clamps slices.</summary>
    public static implicit operator TensorIndex(Range r) => new(Kinds.Span, span: r);

    /// <summary>int64 positions along the axis, or a bool mask over the next mask-rank axes.</summary>
    public static implicit operator TensorIndex(Tensor t) => new(Kinds.Tensor, indices: t ?? throw new OpArgumentException("index", "index: a null tensor as an index"));

    /// <summary>As many whole axes as the other entries leave (NumPy's <c>...</c>).</summary>
    public static TensorIndex Ellipsis { get; } = new(Kinds.Ellipsis);

    /// <summary>A new axis of size 1 here (NumPy's <c>None</c>).</summary>
    public static TensorIndex NewAxis { get; } = new(Kinds.NewAxis);

    /// <summary>Every <paramref name="step"/>-th element of <paramref name="range"/> (Python's <c>start:stop:step</c>, step positive).</summary>
    public static TensorIndex Slice(Range range, int step)
    {
        if (step <= 0) throw new OpArgumentException("index", $"index: a slice's step must be positive, got {step}");
        return new(Kinds.Span, span: range, step: step);
    }

    /// <summary>How many axes of the tensor this entry consumes.</summary>
    internal int Consumes => Kind switch
    {
        Kinds.At or Kinds.Span => 1,
        Kinds.Tensor => Indices!.DType == DType.Bool ? Indices.Rank : 1,
        _ => 0,
    };

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        Kinds.At => At.ToString(),
        Kinds.Span => Step == 1 ? Span.ToString() : $"{Span}:{Step}",
        Kinds.Ellipsis => "...",
        Kinds.NewAxis => "NewAxis",
        _ => $"tensor {ShapeMath.Format(Indices!.Shape)} {Indices.DType.Name()}",
    };
}
