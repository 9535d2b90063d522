using System.Collections;

namespace Cotangent.Nn;

/// <summary>What to do with a final batch smaller than the batch size.</summary>
public enum LastBatch
{
    /// <summary>Yield it (torch's drop_last=False).</summary>
    Keep,
    /// <summary>Skip it (drop_last=True).</summary>
    Drop,
}

/// <summary>
/// Batches of in-memory (inputs, targets) along axis 0, optionally reshuffled every epoch
/// (every enumeration) from a seeded generator, so runs repeat.
/// </summary>
public sealed class DataLoader : IEnumerable<(Tensor Inputs, Tensor Targets)>
{
    readonly Tensor inputs, targets;
    readonly int batchSize;
    readonly bool shuffle;
    readonly LastBatch last;
    readonly Generator generator;

    /// <summary>Batches of <paramref name="batchSize"/> rows of inputs and targets (same first axis).</summary>
    public DataLoader(Tensor inputs, Tensor targets, int batchSize, bool shuffle = false, LastBatch last = LastBatch.Keep, Generator? generator = null)
    {
        if (inputs is null || targets is null) throw new ArgumentNullException(inputs is null ? nameof(inputs) : nameof(targets), "data_loader: the inputs or the targets are null");
        inputs.CheckAlive("data_loader");
        targets.CheckAlive("data_loader");
        if (inputs.Rank == 0 || targets.Rank == 0 || inputs.Size(0) != targets.Size(0))
            throw new ShapeMismatchException("data_loader", $"data_loader: inputs {ShapeMath.Format(inputs.Shape)} and targets {ShapeMath.Format(targets.Shape)} need one first axis");
        if (batchSize <= 0) throw new ArgumentException($"data_loader: the batch size must be positive, got {batchSize}");
        (this.inputs, this.targets, this.batchSize, this.shuffle, this.last) = (inputs, targets, batchSize, shuffle, last);
        this.generator = generator ?? new Generator(0);
    }

    /// <summary>Batches per epoch.</summary>
    public int Count => (int)(last == LastBatch.Drop ? inputs.Size(0) / batchSize : (inputs.Size(0) + (long)batchSize - 1) / batchSize);

    /// <summary>One epoch of batches.</summary>
    public IEnumerator<(Tensor Inputs, Tensor Targets)> GetEnumerator() => Batches().GetEnumerator();

    // an iterator of its own so that the public method carries no [IteratorStateMachine], which
    // fsdocs cannot read
    IEnumerable<(Tensor Inputs, Tensor Targets)> Batches()
    {
        int n = inputs.Size(0);
        var order = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        if (shuffle)
        {
            var u = generator.Uniform(n);   // Fisher–Yates from the generator's stream
            for (int i = n - 1; i > 0; i--)
            {
                int j = (int)(u[i] * (i + 1));
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        for (int start = 0; start < n; start += batchSize)
        {
            int size = Math.Min(batchSize, n - start);
            if (size < batchSize && last == LastBatch.Drop) yield break;
            // the indices live where the data does: a batch is cut on the data's device
            var idx = Tensor.FromArray(order[start..(start + size)], [size], inputs.Device);
            var tdx = targets.Device == inputs.Device ? idx : idx.To(targets.Device);
            yield return (inputs.IndexSelect(0, idx), targets.IndexSelect(0, tdx));
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
