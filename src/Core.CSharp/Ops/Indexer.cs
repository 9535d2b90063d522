using System.Runtime.CompilerServices;

namespace Cotangent;

/// <summary>
/// The indexer, NumPy's and PyTorch's basic and advanced indexing read-only (tensors are
/// immutable; <see cref="IndexPut"/> writes a copy): ints select, ranges slice (views), ellipsis
/// and new axes reshape, tensor entries gather. Each entry is one differentiable op applied in
/// turn, so the gradient is theirs.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>
    /// <c>x[0, .., 1..3]</c>, <c>x[^1]</c>, <c>x[TensorIndex.Ellipsis, 0]</c>, <c>x[idx]</c>,
    /// <c>x[mask]</c>: see <see cref="TensorIndex"/> for what each entry does.
    /// </summary>
    [Op("index", OpKind.Composite)]
    [IndexerName("At")]
    public Tensor this[params TensorIndex[] indices]
    {
        get
        {
            using var _ = OpCall.Enter("index", this);
            if (indices is null) throw new OpArgumentException("index", "index: the index list is null");
            string Describe() => $"[{string.Join(", ", indices)}] of {ShapeMath.Format(shape)}";
            int consumed = indices.Sum(i => i.Consumes);
            int ellipses = indices.Count(i => i.Kind == TensorIndex.Kinds.Ellipsis);
            if (ellipses > 1) throw new OpArgumentException("index", $"index: more than one ellipsis in {Describe()}");
            if (consumed > Rank) throw OpCall.Index("index", $"index: too many indices for a tensor of rank {Rank}: {Describe()}");
            if (!TensorsAdjacent(indices))
                throw new OpArgumentException("index", $"index: tensor entries apart from each other, or a bool mask among several ({Describe()}), move the paired axes to the front in NumPy; not supported: index with adjacent int64 tensors, or use take_along_dim / gather");
            var y = this;
            int at = 0;                         // the axis of y the next entry applies to
            for (int k = 0; k < indices.Length; k++)
            {
                var e = indices[k];
                switch (e.Kind)
                {
                    case TensorIndex.Kinds.At:
                        {
                            int n = y.shape[at], i = e.At.GetOffset(n);
                            if (i < 0 || i >= n)
                                throw OpCall.Index("index", $"index: {e.At} is out of range for axis {at} of size {n} in {Describe()}");
                            y = y.Select(at, i);
                            break;
                        }
                    case TensorIndex.Kinds.Span:
                        {
                            int n = y.shape[at];
                            int s = Math.Clamp(e.Span.Start.IsFromEnd ? n - e.Span.Start.Value : e.Span.Start.Value, 0, n);
                            int t = Math.Clamp(e.Span.End.IsFromEnd ? n - e.Span.End.Value : e.Span.End.Value, 0, n);
                            y = y.Slice(at, s, Math.Max(s, t), e.Step);
                            at++;
                            break;
                        }
                    case TensorIndex.Kinds.Ellipsis:
                        at += Rank - consumed;
                        break;
                    case TensorIndex.Kinds.NewAxis:
                        y = y.Unsqueeze(at);
                        at++;
                        break;
                    default:
                        {
                            var t = e.Indices!;
                            SameDevice("index", this, t);
                            if (t.DType == DType.Bool)
                            {
                                y = ByMask(y, at, t, Describe);
                                at++;
                                break;
                            }
                            // a run of adjacent int64 tensors pairs up: one gather over their axes
                            var run = new List<Tensor> { t };
                            while (k + 1 < indices.Length && indices[k + 1].Kind == TensorIndex.Kinds.Tensor && indices[k + 1].Indices!.DType != DType.Bool)
                                run.Add(indices[++k].Indices!);
                            y = ByPositions(y, at, run, Describe);
                            at += run.Aggregate(run[0].Shape, (s, r) => ShapeMath.Broadcast("index", s, r.shape)).Length;
                            break;
                        }
                }
            }
            return y;
        }
    }

    /// <summary>At most one tensor entry, or several int64 ones side by side (the pairing PyTorch and NumPy agree on).</summary>
    static bool TensorsAdjacent(TensorIndex[] indices)
    {
        var at = indices.Select((e, i) => (e, i)).Where(p => p.e.Kind == TensorIndex.Kinds.Tensor).ToArray();
        if (at.Length <= 1) return true;
        return at[^1].i - at[0].i == at.Length - 1 && at.All(p => p.e.Indices!.DType != DType.Bool);
    }

    /// <summary>Axes at … at + k − 1 of y picked by k int64 tensors broadcast together; their broadcast shape replaces those axes.</summary>
    static Tensor ByPositions(Tensor y, int at, List<Tensor> run, Func<string> describe)
    {
        if (at + run.Count > y.Rank) throw OpCall.Index("index", $"index: too many indices in {describe()}");
        foreach (var t in run)
            if (t.DType != DType.Int64)
                throw new DTypeMismatchException("index", $"index: tensor indices must be int64 or bool, got {t.DType.Name()} in {describe()}");
        var b = run.Skip(1).Aggregate(run[0].Shape, (s, r) => ShapeMath.Broadcast("index", s, r.shape));
        Tensor flat = Zeros(b, DType.Int64, y.Device);
        for (int d = 0; d < run.Count; d++)
        {
            int n = y.shape[at + d];
            var ix = run[d];
            if (ix.Kernels.CountOutside(ix.View, -n, n) != 0)
            {
                var bad = ix.ToArray<long>().First(v => v < -n || v >= n);
                throw OpCall.Index("index", $"index: {bad} is out of range for axis {at + d} of size {n} in {describe()}");
            }
            flat = flat * (double)n + Where(ix.Lt(0.0), ix + (double)n, ix);
        }
        int[] before = y.shape[..at], after = y.shape[(at + run.Count)..];
        int joint = ShapeMath.Numel(y.shape.AsSpan(at, run.Count));
        return y.Reshape([.. before, joint, .. after]).IndexSelect(at, flat.Reshape(-1)).Reshape([.. before, .. b, .. after]);
    }

    /// <summary>The positions where a bool mask over axes at … at + mask.Rank − 1 is true, as one axis.</summary>
    static Tensor ByMask(Tensor y, int at, Tensor mask, Func<string> describe)
    {
        int k = mask.Rank;
        if (at + k > y.Rank || !ShapeMath.SameShape(mask.shape, y.shape[at..(at + k)]))
            throw new ShapeMismatchException("index", $"index: a bool mask of shape {ShapeMath.Format(mask.shape)} must match the axes it covers in {describe()}");
        int[] before = y.shape[..at], after = y.shape[(at + k)..];
        var picks = mask.Reshape(-1).Nonzero().Reshape(-1);
        return y.Reshape([.. before, ShapeMath.Numel(mask.shape), .. after]).IndexSelect(at, picks);
    }
}
