namespace Cotangent;

/// <summary>
/// Reverse-mode sweep: orders the graph topologically from the roots, then pulls each node's
/// summed cotangent back through its VJP rule. Bookkeeping lives here, not in rules: summing
/// fan-out, reducing broadcast axes back to an input's shape, casting to its dtype, and
/// skipping inputs that need no gradient.
/// </summary>
internal static class Engine
{
    [ThreadStatic] static long sweeps;

    static readonly HashSet<object> NoneWanted = new(ByIdentity.Instance);

    /// <summary>Reverse sweeps run on this thread so far: how tests count that a pullback costs one.</summary>
    internal static long Sweeps => sweeps;

    /// <summary>
    /// Runs a backward pass. When <paramref name="wrt"/> is given, returns the gradient of each
    /// of those tensors (leaves or intermediates); leaves' accumulators are updated only when
    /// <paramref name="accumulate"/> is set. With <paramref name="reachedLeaves"/>, the sweep
    /// also goes to every leaf that requires grad (no pruning to the wanted tensors) and hands
    /// back their gradients there: one sweep for a program's inputs and the leaves its plain
    /// code used (diff { }).
    /// </summary>
    public static Tensor?[] Run(Tensor[] roots, Tensor[] seeds, bool retainGraph, bool createGraph, Tensor[]? wrt, bool accumulate, Dictionary<Tensor, Tensor>? reachedLeaves = null)
    {
        sweeps++;
        long before = Storage.Births;
        var order = TopologicalOrder(roots);
        var pending = new Dictionary<Node, Tensor>(ByIdentity.Instance);
        var leafGrads = new Dictionary<Tensor, Tensor>(ByIdentity.Instance);
        // empty and shared when nothing is wanted (Backward): nothing is added to either then
        var wanted = wrt is null ? NoneWanted : new HashSet<object>(ByIdentity.Instance);
        var captured = wrt is null ? null : new Dictionary<object, Tensor>(ByIdentity.Instance);
        if (wrt is not null)
            foreach (var t in wrt) wanted.Add(t.GradFn is { } n ? n : t);
        // without accumulation only paths to the wanted tensors matter: prune the rest
        var needed = accumulate || reachedLeaves is not null ? null : Needed(order, wanted);

        void Send(Tensor target, Tensor g)
        {
            if (target.GradFn is { } node) Sum(pending, node, g);
            else if (target.RequiresGrad) Sum(leafGrads, target, g);
        }

        // leaves with a hook get their gradient as soon as the last node feeding them has run
        var hooked = accumulate && wrt is null && reachedLeaves is null ? HookedLeaves(order, roots) : null;
        var readyAfter = hooked?.At;

        // every leaf of one accumulator (a parameter's old and new values may both be in a
        // graph) is added before its hook hears of any of them
        void Ready(List<Tensor> group)
        {
            Tensor? reported = null;
            foreach (var leaf in group)
                if (leafGrads.Remove(leaf, out var lg))
                {
                    leaf.Accumulator!.Add(lg);
                    reported ??= leaf;
                }
            if (reported is not null) reported.Accumulator!.Hook!.Ready(reported);
        }

        Exception? failure = null;
        try
        {
            Sweep();
        }
        catch (Exception e) when (hooked is not null)
        {
            failure = e;
            throw;
        }
        finally
        {
            // every hook whose leaves are in the graph ends the pass, reached or not, failed or
            // not, in a fixed order (DDP's all-reduces must be issued alike on every rank)
            if (hooked is not null)
            {
                List<Exception>? errors = null;
                foreach (var hook in hooked.Value.Hooks)
                {
                    try { hook.Finished(failure); }
                    catch (Exception e) { (errors ??= []).Add(e); }
                }
                if (errors is not null && failure is null) throw errors.Count == 1 ? errors[0] : new AggregateException(errors);
            }
        }
        if (wrt is null) return [];
        var result = new Tensor?[wrt.Length];
        for (int i = 0; i < wrt.Length; i++)
            result[i] = captured!.TryGetValue(wrt[i].GradFn is { } n ? n : wrt[i], out var g) ? g : null;
        return result;

        bool Wants(Edge e) => e.RequiresGrad && (needed is null || (e.Fn is { } fn ? needed.Contains(fn) : e.Leaf is { } l && wanted.Contains(l)));

        void Sweep()
        {
            using (GradMode.Set(createGraph))
            {
                for (int r = 0; r < roots.Length; r++) Send(roots[r], seeds[r]);
                if (readyAfter is not null)
                    foreach (var leaf in readyAfter[0]) Ready(leaf);
                for (int k = 0; k < order.Count; k++)
                {
                    var node = order[k];
                    if (readyAfter is not null && k > 0)
                        foreach (var leaf in readyAfter[k]) Ready(leaf);
                    if (!pending.Remove(node, out var g)) continue;
                    if (wanted.Contains(node)) captured![node] = g;
                    var edges = node.Edges;
                    Tensor?[]? joint = null;
                    if (node.HasJoint && !createGraph)   // a recorded backward needs the differentiable per-input rules
                    {
                        var mask = new bool[edges.Length];
                        bool any = false;
                        for (int i = 0; i < edges.Length; i++) any |= mask[i] = Wants(edges[i]);
                        if (any) joint = Anomaly.IsOn ? Anomaly.InVjp(node, () => node.JointVjp(mask, g)) : node.JointVjp(mask, g);
                    }
                    for (int i = 0; i < edges.Length; i++)
                    {
                        var e = edges[i];
                        if (!Wants(e)) continue;
                        var gi = joint is not null ? joint[i] : Anomaly.IsOn ? Anomaly.InVjp(node, () => node.Vjp(i, g)) : node.Vjp(i, g);
                        if (gi is null) continue;
                        if (Anomaly.IsOn) Anomaly.CheckVjp(node, i, gi);
                        gi = Fit(node.Name, gi, e);
                        if (e.Fn is not null) Sum(pending, e.Fn, gi);
                        else if (e.Leaf is not null) Sum(leafGrads, e.Leaf, gi);
                    }
                }
                if (readyAfter is not null)
                    foreach (var leaf in readyAfter[order.Count]) Ready(leaf);
                if (!retainGraph) foreach (var node in order) node.Release();
                var sharing = accumulate && wrt is null && !createGraph ? StorageUse(leafGrads) : null;
                foreach (var (leaf, g) in leafGrads)
                {
                    if (wanted.Contains(leaf)) captured![leaf] = g;
                    if (reachedLeaves is not null) reachedLeaves[leaf] = g;
                    if (accumulate) leaf.Accumulator!.Add(g, owned: sharing is not null && Exclusive(g, before, sharing));
                }
            }
        }
    }

