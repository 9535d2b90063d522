namespace Cotangent;

/// <summary>
/// A stack of open scopes (grad-mode scopes, tensor scopes) that flows with the logical call,
/// as an AsyncLocal does, and stays right when scopes are disposed out of order: disposing a
/// scope removes that scope wherever it sits, and the innermost scope still open decides. With
/// a plain "restore what was before me" scheme, disposing an outer scope before an inner one
/// made the inner one restore the outer's state afterwards, and the outer's effect lasted for
/// the rest of the flow. Frames are immutable, so a child flow's pushes never reach its parent.
/// </summary>
internal sealed class FlowStack<T> where T : class
{
    sealed record Frame(T Item, Frame? Outer);

    readonly AsyncLocal<Frame?> top = new();

    /// <summary>The innermost open scope of this flow, or null.</summary>
    public T? Top => top.Value?.Item;

    /// <summary>Opens a scope.</summary>
    public void Push(T item) => top.Value = new Frame(item, top.Value);

    /// <summary>Closes a scope: removes it from this flow's stack, wherever it is; nothing when this flow does not hold it.</summary>
    public void Remove(T item)
    {
        var current = top.Value;
        if (current is null) return;
        if (ReferenceEquals(current.Item, item))
        {
            top.Value = current.Outer;
            return;
        }
        var above = new List<T>();
        var f = current;
        while (f is not null && !ReferenceEquals(f.Item, item))
        {
            above.Add(f.Item);
            f = f.Outer;
        }
        if (f is null) return;
        var rebuilt = f.Outer;
        for (int i = above.Count - 1; i >= 0; i--) rebuilt = new Frame(above[i], rebuilt);
        top.Value = rebuilt;
    }
}

/// <summary>
/// A scope that sets an on/off mode for its flow until disposed (grad mode, anomaly detection):
/// pushed on a <see cref="FlowStack{T}"/> of such scopes, whose innermost open one decides.
/// </summary>
internal sealed class FlagScope(FlowStack<FlagScope> stack, bool enabled, Action? closed = null) : IDisposable
{
    bool done;

    /// <summary>Whether the mode is on inside this scope.</summary>
    public bool Enabled { get; } = enabled;

    /// <summary>Opens a scope on <paramref name="stack"/>.</summary>
    public static FlagScope Open(FlowStack<FlagScope> stack, bool enabled, Action? closed = null)
    {
        var scope = new FlagScope(stack, enabled, closed);
        stack.Push(scope);
        return scope;
    }

    /// <summary>Closes the scope, once.</summary>
    public void Dispose()
    {
        if (done) return;
        done = true;
        stack.Remove(this);
        closed?.Invoke();
    }
}
