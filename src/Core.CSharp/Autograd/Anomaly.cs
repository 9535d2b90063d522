using System.Diagnostics;

namespace Cotangent;

/// <summary>
/// A NaN or ±∞ produced under <see cref="Autograd.DetectAnomaly"/>: which op made it, in the
/// forward pass or in its VJP, the shapes and dtypes of its inputs, and where the forward op was
/// called (its creation stack trace).
/// </summary>
public sealed class AnomalyException : InvalidOperationException
{
    internal AnomalyException(string op, bool backward, string message, string? forwardTrace) : base(message)
    {
        Op = op;
        InBackward = backward;
        ForwardStackTrace = forwardTrace;
    }

    /// <summary>The op whose output (or whose VJP's output) was not finite.</summary>
    public string Op { get; }

    /// <summary>True when the op's VJP produced it, false when its forward did.</summary>
    public bool InBackward { get; }

    /// <summary>Where the forward op was called, when anomaly detection was on at the time; else null.</summary>
    public string? ForwardStackTrace { get; }
}

/// <summary>
/// Anomaly detection (torch.autograd.detect_anomaly): while a scope is open, every op's output
/// and every VJP's output is checked for NaN and ±∞, and nodes remember the stack trace of the
/// forward call that made them. Off, the cost is one read of a static counter per op.
/// </summary>
internal static class Anomaly
{
    static readonly FlowStack<FlagScope> Open = new();

    /// <summary>How many scopes are open anywhere: zero is the fast path that skips the flow lookup.</summary>
    static int anywhere;

    /// <summary>The node whose VJP this thread is running, so a check inside it blames that VJP.</summary>
    [ThreadStatic] static Node? inVjpOf;

    /// <summary>Set while a check reads values, so its own reads are not checked.</summary>
    [ThreadStatic] static bool checking;

    public static bool IsOn => Volatile.Read(ref anywhere) != 0 && Open.Top is { } s && s.Enabled;

    public static IDisposable Set(bool enabled)
    {
        Interlocked.Increment(ref anywhere);
        return FlagScope.Open(Open, enabled, () => Interlocked.Decrement(ref anywhere));
    }

    /// <summary>The forward call's stack, for a node made while detection is on.</summary>
    public static string? Trace() => IsOn ? Caller() : null;

    /// <summary>The calling stack from the user's frame outwards: the core's own frames (op, Result, Record) are dropped.</summary>
    static string Caller()
    {
        var core = typeof(Tensor).Assembly;
        var frames = new StackTrace(1, true).GetFrames().SkipWhile(f => f.GetMethod()?.DeclaringType?.Assembly == core);
        return new StackTrace(frames).ToString();
    }

    /// <summary>Checks an op's output; raises naming the op (or the VJP this runs inside) when any element is not finite.</summary>
    public static void CheckForward(string op, Tensor y, Tensor[] inputs)
    {
        if (checking || !y.DType.IsFloating()) return;
        long bad = NonFinite(y);
        if (bad == 0) return;
        if (inVjpOf is { } node) throw Backward(node, op, bad, y);
        var given = string.Join(", ", inputs.Select((t, i) => $"{Shape(t)}{(NonFinite(t) > 0 ? " (already not finite)" : "")}"));
        throw new AnomalyException(op, false,
            $"{OpCall.Blame(op)}: anomaly detection: {(OpCall.Blame(op) == op ? "the op" : op + ", which it is built on,")} produced {bad} NaN or ±inf value(s) in its output {Shape(y)} from inputs {(given.Length == 0 ? "(none)" : given)}\n" +
            $"the forward call:\n{Caller()}", null);
    }

    /// <summary>Checks input i's gradient from a node's VJP.</summary>
    public static void CheckVjp(Node node, int i, Tensor g)
    {
        if (!g.DType.IsFloating()) return;
        long bad = NonFinite(g);
        if (bad > 0) throw Backward(node, $"input {i}", bad, g);
    }

    static AnomalyException Backward(Node node, string where, long bad, Tensor g) =>
        new(node.Name, true,
            $"{node.Name}: anomaly detection: the VJP of {node.Name} ({node}) produced {bad} NaN or ±inf value(s) in {(where.StartsWith("input") ? "the gradient of its " + where : "its " + where)}, {Shape(g)}; " +
            $"the op's inputs were {string.Join(", ", node.Edges.Select(e => $"{e.DType.Name()} {ShapeMath.Format(e.Shape)}"))}\n" +
            (node.CreatedAt is { } trace ? $"the forward call of {node.Name}:\n{trace}" : "the forward call was made before anomaly detection was on, so its stack trace was not kept"),
            node.CreatedAt);

    /// <summary>Runs a VJP with checks inside it blamed on that node.</summary>
    public static T InVjp<T>(Node node, Func<T> vjp)
    {
        var outer = inVjpOf;
        inVjpOf = node;
        try { return vjp(); }
        finally { inVjpOf = outer; }
    }

    static long NonFinite(Tensor t)
    {
        var was = checking;
        checking = true;
        try
        {
            return t.ToArray() switch
            {
                float[] f => f.LongCount(v => !float.IsFinite(v)),
                double[] d => d.LongCount(v => !double.IsFinite(v)),
                _ => 0,
            };
        }
        finally { checking = was; }
    }

    static string Shape(Tensor t) => $"{t.DType.Name()} {ShapeMath.Format(t.ShapeSpan)}";
}