    /// <summary>
    /// For each step of the sweep, the hooked leaves whose gradient is complete once it is
    /// reached, grouped by accumulator: index k (1 ≤ k &lt; count) before node k runs, i.e.
    /// after the last node that feeds any leaf of the group (order lists consumers first, so
    /// that is the last one listed); index 0 holds groups fed by no node (hooked leaves that
    /// are roots); index count those fed by the last node. And the hooks involved, ordered by
    /// <see cref="IGradHook.Order"/>. Null when no leaf in the graph has a hook, the common case.
    /// </summary>
    static (List<List<Tensor>>[] At, IGradHook[] Hooks)? HookedLeaves(List<Node> order, Tensor[] roots)
    {
        Dictionary<GradAccumulator, (int Last, List<Tensor> Leaves)>? groups = null;
        void Note(Tensor leaf, int k)
        {
            var acc = leaf.Accumulator!;
            groups ??= new(ReferenceEqualityComparer.Instance);
            if (!groups.TryGetValue(acc, out var g)) g = (k, []);
            if (!g.Leaves.Contains(leaf, ByIdentity.Instance)) g.Leaves.Add(leaf);
            groups[acc] = (Math.Max(g.Last, k), g.Leaves);
        }
        foreach (var r in roots)
            if (r.GradFn is null && r.RequiresGrad && r.Accumulator is { Hook: not null }) Note(r, 0);
        for (int k = 0; k < order.Count; k++)
            foreach (var e in order[k].Edges)
                if (e.RequiresGrad && e.Leaf is { Accumulator.Hook: not null } leaf) Note(leaf, k + 1);
        if (groups is null) return null;
        var at = new List<List<Tensor>>[order.Count + 1];
        for (int k = 0; k < at.Length; k++) at[k] = [];
        foreach (var (_, g) in groups) at[g.Last].Add(g.Leaves);
        var hooks = groups.Keys.Select(a => a.Hook!).Distinct(ReferenceEqualityComparer.Instance).Cast<IGradHook>().OrderBy(h => h.Order).ToArray();
        return (at, hooks);
    }

    /// <summary>
    /// Whether a leaf's gradient is its own: made during this pass (not a seed or a saved
    /// tensor), kept by nobody, and shared with no other leaf (a VJP may hand one tensor to
    /// two inputs). Only then may its accumulator recycle it once it is cleared or replaced.
    /// </summary>
    static bool Exclusive(Tensor g, long before, Dictionary<Storage, int> sharing) =>
        g.Storage.Born > before && !g.Storage.Kept && sharing[g.Storage] == 1;

    /// <summary>How many leaf gradients read each buffer.</summary>
    static Dictionary<Storage, int> StorageUse(Dictionary<Tensor, Tensor> leafGrads)
    {
        var use = new Dictionary<Storage, int>(ByIdentity.Instance);
        foreach (var g in leafGrads.Values) use[g.Storage] = use.GetValueOrDefault(g.Storage) + 1;
        return use;
    }

