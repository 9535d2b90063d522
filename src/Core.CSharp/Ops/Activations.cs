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

    /// <summary>
    /// softmax along axis: exp(log_softmax x), so no exp of a large value is taken. A primitive:
    /// one kernel (on the CPU, log softmax's last pass writes the exp), and the VJP is one fused pass per row,
    /// <see cref="SoftmaxBackward"/> (the composition took six ops, two nodes).
    /// </summary>
    [Op("softmax")]
    public Tensor Softmax(int axis = -1)
    {
        using var _ = OpCall.Enter("softmax", this);
        RequireFloat("softmax");
        int a = ShapeMath.Axis("softmax", axis, Rank);
        if (Rank == 0) return LogSoftmax(axis).Exp();
        if (a != Rank - 1) return Transpose(a, -1).Softmax(-1).Transpose(a, -1);
        return Result("softmax", Kernels.Softmax(View), Shape, [this], (_, g, _, y) => SoftmaxBackward(g, y));
    }

    /// <summary>
    /// softmax's pullback along the last axis: y·(g − Σ g·y), one pass a row. Its Jacobian in g is
    /// softmax's own (symmetric), so ∂g = softmax_backward(u, y); ∂y = u·(g − Σ g·y) − g·Σ u·y.
    /// </summary>
    [Op("softmax_backward")]
    public static Tensor SoftmaxBackward(Tensor g, Tensor y)
    {
        using var _ = OpCall.Enter("softmax_backward", g, y);
        y.RequireFloat("softmax_backward");
        ElementForElement("softmax_backward", "cotangent", g, "output", y);
        if (y.Rank == 0) return g * 0.0;   // softmax of one element is 1, whatever the input
        return Result("softmax_backward", y.Kernels.SoftmaxBackward(g.View, y.View), y.Shape, [g, y], (i, u, xs, _) =>
        {
            var (g0, y0) = (xs[0], xs[1]);
            if (i == 0) return SoftmaxBackward(u, y0);
            return u * (g0 - (g0 * y0).Sum([-1], keepDim: true)) - g0 * (u * y0).Sum([-1], keepDim: true);
        });
    }

    /// <summary>
    /// Mean cross-entropy of logits [N, C] against int64 class labels [N]
    /// (torch.nn.functional.cross_entropy): −mean(log_softmax(logits)[i, labels[i]]).
    /// </summary>
    [Op("cross_entropy", OpKind.Composite)]
    public static Tensor CrossEntropy(Tensor logits, Tensor labels)
    {
        using var _ = OpCall.Enter("cross_entropy", logits, labels);
        // [N, C] against int64 [N] here; other shapes and probability targets take the general form
        // the general form also ignores -100 (PyTorch's default ignore_index) and refuses an empty mean
        if (logits.Rank != 2 || labels.DType != DType.Int64 || logits.shape[0] == 0 || labels.Rank != 1
            || labels.Kernels.CountOutside(labels.View, 0, logits.shape[1]) != 0) return CrossEntropy(logits, labels, null);
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
        if (input.Numel == 0) throw new ShapeMismatchException("mse_loss", $"mse_loss: the mean over no elements ({ShapeMath.Format(input.shape)}) is undefined");
        var d = input - target;
        return (d * d).Mean();
    }
}
