using Cotangent.Nn;

namespace Cotangent.Distributed;

/// <summary>
/// One process, several devices, as PyTorch's <c>DataParallel</c>: each forward splits the
/// batch along its first axis into one chunk per device (as <c>torch.chunk</c>: equal chunks
/// of ⌈n/k⌉ rows, the last one shorter; fewer devices when the batch is small), copies the
/// parameters to each device (differentiable copies: their gradients flow back to the
/// originals and add up there), runs the module on every device at once (one host thread a
/// device) and gathers the outputs on <see cref="OutputDevice"/>. Backward then leaves the
/// summed gradients on the original parameters, and one optimizer step follows. The module's
/// parameters must be on the first device. Buffers (batch norm's running statistics) are read
/// by every replica and updated by the first device's alone, as in PyTorch. Backward runs on the calling thread; modules whose
/// forward keeps state between calls (a shared random generator) see calls from several threads.
/// </summary>
public sealed class DataParallel : Module
{
    /// <summary>Wraps <paramref name="module"/> (its parameters on <c>devices[0]</c>) for the devices, gathering on <paramref name="outputDevice"/> (default: the first).</summary>
    public DataParallel(Module module, IReadOnlyList<Device> devices, Device? outputDevice = null)
    {
        const string op = "data_parallel";
        if (module is null) throw new OpArgumentException(op, $"{op}: the module is null");
        if (devices is null || devices.Count == 0) throw new OpArgumentException(op, $"{op}: give at least one device");
        if (devices.Distinct().Count() != devices.Count) throw new OpArgumentException(op, $"{op}: a device is listed twice in [{string.Join(", ", devices)}]");
        foreach (var d in devices) Backends.Backend.For(d, op);
        Module = AddModule("module", module);
        Devices = [.. devices];
        OutputDevice = outputDevice ?? devices[0];
        Backends.Backend.For(OutputDevice, op);
    }

    /// <summary>The wrapped module.</summary>
    public Module Module { get; }

    /// <summary>The devices the batch is split over, in chunk order.</summary>
    public IReadOnlyList<Device> Devices { get; }

    /// <summary>Where the outputs are gathered.</summary>
    public Device OutputDevice { get; }

    /// <summary>Scatter, replicate, run in parallel, gather.</summary>
    public override Tensor Forward(Tensor input)
    {
        const string op = "data_parallel";
        input = Input(input);
        var ps = Module.Parameters().ToArray();
        foreach (var p in ps)
            if (p.Value.Device != Devices[0])
                throw new DeviceMismatchException(op, $"{op}: a parameter of shape {ShapeMath.Format(p.Shape)} is on {p.Value.Device}; the module's parameters must be on the first device, {Devices[0]} (module.To({Devices[0]}))");
        if (input.Rank == 0) throw new ShapeMismatchException(op, $"{op}: the input must have a batch axis to split, got a scalar");
        int n = input.Size(0);
        int per = Math.Max(1, (n + Devices.Count - 1) / Devices.Count);
        int used = Math.Max(1, (n + per - 1) / per);
        var outputs = new Tensor[used];
        // each replica's inputs and parameters are copied on this thread: the copies are the graph's edges back.
        // Buffers (batch norm's running statistics) are copied too, and a replica's updates stay
        // in its copy: as in PyTorch, the module's buffers follow the first device's chunk alone
        var bs = Module.NamedBuffers().Select(b => b.Buffer).ToArray();
        var work = new (Tensor Input, Dictionary<Parameter, Tensor> Copies, Dictionary<Nn.Buffer, Tensor> Buffers)[used];
        for (int i = 0; i < used; i++)
        {
            var d = Devices[i];
            var chunk = used == 1 ? input : input.Slice(0, i * per, Math.Min(n, (i + 1) * per));
            var copies = new Dictionary<Parameter, Tensor>(ReferenceEqualityComparer.Instance);
            var bufferCopies = new Dictionary<Nn.Buffer, Tensor>(ReferenceEqualityComparer.Instance);
            if (i > 0)
            {
                foreach (var p in ps) copies[p] = p.Value.To(d);
                using (Autograd.NoGrad())
                    foreach (var b in bs) bufferCopies[b] = b.Value.To(d);
            }
            work[i] = (chunk.Device == d ? chunk : chunk.To(d), copies, bufferCopies);
        }
        if (used == 1) outputs[0] = Module.Forward(work[0].Input);
        else
        {
            var tasks = new Task[used];
            for (int i = 0; i < used; i++)
            {
                int k = i;
                tasks[k] = Task.Run(() =>
                {
                    using var _ = Parameter.Replicate(work[k].Copies);
                    using var __ = Nn.Buffer.Replicate(work[k].Buffers);
                    outputs[k] = Module.Forward(work[k].Input);
                });
            }
            try { Task.WaitAll(tasks); }
            catch (AggregateException e)
            {
                var first = e.Flatten().InnerExceptions[0];
                int at = Array.FindIndex(tasks, t => t.IsFaulted);
                throw new InvalidOperationException($"{op}: the replica on {Devices[at]} failed: {first.Message}", first);
            }
        }
        var gathered = outputs.Select(o => o.Device == OutputDevice ? o : o.To(OutputDevice)).ToArray();
        return gathered.Length == 1 ? gathered[0] : Tensor.Cat(gathered, 0);
    }
}

/// <summary>
/// A layer that moves its input to a device: the seam between the stages of a model split over
/// devices (model parallelism: <c>new Sequential(stage1.To(d0), new ToDevice(d1), stage2.To(d1))</c>).
/// The copy is differentiable, so gradients flow back across it.
/// </summary>
public sealed class ToDevice(Device device) : Module
{
    /// <summary>Where the input goes.</summary>
    public Device Device { get; } = device;

    /// <summary>The input, on <see cref="Device"/>.</summary>
    public override Tensor Forward(Tensor input) => Input(input).To(Device);
}