    /// <summary>The nodes from which some wanted tensor is reachable (order lists consumers before inputs).</summary>
    static HashSet<Node> Needed(List<Node> order, HashSet<object> wanted)
    {
        var needed = new HashSet<Node>(ByIdentity.Instance);
        for (int k = order.Count - 1; k >= 0; k--)
        {
            var node = order[k];
            bool need = wanted.Contains(node);
            // a plain loop: a lambda here allocated a closure per node of every functional pass
            foreach (var e in node.Edges)
            {
                if (need) break;
                need = e.Fn is { } fn ? needed.Contains(fn) : e.Leaf is { } l && wanted.Contains(l);
            }
            if (need) needed.Add(node);
        }
        return needed;
    }

    static void Sum<TKey>(Dictionary<TKey, Tensor> acc, TKey key, Tensor g) where TKey : notnull =>
        acc[key] = acc.TryGetValue(key, out var prev) ? prev + g : g;

    /// <summary>Sums broadcast axes away and casts, so a gradient matches its input exactly.</summary>
    static Tensor Fit(string op, Tensor g, Edge x)
    {
        if (!ShapeMath.SameShape(g.ShapeSpan, x.Shape))
        {
            try { g = g.SumTo(x.Shape); }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"the VJP of '{op}' returned shape {ShapeMath.Format(g.ShapeSpan)} for an input of shape {ShapeMath.Format(x.Shape)}", e);
            }
        }
        return g.DType == x.DType ? g : g.To(x.DType);
    }

    public static Tensor[] Leaves(Tensor[] outputs)
    {
        var found = new List<Tensor>();
        var seen = new HashSet<Tensor>(ByIdentity.Instance);
        foreach (var y in outputs)
            if (y.RequiresGrad && y.IsLeaf && seen.Add(y)) found.Add(y);
        foreach (var node in TopologicalOrder(outputs))
            foreach (var e in node.Edges)
                if (e.Leaf is { } leaf && seen.Add(leaf)) found.Add(leaf);
        return found.ToArray();
    }

    /// <summary>
    /// Whether the graph of <paramref name="roots"/> reaches a leaf that requires grad other than
    /// <paramref name="own"/>: whether a transform's result depends on tensors from outside it
    /// (a closure's, or the tape of imperative code around it) that someone may differentiate.
    /// Stops at the first such leaf; nodes already freed are passed over (nothing flows there).
    /// </summary>
    public static bool ReachesOutside(Tensor[] roots, Tensor[] own)
    {
        // another transform's own leaf is a constant here: a nested transform that returned a
        // derivative keeps its graph to the leaf it made, which no caller can differentiate
        bool Outside(Tensor leaf) => leaf.RequiresGrad && !leaf.IsTransformLeaf && Array.IndexOf(own, leaf) < 0;
        // reused per thread and cleared on the way out: every transform call walks its graph once
        var seen = walkSeen ??= new HashSet<Node>(ByIdentity.Instance);
        var stack = walkStack ??= new Stack<Node>();
        try
        {
            foreach (var y in roots)
            {
                if (y.GradFn is { } n) { if (seen.Add(n)) stack.Push(n); }
                else if (Outside(y)) return true;
            }
            while (stack.Count > 0)
            {
                var node = stack.Pop();
                if (node.IsReleased) continue;
                foreach (var e in node.Edges)
                {
                    if (e.Fn is { } fn) { if (seen.Add(fn)) stack.Push(fn); }
                    else if (e.Leaf is { } leaf && Outside(leaf)) return true;
                }
            }
            return false;
        }
        finally
        {
            // Clear costs the set's capacity: after a walk of a big graph, start afresh instead
            if (seen.Count > 4096) walkSeen = null; else seen.Clear();
            stack.Clear();
        }
    }

    [ThreadStatic] static HashSet<Node>? walkSeen;
    [ThreadStatic] static Stack<Node>? walkStack;

    /// <summary>Nodes reachable from the roots, each after every node that consumes it. Fails before any work on a freed node.</summary>
    static List<Node> TopologicalOrder(Tensor[] roots)
    {
        var post = new List<Node>();
        var seen = new HashSet<Node>(ByIdentity.Instance);
        var stack = new Stack<(Node node, int next)>();
        foreach (var root in roots)
        {
            if (root.GradFn is not { } start || !seen.Add(start)) continue;
            stack.Push((start, 0));
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (node.IsReleased) throw new InvalidOperationException(Node.FreedMessage(node.Name));
                var edges = node.Edges;
                if (next < edges.Length)
                {
                    stack.Push((node, next + 1));
                    if (edges[next].Fn is { } child && seen.Add(child)) stack.Push((child, 0));
                }
                else post.Add(node);
            }
        }
        post.Reverse();
        return post;
    }
}
