namespace Cotangent;

/// <summary>Normalised exponentials and the losses built on them; all compositions of stable primitives.</summary>
public sealed partial class Tensor
{
    /// <summary>
    /// log softmax along axis: x − logsumexp(x), stable for any magnitude. A fused primitive for
    /// speed (one pass per row instead of eight ops); VJP g − softmax·Σg, written with ops.
    /// </summary>
    [Op("log_softmax")]
    public Tensor LogSoftmax(int axis = -1)
    {
        using var _ = OpCall.Enter("log_softmax", this);
        RequireFloat("log_softmax");
        int a = ShapeMath.Axis("log_softmax", axis, Rank);
        if (Rank == 0) return this - this;
        if (a != Rank - 1) return Transpose(a, -1).LogSoftmax(-1).Transpose(a, -1);
        return Result("log_softmax", Kernels.LogSoftmax(View), Shape, [this],
            (_, g, _, y) => g - y.Exp() * g.Sum([-1], keepDim: true));
    }

    /// <summary>softmax along axis: exp(log_softmax x), so no exp of a large value is taken.</summary>
    [Op("softmax", OpKind.Composite)]
    public Tensor Softmax(int axis = -1)
    {
        using var _ = OpCall.Enter("softmax", this);
        return LogSoftmax(axis).Exp();
    }

    /// <summary>
    /// Mean cross-entropy of logits [N, C] against int64 class labels [N]
    /// (torch.nn.functional.cross_entropy): −mean(log_softmax(logits)[i, labels[i]]).
    /// </summary>
    [Op("cross_entropy", OpKind.Composite)]
    public static Tensor CrossEntropy(Tensor logits, Tensor labels)
    {
        using var _ = OpCall.Enter("cross_entropy", logits, labels);
        CheckClassification("cross_entropy", "logits", logits, labels);
        return -logits.LogSoftmax(1).Gather(1, labels.Unsqueeze(1)).Mean();
    }

    /// <summary>Mean squared error between two tensors of one shape.</summary>
    [Op("mse_loss", OpKind.Composite)]
    public static Tensor MseLoss(Tensor input, Tensor target)
    {
        using var _ = OpCall.Enter("mse_loss", input, target);
        SameDevice("mse_loss", input, target);
        input.RequireFloat("mse_loss");
        target.RequireFloat("mse_loss");
        if (!ShapeMath.SameShape(input.shape, target.shape))
            throw new ShapeMismatchException("mse_loss", $"mse_loss: input shape {ShapeMath.Format(input.shape)} and target shape {ShapeMath.Format(target.shape)} differ");
        var d = input - target;
        return (d * d).Mean();
    }
}
