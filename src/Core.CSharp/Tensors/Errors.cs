namespace Cotangent;

/// <summary>
/// A bad argument to an op: the message starts with the name of the op the user called and
/// says what was wrong, with the shapes, dtypes and devices involved. Raised before any work.
/// Its subclasses say which kind of argument: shapes, axes, dtypes, devices.
/// </summary>
public class OpArgumentException : ArgumentException
{
    /// <summary>A refusal by <paramref name="op"/>, whose <paramref name="message"/> starts with "op: ".</summary>
    public OpArgumentException(string op, string message) : base(OpCall.Explain(op, message))
    {
        Op = OpCall.Blame(op);
    }

    /// <summary>The op the user called (the outermost one, when the refusal came from an op it is built on).</summary>
    public string Op { get; }
}

/// <summary>An op got shapes it cannot combine. The message names the op and the shapes.</summary>
public class ShapeMismatchException(string op, string message) : OpArgumentException(op, message);

/// <summary>An axis argument is outside the tensor's rank. The message names the op.</summary>
public class AxisOutOfRangeException(string op, string message) : OpArgumentException(op, message);

/// <summary>An op got a dtype it does not accept. The message names the op and the dtypes.</summary>
public class DTypeMismatchException(string op, string message) : OpArgumentException(op, message);

/// <summary>An op got tensors on different devices. The message names the op and both devices.</summary>
public class DeviceMismatchException(string op, string message) : OpArgumentException(op, message);

/// <summary>
/// A tensor's buffer could not be allocated: the memory the process may use is exhausted (a
/// container's limit, or a GC heap limit). Nothing was changed and the process stays usable:
/// free tensors (end a <see cref="TensorScope"/>, drop references) or use smaller batches.
/// </summary>
public sealed class TensorOutOfMemoryException(string op, long bytes, Exception inner)
    : OutOfMemoryException($"{op}: cannot allocate {bytes / 1048576.0:N1} MiB for a tensor on cpu: out of memory", inner)
{
    /// <summary>The op whose output could not be allocated.</summary>
    public string Op { get; } = op;

    /// <summary>The bytes asked for.</summary>
    public long Bytes { get; } = bytes;
}

/// <summary>
/// The public op the user called, while it runs. Many ops are built on others (mse_loss on sub
/// and mean, conv2d on unfold and matmul, zeros on full); when one of those inner ops refuses
/// its arguments, the error must still name the op the user called and the operands they
/// passed, not an op they never wrote. Each public op opens a call on entry; only the
/// outermost call on a thread counts, and errors built while it is open are attributed to it.
/// </summary>
internal static class OpCall
{
    [ThreadStatic] static string? outer;
    [ThreadStatic] static object? operands;
    [ThreadStatic] static int depth;

    /// <summary>
    /// Opens a call of <paramref name="op"/> on its tensor operands (a Tensor, or an array of
    /// them, every one required: a null is refused by name); dispose it on return.
    /// </summary>
    public static Call Enter(string op, object? args = null)
    {
        if (args is Tensor?[] ts) RequireAll(op, ts);
        return Open(op, args);
    }

    /// <summary>Opens a call with required operands and optional ones (a bias, a scale) that may be null.</summary>
    public static Call EnterWith(string op, Tensor?[] required, params Tensor?[] optional)
    {
        RequireAll(op, required);
        return Open(op, (Tensor?[])[.. required, .. optional]);
    }

    static Call Open(string op, object? args)
    {
        if (depth++ == 0)
        {
            outer = op;
            operands = args;
        }
        return default;
    }

    static void RequireAll(string op, Tensor?[] ts)
    {
        for (int i = 0; i < ts.Length; i++)
            if (ts[i] is null)
                throw new OpArgumentException(op, ts.Length == 1 ? $"{op}: the tensor is null" : $"{op}: operand {i + 1} of {ts.Length} is null");
    }

    /// <summary>Closes the call opened by <see cref="Enter"/>.</summary>
    public readonly struct Call : IDisposable
    {
        /// <summary>Closes the call.</summary>
        public void Dispose()
        {
            if (--depth == 0)
            {
                outer = null;
                operands = null;
            }
        }
    }

    /// <summary>The op an error raised by <paramref name="op"/> is attributed to.</summary>
    public static string Blame(string op) => depth > 0 && outer is not null ? outer : op;

    /// <summary>
    /// The message of an error raised by <paramref name="op"/>: unchanged when it is the op the
    /// user called, else re-attributed to that op, with the inner op and the user's operands.
    /// </summary>
    public static string Explain(string op, string message)
    {
        if (depth == 0 || outer is null || outer == op) return message;
        var detail = message.StartsWith(op + ": ", StringComparison.Ordinal) ? message[(op.Length + 2)..] : message;
        var args = operands is null ? "" : $"; {outer} was called with {Describe(operands)}";
        return $"{outer}: {detail} (raised by {op}, which {outer} is built on{args})";
    }

    /// <summary>Tensors as "float32 [2, 3] on cpu", in a list.</summary>
    internal static string Describe(object args) => args switch
    {
        Tensor t => Describe(t),
        Tensor?[] ts => string.Join(", ", ts.Select(t => t is null ? "none" : Describe(t))),
        _ => args.ToString() ?? "",
    };

    static string Describe(Tensor t) => $"{t.DType.Name()} {ShapeMath.Format(t.ShapeSpan)}{(t.Device == Device.Cpu ? "" : $" on {t.Device}")}";

    /// <summary>An index error (the runtime's own type, as PyTorch's IndexError) attributed like the others.</summary>
    public static IndexOutOfRangeException Index(string op, string message) => new(Explain(op, message));
}
