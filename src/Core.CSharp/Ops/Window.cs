using Cotangent.Backends;

namespace Cotangent;

/// <summary>Sliding windows over images [N, C, H, W]: unfold and fold are each other's transposes; convolution and pooling are built on them.</summary>
public sealed partial class Tensor
{
    static Window CheckWindow(string op, int[] image, int kh, int kw, int stride, int padding)
    {
        if (image.Length != 4)
            throw new ShapeMismatchException(op, $"{op}: expects an image batch [N, C, H, W], got shape {ShapeMath.Format(image)}");
        if (kh <= 0 || kw <= 0 || stride <= 0 || padding < 0)
            throw new OpArgumentException(op, $"{op}: kernel {kh}×{kw}, stride {stride} and padding {padding} must be positive (padding 0 or more)");
        var w = new Window(kh, kw, stride, padding);
        if (image[2] + 2L * padding < kh || image[3] + 2L * padding < kw)
            throw new ShapeMismatchException(op, $"{op}: a {kh}×{kw} window does not fit a {image[2]}×{image[3]} image with padding {padding}");
        // the padded image and the columns [N, C·kh·kw, oh·ow] must each fit one buffer
        if (image[2] + 2L * padding > int.MaxValue || image[3] + 2L * padding > int.MaxValue)
            throw new ShapeMismatchException(op, $"{op}: padding {padding} makes the {image[2]}×{image[3]} image too large");
        ShapeMath.Numel([image[0], image[1], kh, kw, w.OutH(image[2]), w.OutW(image[3])]);
        if ((long)image[1] * kh * kw > int.MaxValue)
            throw new ShapeMismatchException(op, $"{op}: {image[1]} channels of {kh}×{kw} windows make columns of more than {int.MaxValue:N0} elements");
        return w;
    }

    /// <summary>
    /// im2col: every kh×kw window of x [N, C, H, W] (with stride and zero padding) as a column:
    /// [N, C·kh·kw, oh·ow]. Linear; the VJP folds the cotangent back, adding where windows overlap.
    /// </summary>
    [Op("unfold")]
    public Tensor Unfold(int kh, int kw, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.Enter("unfold", this);
        var w = CheckWindow("unfold", shape, kh, kw, stride, padding);
        int[] outShape = [shape[0], shape[1] * kh * kw, w.OutH(shape[2]) * w.OutW(shape[3])];
        int h = shape[2], wd = shape[3];
        return Result("unfold", Kernels.Unfold(View, w), outShape, [this], (_, g, _, _) => g.Fold(h, wd, kh, kw, stride, padding));
    }

    /// <summary>
    /// col2im: columns [N, C·kh·kw, oh·ow] back to an image [N, C, h, w], summing overlaps: the
    /// transpose of <see cref="Unfold"/>, which is its VJP.
    /// </summary>
    [Op("fold")]
    public Tensor Fold(int h, int w, int kh, int kw, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.Enter("fold", this);
        if (kh <= 0 || kw <= 0 || stride <= 0 || padding < 0 || h < 0 || w < 0)
            throw new OpArgumentException("fold", $"fold: kernel {kh}×{kw}, stride {stride} must be positive, padding {padding} and the {h}×{w} image size 0 or more");
        long window = (long)kh * kw;
        if (Rank != 3 || shape[1] % window != 0)
            throw new ShapeMismatchException("fold", $"fold: expects columns [N, C·{kh}·{kw}, L], got shape {ShapeMath.Format(shape)}");
        int[] image = [shape[0], (int)(shape[1] / window), h, w];
        var win = CheckWindow("fold", image, kh, kw, stride, padding);
        if (win.OutH(h) * win.OutW(w) != shape[2])
            throw new ShapeMismatchException("fold", $"fold: {shape[2]} columns do not match the {win.OutH(h)}×{win.OutW(w)} windows of a {h}×{w} image");
        return Result("fold", Kernels.Fold(View, image, win), image, [this], (_, g, _, _) => g.Unfold(kh, kw, stride, padding));
    }

    /// <summary>
    /// 2-D cross-correlation (torch.nn.functional.conv2d): x [N, C, H, W], weight [O, C, kh, kw],
    /// optional bias [O]; the columns of unfold times the flattened weight.
    /// </summary>
    [Op("conv2d", OpKind.Composite)]
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.EnterWith("conv2d", [x, weight], bias);
        if (weight.Rank != 4 || x.Rank != 4 || weight.shape[1] != x.shape[1])
            throw new ShapeMismatchException("conv2d", $"conv2d: input {ShapeMath.Format(x.shape)} and weight {ShapeMath.Format(weight.shape)} do not fit ([N, C, H, W] and [O, C, kh, kw])");
        if (bias is not null && (bias.Rank != 1 || bias.shape[0] != weight.shape[0]))
            throw new ShapeMismatchException("conv2d", $"conv2d: bias {ShapeMath.Format(bias.shape)} does not fit weight {ShapeMath.Format(weight.shape)} (expected [{weight.shape[0]}])");
        int o = weight.shape[0], c = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3];
        var w = CheckWindow("conv2d", x.shape, kh, kw, stride, padding);
        var cols = x.Unfold(kh, kw, stride, padding);                       // [N, C·kh·kw, L]
        var y = MatMul(weight.Reshape(o, c * kh * kw), cols);               // [N, O, L]; O may be 0
        if (bias is not null) y = y + bias.Reshape(o, 1);
        return y.Reshape(x.shape[0], o, w.OutH(x.shape[2]), w.OutW(x.shape[3]));
    }

    Tensor Pool(string op, int kernel, int stride, Func<Tensor, Tensor> reduce)
    {
        using var _ = OpCall.Enter(op, this);
        var w = CheckWindow(op, shape, kernel, kernel, stride, 0);
        int n = shape[0], c = shape[1];
        var cols = Reshape(n * c, 1, shape[2], shape[3]).Unfold(kernel, kernel, stride);   // [N·C, k·k, L]
        return reduce(cols).Reshape(n, c, w.OutH(shape[2]), w.OutW(shape[3]));
    }

    /// <summary>Max over each k×k window (stride defaults to k). The cotangent goes to each window's maximum.</summary>
    [Op("max_pool2d", OpKind.Composite)]
    public Tensor MaxPool2d(int kernel, int? stride = null) => Pool("max_pool2d", kernel, stride ?? kernel, c => c.Max(1));

    /// <summary>Mean over each k×k window (stride defaults to k).</summary>
    [Op("avg_pool2d", OpKind.Composite)]
    public Tensor AvgPool2d(int kernel, int? stride = null) => Pool("avg_pool2d", kernel, stride ?? kernel, c => c.Mean(1));
}
