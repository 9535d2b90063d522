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
/// A device that does not exist here, or that no backend of this build serves (a CUDA device on
/// a machine without the driver). The message names the op and the device.
/// </summary>
public class DeviceUnavailableException(string op, string message) : OpArgumentException(op, message);

/// <summary>
/// A tensor's buffer could not be allocated: the memory the process may use is exhausted (a
/// container's limit, or a GC heap limit). Nothing was changed and the process stays usable:
/// free tensors (end a <see cref="TensorScope"/>, drop references) or use smaller batches.
/// </summary>
public sealed class TensorOutOfMemoryException(string op, long bytes, Exception inner, Device? device = null)
    : OutOfMemoryException($"{op}: cannot allocate {bytes / 1048576.0:N1} MiB for a tensor on {device ?? Device.Cpu}: out of memory ({inner.Message})", inner)
{
    /// <summary>The device whose memory ran out.</summary>
    public Device Device { get; } = device ?? Device.Cpu;

    /// <summary>The op whose output could not be allocated.</summary>
    public string Op { get; } = op;

    /// <summary>The bytes asked for.</summary>
    public long Bytes { get; } = bytes;
}

/// <summary>
/// A device's memory could not hold a tensor, even after its cache was emptied and the request
/// retried (torch.OutOfMemoryError). The message names the op, the device, the request and the
/// device's counters; the process and the device stay usable, and a smaller request may succeed.
/// </summary>
public sealed class OutOfDeviceMemoryException(string op, Device device, long requested, long allocated, long reserved, long? free)
    : OutOfMemoryException($"{op}: out of memory on {device}: tried to allocate {Mib(requested)} with {Mib(allocated)} allocated by tensors and {Mib(reserved)} reserved by the allocator{(free is { } f ? $", {Mib(f)} free" : "")}")
{
    static string Mib(long bytes) => $"{bytes / 1048576.0:N2} MiB";

    /// <summary>The op whose output could not be allocated.</summary>
    public string Op { get; } = op;

    /// <summary>The device.</summary>
    public Device Device { get; } = device;

    /// <summary>The bytes asked for.</summary>
    public long Requested { get; } = requested;

    /// <summary>Bytes in tensors on the device when it failed.</summary>
    public long Allocated { get; } = allocated;

    /// <summary>Bytes the allocator held from the device when it failed.</summary>
    public long Reserved { get; } = reserved;

    /// <summary>Bytes still free under the limit, or on the device as its driver reports; null where neither is known.</summary>
    public long? Free { get; } = free;
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
    /// <summary>This thread's open call: one thread-static read per entry, then plain fields.</summary>
    internal sealed class State
    {
        public string? Outer;
        public Tensor? First, Second, Third;
        public Tensor?[]? Many;
        public int Depth;
    }

    [ThreadStatic] static State? current;

    static State Current => current ??= new State();

    // One overload per arity, so the hot path (every op call) allocates nothing: the operands
    // are remembered in fields and described only if an error needs them.

    /// <summary>Opens a call of <paramref name="op"/> with no tensor operands; dispose it on return.</summary>
    public static Call Enter(string op) => Open(op, null, null, null, null);

    /// <summary>Opens a call of <paramref name="op"/> on one required operand (a null is refused by name).</summary>
    public static Call Enter(string op, Tensor? a)
    {
        if (a is null) throw Null(op, 0, 1);
        return Open(op, a, null, null, null);
    }

    /// <summary>Opens a call on two required operands.</summary>
    public static Call Enter(string op, Tensor? a, Tensor? b)
    {
        if (a is null) throw Null(op, 0, 2);
        if (b is null) throw Null(op, 1, 2);
        return Open(op, a, b, null, null);
    }

    /// <summary>Opens a call on three required operands.</summary>
    public static Call Enter(string op, Tensor? a, Tensor? b, Tensor? c)
    {
        if (a is null) throw Null(op, 0, 3);
        if (b is null) throw Null(op, 1, 3);
        if (c is null) throw Null(op, 2, 3);
        return Open(op, a, b, c, null);
    }

    /// <summary>Opens a call on a list of operands (cat, stack): the op checks the list itself.</summary>
    public static Call Enter(string op, Tensor?[]? operands) => Open(op, null, null, null, operands);

    /// <summary>Opens a call with required operands and optional ones (a bias, a scale) that may be null.</summary>
    public static Call EnterWith(string op, Tensor?[] required, params Tensor?[] optional)
    {
        for (int i = 0; i < required.Length; i++)
            if (required[i] is null) throw Null(op, i, required.Length);
        return Open(op, null, null, null, [.. required, .. optional]);
    }

    static Call Open(string op, Tensor? a, Tensor? b, Tensor? c, Tensor?[]? list)
    {
        var s = Current;
        if (s.Depth++ == 0)
        {
            s.Outer = op;
            (s.First, s.Second, s.Third, s.Many) = (a, b, c, list);
        }
        return new Call(s);
    }

    static OpArgumentException Null(string op, int i, int count) =>
        new(op, count == 1 ? $"{op}: the tensor is null" : $"{op}: operand {i + 1} of {count} is null");

    /// <summary>Closes the call opened by <see cref="Enter(string)"/>.</summary>
    public readonly struct Call : IDisposable
    {
        readonly State state;

        internal Call(State state) => this.state = state;

        /// <summary>Closes the call.</summary>
        public void Dispose()
        {
            if (--state.Depth == 0)
            {
                state.Outer = null;
                (state.First, state.Second, state.Third, state.Many) = (null, null, null, null);
            }
        }
    }

    /// <summary>The op an error raised by <paramref name="op"/> is attributed to.</summary>
    public static string Blame(string op) => current is { Depth: > 0, Outer: { } outer } ? outer : op;

    /// <summary>
    /// The message of an error raised by <paramref name="op"/>: unchanged when it is the op the
    /// user called, else re-attributed to that op, with the inner op and the user's operands.
    /// </summary>
    public static string Explain(string op, string message)
    {
        if (current is not { Depth: > 0, Outer: { } outer } s || outer == op) return message;
        var detail = message.StartsWith(op + ": ", StringComparison.Ordinal) ? message[(op.Length + 2)..] : message;
        Tensor?[] given = s.Many ?? new[] { s.First, s.Second, s.Third }.Where(t => t is not null).ToArray();
        var args = given.Length == 0 ? "" : $"; {outer} was called with {Describe(given)}";
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
