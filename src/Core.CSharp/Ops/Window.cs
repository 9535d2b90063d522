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
    /// optional bias [O]. A primitive: on backends with a fused kernel (CPU float32) the GEMM packs
    /// its panels straight from the image (no column matrix), a direct kernel runs a layer of at
    /// most 8 output channels, or (AVX-512 or AVX2, 3×3 at stride 1, 16+ channels in and out) Winograd's
    /// F(2×2, 3×3), which rounds a little differently; elsewhere unfold times the flattened weight. Its VJP
    /// is its two pullbacks, themselves primitives (<see cref="Conv2dInputGrad"/>,
    /// <see cref="Conv2dWeightGrad"/>), and Σ g for the bias.
    /// </summary>
    [Op("conv2d")]
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.EnterWith("conv2d", [x, weight], bias);
        x.RequireFloat("conv2d");
        if (weight.DType != x.DType || (bias is not null && bias.DType != x.DType))
            throw new DTypeMismatchException("conv2d", $"conv2d: the input is {x.DType.Name()} but the weight is {weight.DType.Name()}{(bias is null ? "" : $" and the bias {bias.DType.Name()}")}; convert one to the other");
        if (weight.Rank != 4 || x.Rank != 4 || weight.shape[1] != x.shape[1])
            throw new ShapeMismatchException("conv2d", $"conv2d: input {ShapeMath.Format(x.shape)} and weight {ShapeMath.Format(weight.shape)} do not fit ([N, C, H, W] and [O, C, kh, kw])");
        if (bias is not null && (bias.Rank != 1 || bias.shape[0] != weight.shape[0]))
            throw new ShapeMismatchException("conv2d", $"conv2d: bias {ShapeMath.Format(bias.shape)} does not fit weight {ShapeMath.Format(weight.shape)} (expected [{weight.shape[0]}])");
        SameDevice("conv2d", x, weight);
        if (bias is not null) SameDevice("conv2d", x, bias);
        int o = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3], h = x.shape[2], wd = x.shape[3];
        var w = CheckWindow("conv2d", x.shape, kh, kw, stride, padding);
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        VjpRule rule = (i, g, xs, _) => i switch
        {
            0 => Conv2dInputGrad(g, xs[1], h, wd, stride, padding),
            1 => Conv2dWeightGrad(g, xs[0], kh, kw, stride, padding),
            _ => g.Sum([0, 2, 3]),
        };
        int[] outShape = [x.shape[0], o, w.OutH(h), w.OutW(wd)];
        if (!FastConv(x, weight, bias))
            return Fused("conv2d", () =>
            {
                var y = MatMul(weight.Reshape(o, weight.shape[1] * kh * kw), x.Unfold(kh, kw, stride, padding));   // [N, O, L]; O may be 0
                if (bias is not null) y = y + bias.Reshape(o, 1);
                return y.Reshape(outShape);
            }, inputs, rule);
        return Result("conv2d", x.Kernels.Conv2d(x.View, weight.View, bias?.View, w), outShape, inputs, rule);
    }

    static bool FastConv(Tensor a, Tensor b, Tensor? c = null) =>
        a.DType == b.DType && (c is null || c.DType == a.DType) && a.Kernels.FusesConv(a.DType);

    /// <summary>
    /// conv2d's pullback to its input (a transposed convolution): g [N, O, oh, ow] and weight
    /// [O, C, kh, kw] to [N, C, h, w], summing where windows overlap. Bilinear: ∂g = conv2d(u, weight),
    /// ∂weight = conv2d_weight_grad(g, u).
    /// </summary>
    [Op("conv2d_input_grad")]
    public static Tensor Conv2dInputGrad(Tensor g, Tensor weight, int h, int w, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.Enter("conv2d_input_grad", g, weight);
        if (g.Rank != 4 || weight.Rank != 4 || g.shape[1] != weight.shape[0])
            throw new ShapeMismatchException("conv2d_input_grad", $"conv2d_input_grad: cotangent {ShapeMath.Format(g.shape)} and weight {ShapeMath.Format(weight.shape)} do not fit ([N, O, oh, ow] and [O, C, kh, kw])");
        SameDevice("conv2d_input_grad", g, weight);
        if (h < 0 || w < 0)
            throw new OpArgumentException("conv2d_input_grad", $"conv2d_input_grad: the input size {h}×{w} must be 0 or more");
        int n = g.shape[0], o = weight.shape[0], c = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3];
        int[] image = [n, c, h, w];
        var win = CheckWindow("conv2d_input_grad", image, kh, kw, stride, padding);
        if (win.OutH(h) != g.shape[2] || win.OutW(w) != g.shape[3])
            throw new ShapeMismatchException("conv2d_input_grad", $"conv2d_input_grad: a {kh}×{kw} window with stride {stride} and padding {padding} makes {win.OutH(h)}×{win.OutW(w)} outputs of a {h}×{w} image, not the cotangent's {g.shape[2]}×{g.shape[3]}");
        VjpRule rule = (i, u, xs, _) => i == 0 ? Conv2d(u, xs[1], null, stride, padding) : Conv2dWeightGrad(xs[0], u, kh, kw, stride, padding);
        if (!FastConv(g, weight))
            return Fused("conv2d_input_grad", () =>
                MatMul(weight.Reshape(o, c * kh * kw).T, g.Reshape(n, o, g.shape[2] * g.shape[3])).Fold(h, w, kh, kw, stride, padding), [g, weight], rule);
        return Result("conv2d_input_grad", g.Kernels.Conv2dInputGrad(g.View, weight.View, image, win), image, [g, weight], rule);
    }

    /// <summary>
    /// conv2d's pullback to its weight: Σₙ g[n] · unfold(x[n])ᵀ, g [N, O, oh, ow] and x [N, C, H, W]
    /// to [O, C, kh, kw]. Bilinear: ∂g = conv2d(x, u), ∂x = conv2d_input_grad(g, u).
    /// </summary>
    [Op("conv2d_weight_grad")]
    public static Tensor Conv2dWeightGrad(Tensor g, Tensor x, int kh, int kw, int stride = 1, int padding = 0)
    {
        using var _ = OpCall.Enter("conv2d_weight_grad", g, x);
        if (g.Rank != 4 || x.Rank != 4 || g.shape[0] != x.shape[0])
            throw new ShapeMismatchException("conv2d_weight_grad", $"conv2d_weight_grad: cotangent {ShapeMath.Format(g.shape)} and input {ShapeMath.Format(x.shape)} do not fit ([N, O, oh, ow] and [N, C, H, W])");
        SameDevice("conv2d_weight_grad", g, x);
        var win = CheckWindow("conv2d_weight_grad", x.shape, kh, kw, stride, padding);
        if (win.OutH(x.shape[2]) != g.shape[2] || win.OutW(x.shape[3]) != g.shape[3])
            throw new ShapeMismatchException("conv2d_weight_grad", $"conv2d_weight_grad: a {kh}×{kw} window with stride {stride} and padding {padding} makes {win.OutH(x.shape[2])}×{win.OutW(x.shape[3])} outputs of input {ShapeMath.Format(x.shape)}, not the cotangent's {g.shape[2]}×{g.shape[3]}");
        int n = g.shape[0], o = g.shape[1], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
        int[] shape = [o, c, kh, kw];
        VjpRule rule = (i, u, xs, _) => i == 0 ? Conv2d(xs[1], u, null, stride, padding) : Conv2dInputGrad(xs[0], u, h, wd, stride, padding);
        if (!FastConv(g, x))
            return Fused("conv2d_weight_grad", () =>
                MatMul(g.Reshape(n, o, g.shape[2] * g.shape[3]), x.Unfold(kh, kw, stride, padding).Transpose(1, 2)).Sum([0]).Reshape(shape), [g, x], rule);
        return Result("conv2d_weight_grad", g.Kernels.Conv2dWeightGrad(g.View, x.View, shape, win), shape, [g, x], rule);
    }

    Tensor Pool(string op, int kernel, int stride, Func<Tensor, Tensor> reduce)
    {
        using var _ = OpCall.Enter(op, this);
        var w = CheckWindow(op, shape, kernel, kernel, stride, 0);
        int n = shape[0], c = shape[1];
        var cols = Reshape(n * c, 1, shape[2], shape[3]).Unfold(kernel, kernel, stride);   // [N·C, k·k, L]
        return reduce(cols).Reshape(n, c, w.OutH(shape[2]), w.OutW(shape[3]));
    }

    /// <summary>
    /// Max over each k×k window (stride defaults to k), one pass that also records where each
    /// maximum came from (the first in the window on ties, as PyTorch; NaN propagates). The VJP
    /// scatters the cotangent to those positions, a scatter_add, so second derivatives follow.
    /// </summary>
    [Op("max_pool2d")]
    public Tensor MaxPool2d(int kernel, int? stride = null)
    {
        using var _ = OpCall.Enter("max_pool2d", this);
        if (DType == DType.Bool) throw new DTypeMismatchException("max_pool2d", "max_pool2d: not defined for bool tensors; cast with .To(DType.Int64) or a float dtype");
        var w = CheckWindow("max_pool2d", shape, kernel, kernel, stride ?? kernel, 0);
        int n = shape[0], c = shape[1], h = shape[2], wd = shape[3], oh = w.OutH(h), ow = w.OutW(wd);
        var (values, indices) = Kernels.MaxPool2d(View, w);
        var at = new Tensor(indices, [n, c, oh * ow]);
        return Result("max_pool2d", values, [n, c, oh, ow], [this],
            (_, g, _, _) => ScatterAdd([n, c, h * wd], 2, at, g.Reshape(n, c, oh * ow)).Reshape(n, c, h, wd));
    }

    /// <summary>Mean over each k×k window (stride defaults to k).</summary>
    [Op("avg_pool2d", OpKind.Composite)]
    public Tensor AvgPool2d(int kernel, int? stride = null) => Pool("avg_pool2d", kernel, stride ?? kernel, c => c.Mean(1));
}
