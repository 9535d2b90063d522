namespace Cotangent;

/// <summary>
/// Einstein summation (torch.einsum): any equation over letters, an ellipsis for broadcast
/// axes, an implicit output (the ellipsis, then the letters used once, alphabetically) or an
/// explicit one after "->". Each operand first takes the diagonals its repeated letters name
/// and sums the letters no one else needs; then operands are contracted left to right, each
/// pair as one batched matrix product ([batch, free left, summed] · [batch, summed, free right])
/// through the packed GEMM, so gradients are those of matmul, permute, reshape and sum.
/// </summary>
public sealed partial class Tensor
{
    const int EllipsisLabel = 1000;

    /// <summary>Contracts <paramref name="operands"/> as <paramref name="equation"/> says (torch.einsum).</summary>
    [Op("einsum", OpKind.Composite)]
    public static Tensor Einsum(string equation, params Tensor[] operands)
    {
        using var _ = OpCall.Enter("einsum", operands ?? []);
        if (equation is null) throw new OpArgumentException("einsum", "einsum: the equation is null");
        if (operands is null || operands.Length == 0 || operands.Any(o => o is null))
            throw new OpArgumentException("einsum", "einsum: expects at least one operand, and no null");
        var eq = equation.Replace(" ", "");
        var arrow = eq.IndexOf("->", StringComparison.Ordinal);
        var terms = (arrow < 0 ? eq : eq[..arrow]).Split(',');
        if (terms.Length != operands.Length)
            throw new OpArgumentException("einsum", $"einsum: \"{equation}\" has {terms.Length} operand term(s) but {operands.Length} tensor(s) were given");
        foreach (var o in operands)
        {
            SameDevice("einsum", operands[0], o);
            if (o.DType != operands[0].DType)
                throw new DTypeMismatchException("einsum", $"einsum: operands must share a dtype, got {string.Join(" and ", operands.Select(t => t.DType.Name()))}");
        }

        // labels per operand: letters as 0..51, the ellipsis' axes as EllipsisLabel + position
        // counted from the right, so they broadcast right-aligned across operands
        int ellipsisRank = 0;
        var labels = new List<int>[operands.Length];
        for (int i = 0; i < terms.Length; i++)
        {
            var (letters, hasEllipsis, before) = ParseTerm(equation, terms[i]);
            int covered = operands[i].Rank - letters.Count;
            if (covered < 0 || (!hasEllipsis && covered != 0))
                throw new ShapeMismatchException("einsum", $"einsum: term \"{terms[i]}\" names {letters.Count} axes but operand {i} has shape {ShapeMath.Format(operands[i].shape)}");
            ellipsisRank = Math.Max(ellipsisRank, covered);
            var l = new List<int>(letters.Take(before));
            for (int e = covered - 1; e >= 0; e--) l.Add(EllipsisLabel + e);
            l.AddRange(letters.Skip(before));
            labels[i] = l;
        }
        var ellipsis = Enumerable.Range(0, ellipsisRank).Reverse().Select(e => EllipsisLabel + e).ToList();

        List<int> output;
        if (arrow >= 0)
        {
            var (letters, hasEllipsis, before) = ParseTerm(equation, eq[(arrow + 2)..]);
            if (letters.Distinct().Count() != letters.Count)
                throw new OpArgumentException("einsum", $"einsum: the output of \"{equation}\" repeats a letter");
            foreach (var c in letters)
                if (!labels.Any(l => l.Contains(c)))
                    throw new OpArgumentException("einsum", $"einsum: output letter '{Letter(c)}' of \"{equation}\" appears in no operand");
            output = [.. letters.Take(before), .. hasEllipsis ? ellipsis : [], .. letters.Skip(before)];
        }
        else
        {
            var once = labels.SelectMany(l => l).Where(c => c < EllipsisLabel).GroupBy(c => c).Where(g => g.Count() == 1).Select(g => g.Key).Order();
            output = [.. ellipsis, .. once];
        }

        // every label's size: equal across uses, except that size 1 broadcasts (as PyTorch's)
        var size = new Dictionary<int, int>();
        for (int i = 0; i < operands.Length; i++)
            for (int d = 0; d < labels[i].Count; d++)
            {
                int c = labels[i][d], n = operands[i].shape[d];
                if (!size.TryGetValue(c, out int m) || m == 1) size[c] = n;
                else if (m != n && n != 1)
                    throw new ShapeMismatchException("einsum", $"einsum: {(c >= EllipsisLabel ? "the ellipsis' axes" : $"letter '{Letter(c)}'")} has size {m} in one place and {n} in another (shapes {string.Join(", ", operands.Select(o => ShapeMath.Format(o.shape)))})");
            }

        var xs = new Tensor[operands.Length];
        for (int i = 0; i < operands.Length; i++)
        {
            var (x, l) = Diagonals(operands[i], labels[i]);
            // letters used by this operand alone and not in the output are summed at once
            var alone = l.Select((c, d) => (c, d)).Where(p => !output.Contains(p.c) && !labels.Where((_, j) => j != i).Any(o => o.Contains(p.c))).Select(p => p.d).ToArray();
            if (alone.Length > 0)
            {
                x = x.Sum(alone);
                l = l.Where((_, d) => !alone.Contains(d)).ToList();
            }
            (xs[i], labels[i]) = (x, l);
        }

        var (acc, al) = (xs[0], labels[0]);
        for (int i = 1; i < xs.Length; i++)
        {
            var later = labels.Skip(i + 1).SelectMany(l => l).Concat(output).ToHashSet();
            (acc, al) = Contract(acc, al, xs[i], labels[i], later, size);
        }
        var leftover = al.Select((c, d) => (c, d)).Where(p => !output.Contains(p.c)).Select(p => p.d).ToArray();
        if (leftover.Length > 0)
        {
            acc = acc.Sum(leftover);
            al = al.Where((_, d) => !leftover.Contains(d)).ToList();
        }
        // an ellipsis axis no operand had at full size, or broadcast away, is filled to its size
        var full = output.Select(c => size[c]).ToArray();
        var y = acc.Permute(output.Select(c => al.IndexOf(c)).ToArray());
        return ShapeMath.SameShape(y.shape, full) ? y : y.Expand(full);
    }

    static char Letter(int c) => (char)(c < 26 ? 'A' + c : 'a' + c - 26);

    /// <summary>A term's letters (A–Z as 0–25, a–z as 26–51: the implicit output sorts them so, as PyTorch), whether it has "...", and how many letters precede it.</summary>
    static (List<int> Letters, bool Ellipsis, int Before) ParseTerm(string equation, string term)
    {
        var letters = new List<int>();
        int before = -1;
        for (int k = 0; k < term.Length; k++)
        {
            char ch = term[k];
            if (ch == '.')
            {
                if (before >= 0 || k + 3 > term.Length || term.Substring(k, 3) != "...")
                    throw new OpArgumentException("einsum", $"einsum: \"{equation}\" has a '.' outside one \"...\" in term \"{term}\"");
                before = letters.Count;
                k += 2;
            }
            else if (ch is >= 'A' and <= 'Z') letters.Add(ch - 'A');
            else if (ch is >= 'a' and <= 'z') letters.Add(ch - 'a' + 26);
            else throw new OpArgumentException("einsum", $"einsum: \"{equation}\" has '{ch}' in term \"{term}\"; subscripts are letters a–z, A–Z and \"...\"");
        }
        return before < 0 ? (letters, false, letters.Count) : (letters, true, before);
    }

    /// <summary>Each repeated label becomes one axis: the diagonal of its two axes, moved last.</summary>
    static (Tensor, List<int>) Diagonals(Tensor x, List<int> labels)
    {
        var l = new List<int>(labels);
        while (true)
        {
            int p = -1, q = -1;
            for (int i = 0; i < l.Count && p < 0; i++)
                for (int j = i + 1; j < l.Count; j++)
                    if (l[i] == l[j]) { (p, q) = (i, j); break; }
            if (p < 0) return (x, l);
            if (x.shape[p] != x.shape[q])
                throw new ShapeMismatchException("einsum", $"einsum: letter '{Letter(l[p])}' repeats over axes of sizes {x.shape[p]} and {x.shape[q]} in {ShapeMath.Format(x.shape)}");
            x = x.Diagonal(0, p, q);
            int c = l[p];
            l.RemoveAt(q);
            l.RemoveAt(p);
            l.Add(c);
        }
    }

    /// <summary>
    /// One pairwise contraction as a batched matmul: labels in both operands that are still needed
    /// later are batch axes, labels in both that are not are summed, the rest stay free.
    /// </summary>
    static (Tensor, List<int>) Contract(Tensor a, List<int> la, Tensor b, List<int> lb, HashSet<int> later, Dictionary<int, int> size)
    {
        var batch = la.Where(c => lb.Contains(c) && later.Contains(c)).ToList();
        var summed = la.Where(c => lb.Contains(c) && !later.Contains(c)).ToList();
        var left = la.Where(c => !lb.Contains(c)).ToList();
        var right = lb.Where(c => !la.Contains(c)).ToList();
        Tensor Arrange(Tensor t, List<int> l, List<int> first, List<int> second, List<int> third)
        {
            t = t.Permute([.. first.Concat(second).Concat(third).Select(c => l.IndexOf(c))]);
            int[] want = [.. first.Concat(second).Concat(third).Select(c => l.Contains(c) ? size[c] : 1)];
            // an ellipsis axis of size 1 on one side meets its full size on the other
            for (int d = 0; d < want.Length; d++) want[d] = Math.Max(want[d], t.shape[d]);
            if (!ShapeMath.SameShape(want, t.shape)) t = t.Expand(want);
            int Prod(List<int> cs) => cs.Aggregate(1, (m, c) => m * size[c]);
            return t.Reshape(Prod(first), Prod(second), Prod(third));
        }
        var am = Arrange(a, la, batch, left, summed);
        var bm = Arrange(b, lb, batch, summed, right);
        var y = MatMul(am, bm);
        List<int> labels = [.. batch, .. left, .. right];
        return (y.Reshape([.. labels.Select(c => size[c])]), labels);
    }
}
