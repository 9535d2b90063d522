namespace Cotangent;

/// <summary>
/// The general sliding-window ops (torch.nn.functional's conv1d/conv2d with tuple stride,
/// padding and dilation and groups, conv_transpose2d, pools with padding, dilation and
/// ceil_mode, max-pool indices, adaptive average pooling, max-unpooling, interpolation). Each
/// gathers its windows with index_select along each spatial axis, [N, C, H, W] to
/// [N, C, Ho, kh, Wo, kw], and contracts or reduces them with registered ops, so gradients are
/// exact and any order differentiates again. The common square case of conv2d and max_pool2d
/// still goes to their fused kernels.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>A pair from one value or two (height, width).</summary>
    static (int H, int W) Pair(string op, string what, int[]? v, int fallback, int min)
    {
        if (v is null) return (fallback, fallback);
        if (v.Length is not (1 or 2))
            throw new OpArgumentException(op, $"{op}: {what} takes one or two numbers (height, width), got [{string.Join(", ", v)}]");
        var p = v.Length == 1 ? (v[0], v[0]) : (v[0], v[1]);
        if (p.Item1 < min || p.Item2 < min)
            throw new OpArgumentException(op, $"{op}: {what} must be {min} or more, got [{string.Join(", ", v)}]");
        return p;
    }

    /// <summary>Output length of a window sweep: ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1, or ⌈…⌉ with ceil_mode (no window starting in the right padding).</summary>
    static int WindowCount(int n, int k, int s, int p, int d, bool ceil)
    {
        long span = (long)n + 2 * p - (long)d * (k - 1) - 1;
        if (span < 0) return 0;
        long o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= n + p) o--;
        return (int)o;
    }

    /// <summary>
    /// x [N, C, H, W] to its windows [N, C, Ho, kh, Wo, kw]: padded by <paramref name="value"/>
    /// (p before and p + extra after, the extra reaching the last ceil-mode window), then gathered
    /// along each axis at o·s + j·d.
    /// </summary>
    static Tensor Windows(Tensor x, (int H, int W) k, (int H, int W) s, (int H, int W) p, (int H, int W) d, (int H, int W) o, double value)
    {
        int h = x.shape[2], w = x.shape[3];
        int extraH = Math.Max(0, (o.H - 1) * s.H + d.H * (k.H - 1) + 1 - (h + 2 * p.H));
        int extraW = Math.Max(0, (o.W - 1) * s.W + d.W * (k.W - 1) + 1 - (w + 2 * p.W));
        var padded = p.H == 0 && p.W == 0 && extraH == 0 && extraW == 0 ? x : x.Pad([p.W, p.W + extraW, p.H, p.H + extraH], "constant", value);
        Tensor At(int count, int kernel, int stride, int dilation)
        {
            var at = new long[count * kernel];
            for (int i = 0; i < count; i++)
                for (int j = 0; j < kernel; j++) at[i * kernel + j] = (long)i * stride + (long)j * dilation;
            return FromArray(at, [at.Length], x.Device);
        }
        var rows = padded.IndexSelect(2, At(o.H, k.H, s.H, d.H));                     // [N, C, Ho·kh, Wp]
        var both = rows.IndexSelect(3, At(o.W, k.W, s.W, d.W));                        // [N, C, Ho·kh, Wo·kw]
        return both.Reshape(x.shape[0], x.shape[1], o.H, k.H, o.W, k.W);
    }

    /// <summary>A convolution's checked input and per-axis stride, padding and dilation.</summary>
    static ((int H, int W) Stride, (int H, int W) Padding, (int H, int W) Dilation) ConvArguments(string op, Tensor x, int[]? stride, int[]? padding, int[]? dilation, int groups)
    {
        RequireImage(op, x);
        x.RequireFloat(op);
        var s = Pair(op, "stride", stride, 1, 1);
        var p = Pair(op, "padding", padding, 0, 0);
        var d = Pair(op, "dilation", dilation, 1, 1);
        if (groups < 1 || x.shape[1] % groups != 0)
            throw new OpArgumentException(op, $"{op}: {x.shape[1]} input channels do not split into {groups} groups");
        return (s, p, d);
    }

    /// <summary>A pool's checked input (this image batch) and per-axis kernel, stride (default: the kernel) and padding (at most half the kernel).</summary>
    ((int H, int W) Kernel, (int H, int W) Stride, (int H, int W) Padding) PoolArguments(string op, int[] kernel, int[]? stride, int[]? padding)
    {
        RequireImage(op, this);
        RequireFloat(op);
        var k = Pair(op, "kernel", kernel ?? throw new OpArgumentException(op, $"{op}: the kernel size is null"), 1, 1);
        var s = Pair(op, "stride", stride ?? kernel, 1, 1);
        var p = Pair(op, "padding", padding, 0, 0);
        if (p.H * 2 > k.H || p.W * 2 > k.W)
            throw new OpArgumentException(op, $"{op}: padding ({p.H}, {p.W}) must be at most half the kernel ({k.H}, {k.W})");
        return (k, s, p);
    }

    /// <summary>Weights (and bias) of the input's dtype: mixed float32 and float64 are refused, not promoted.</summary>
    static void SameFloat(string op, Tensor x, Tensor weight, Tensor? bias)
    {
        if (weight.DType != x.DType || bias is not null && bias.DType != x.DType)
            throw new DTypeMismatchException(op, $"{op}: the input is {x.DType.Name()} but the weight is {weight.DType.Name()}{(bias is null ? "" : $" and the bias {bias.DType.Name()}")}; convert one to the other");
    }

    static void RequireImage(string op, Tensor x)
    {
        if (x.Rank != 4) throw new ShapeMismatchException(op, $"{op}: expects an image batch [N, C, H, W], got shape {ShapeMath.Format(x.shape)}");
    }

    /// <summary>
    /// 2-D convolution with per-axis stride, padding and dilation and channel groups
    /// (torch.nn.functional.conv2d): weight [O, C/groups, kh, kw], bias [O]; groups = C with
    /// O = C·m is a depthwise convolution. The square, ungrouped, undilated case runs the fused
    /// conv2d kernel; the rest contracts gathered windows through einsum.
    /// </summary>
    [Op("convolution", OpKind.Composite)]
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int[]? stride, int[]? padding = null, int[]? dilation = null, int groups = 1)
    {
        const string op = "convolution";
        using var _ = OpCall.EnterWith(op, [x, weight], bias);
        var (s, p, d) = ConvArguments(op, x, stride, padding, dilation, groups);
        int c = x.shape[1];
        if (weight.Rank != 4 || weight.shape[1] != c / groups || weight.shape[0] % groups != 0)
            throw new ShapeMismatchException(op, $"{op}: weight {ShapeMath.Format(weight.shape)} does not fit input {ShapeMath.Format(x.shape)} with {groups} group(s) (expected [O, {c / groups}, kh, kw], O a multiple of {groups})");
        int o = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3];
        if (bias is not null && (bias.Rank != 1 || bias.shape[0] != o))
            throw new ShapeMismatchException(op, $"{op}: bias {ShapeMath.Format(bias.shape)} does not fit weight {ShapeMath.Format(weight.shape)} (expected [{o}])");
        SameDevice(op, x, weight);
        if (bias is not null) SameDevice(op, x, bias);
        SameFloat(op, x, weight, bias);
        if (groups == 1 && d == (1, 1) && s.H == s.W && p.H == p.W) return Conv2d(x, weight, bias, s.H, p.H);
        var outSize = (WindowCount(x.shape[2], kh, s.H, p.H, d.H, false), WindowCount(x.shape[3], kw, s.W, p.W, d.W, false));
        if (outSize.Item1 <= 0 || outSize.Item2 <= 0)
            throw new ShapeMismatchException(op, $"{op}: a {kh}×{kw} kernel with dilation ({d.H}, {d.W}) does not fit a {x.shape[2]}×{x.shape[3]} image with padding ({p.H}, {p.W})");
        int n = x.shape[0];
        var win = Windows(x, (kh, kw), s, p, d, outSize, 0).Reshape(n, groups, c / groups, outSize.Item1, kh, outSize.Item2, kw);
        var wg = weight.Reshape(groups, o / groups, c / groups, kh, kw);
        var y = Einsum("ngchiwj,gocij->ngohw", win, wg).Reshape(n, o, outSize.Item1, outSize.Item2);
        return bias is null ? y : y + bias.Reshape(1, o, 1, 1);
    }

    /// <summary>1-D convolution of x [N, C, L] with weight [O, C/groups, k] (torch.nn.functional.conv1d).</summary>
    [Op("conv1d", OpKind.Composite)]
    public static Tensor Conv1d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        using var _ = OpCall.EnterWith("conv1d", [x, weight], bias);
        if (x.Rank != 3 || weight.Rank != 3)
            throw new ShapeMismatchException("conv1d", $"conv1d: expects input [N, C, L] and weight [O, C/groups, k], got {ShapeMath.Format(x.shape)} and {ShapeMath.Format(weight.shape)}");
        return Conv2d(x.Unsqueeze(2), weight.Unsqueeze(2), bias, [1, stride], [0, padding], [1, dilation], groups).Squeeze(2);
    }

    /// <summary>
    /// Transposed 2-D convolution (torch.nn.functional.conv_transpose2d), weight [C, O/groups, kh, kw]:
    /// the input spread out by the stride (zeros between), padded by d(k − 1) − p (and
    /// output_padding after), convolved with the flipped kernel, channels in and out swapped;
    /// the output is (H − 1)s − 2p + d(k − 1) + output_padding + 1 tall.
    /// </summary>
    [Op("conv_transpose2d", OpKind.Composite)]
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias = null, int[]? stride = null, int[]? padding = null, int[]? outputPadding = null, int groups = 1, int[]? dilation = null)
    {
        const string op = "conv_transpose2d";
        using var _ = OpCall.EnterWith(op, [x, weight], bias);
        var (s, p, d) = ConvArguments(op, x, stride, padding, dilation, groups);
        var op2 = Pair(op, "output_padding", outputPadding, 0, 0);
        int c = x.shape[1];
        if (weight.Rank != 4 || weight.shape[0] != c)
            throw new ShapeMismatchException(op, $"{op}: weight {ShapeMath.Format(weight.shape)} does not fit input {ShapeMath.Format(x.shape)} (expected [{c}, O/groups, kh, kw])");
        if (op2.H >= Math.Max(s.H, d.H) || op2.W >= Math.Max(s.W, d.W))
            throw new OpArgumentException(op, $"{op}: output_padding ({op2.H}, {op2.W}) must be smaller than stride or dilation");
        int kh = weight.shape[2], kw = weight.shape[3], og = weight.shape[1], o = og * groups;
        if (bias is not null && (bias.Rank != 1 || bias.shape[0] != o))
            throw new ShapeMismatchException(op, $"{op}: bias {ShapeMath.Format(bias.shape)} does not fit {o} output channels");
        SameDevice(op, x, weight);
        SameFloat(op, x, weight, bias);
        int n = x.shape[0], h = x.shape[2], w = x.shape[3];
        int outH = (h - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1, outW = (w - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (outH <= 0 || outW <= 0)
            throw new ShapeMismatchException(op, $"{op}: padding ({p.H}, {p.W}) leaves no output for input {ShapeMath.Format(x.shape)} and a {kh}×{kw} kernel");
        var spread = x;
        if (s.H > 1 && h > 0) spread = SliceScatter(spread, [n, c, (h - 1) * s.H + 1, w], 2, 0, s.H);
        if (s.W > 1 && w > 0) spread = SliceScatter(spread, [n, c, spread.shape[2], (w - 1) * s.W + 1], 3, 0, s.W);
        int ph = d.H * (kh - 1) - p.H, pw = d.W * (kw - 1) - p.W;
        var padded = spread.Pad([pw, pw + op2.W, ph, ph + op2.H]);
        var flipped = weight.Reshape(groups, c / groups, og, kh, kw).Transpose(1, 2).Reshape(o, c / groups, kh, kw).Flip(2, 3);
        return Conv2d(padded, flipped, bias, [1, 1], [0, 0], [d.H, d.W], groups);
    }

    /// <summary>
    /// Max pooling with per-axis kernel, stride (default: the kernel), padding (at most half the
    /// kernel; padded places never win), dilation and ceil_mode (torch.nn.functional.max_pool2d
    /// with return_indices): the maxima and, as int64, the flat position h·W + w in its input
    /// plane each came from; the first maximum in window order wins ties, a NaN wins over numbers.
    /// </summary>
    [Op("max_pool2d_with_indices", OpKind.Composite)]
    public (Tensor Values, Tensor Indices) MaxPool2dWithIndices(int[] kernel, int[]? stride = null, int[]? padding = null, int[]? dilation = null, bool ceilMode = false)
    {
        const string op = "max_pool2d_with_indices";
        using var _ = OpCall.Enter(op, this);
        var (k, s, p) = PoolArguments(op, kernel, stride, padding);
        var d = Pair(op, "dilation", dilation, 1, 1);
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        var o = (WindowCount(h, k.H, s.H, p.H, d.H, ceilMode), WindowCount(w, k.W, s.W, p.W, d.W, ceilMode));
        if (o.Item1 <= 0 || o.Item2 <= 0)
            throw new ShapeMismatchException(op, $"{op}: a {k.H}×{k.W} window with dilation ({d.H}, {d.W}) does not fit a {h}×{w} image with padding ({p.H}, {p.W})");
        var win = Windows(this, k, s, p, d, o, double.NegativeInfinity)
            .Permute(0, 1, 2, 4, 3, 5).Reshape(n, c, o.Item1, o.Item2, k.H * k.W);
        // the first maximum among the window's places inside the image: padding never wins,
        // not even a tie with an input of −∞ (whose index must stay inside the image)
        var inside = Windows(Ones([1, 1, h, w], DType, Device), k, s, p, d, o, 0)
            .Permute(0, 1, 2, 4, 3, 5).Reshape(1, 1, o.Item1, o.Item2, k.H * k.W).Gt(0.0);
        var plain = win.Detach();
        var top = plain.Max([-1], keepDim: true);
        var hit = LogicalAnd(LogicalOr(plain.Eq(top), plain.IsNan()), inside);
        var at = hit.To(DType.Int64).ArgMax(-1, keepDim: true);
        var values = win.Gather(-1, at).Squeeze(-1);
        var j = at.Squeeze(-1);
        // window slot j → input row ho·s − p + (j / kw)·d, column wo·s − p + (j % kw)·d
        var ho = Arange(0, o.Item1, 1, DType.Int64, Device).Reshape(o.Item1, 1);
        var wo = Arange(0, o.Item2, 1, DType.Int64, Device).Reshape(1, o.Item2);
        var row = ho * (double)s.H - (double)p.H + FloorDivide(j, (double)k.W) * (double)d.H;
        var col = wo * (double)s.W - (double)p.W + Remainder(j, (double)k.W) * (double)d.W;
        return (values, row * (double)w + col);
    }

    /// <summary>Max pooling with per-axis kernel, stride, padding, dilation and ceil_mode; the square plain case runs the fused kernel.</summary>
    public Tensor MaxPool2d(int[] kernel, int[]? stride = null, int[]? padding = null, int[]? dilation = null, bool ceilMode = false)
    {
        using var _ = OpCall.Enter("max_pool2d", this);
        static bool Square(int[]? v) => v is null || v.Length == 1 || v.Length == 2 && v[0] == v[1];
        static bool All(int[]? v, int value) => v is null || v.All(e => e == value);
        bool plain = kernel is { Length: 1 or 2 } && Square(kernel) && Square(stride) && All(padding, 0) && All(dilation, 1) && !ceilMode;
        if (plain) return MaxPool2d(kernel![0], stride?[0]);
        return MaxPool2dWithIndices(kernel!, stride, padding, dilation, ceilMode).Values;
    }

    /// <summary>
    /// Average pooling with per-axis kernel, stride, zero padding (counted in the divisor or not)
    /// and ceil_mode (torch.nn.functional.avg_pool2d): the divisor of each window is the number
    /// of its places inside the padded image (count_include_pad) or inside the image itself.
    /// </summary>
    [Op("avg_pool2d", OpKind.Composite)]
    public Tensor AvgPool2d(int[] kernel, int[]? stride = null, int[]? padding = null, bool ceilMode = false, bool countIncludePad = true)
    {
        const string op = "avg_pool2d";
        using var _ = OpCall.Enter(op, this);
        var (k, s, p) = PoolArguments(op, kernel, stride, padding);
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        var o = (WindowCount(h, k.H, s.H, p.H, 1, ceilMode), WindowCount(w, k.W, s.W, p.W, 1, ceilMode));
        if (o.Item1 <= 0 || o.Item2 <= 0)
            throw new ShapeMismatchException(op, $"{op}: a {k.H}×{k.W} window does not fit a {h}×{w} image with padding ({p.H}, {p.W})");
        var sums = Windows(this, k, s, p, (1, 1), o, 0).Sum([3, 5]);
        // the divisor: how many counted places each window covers (the padding counts, or not)
        var counted = countIncludePad
            ? Windows(Ones([1, 1, h + 2 * p.H, w + 2 * p.W], DType, Device), k, s, (0, 0), (1, 1), o, 0)
            : Windows(Ones([1, 1, h, w], DType, Device), k, s, p, (1, 1), o, 0);
        var divisor = counted.Sum([3, 5]);
        return sums / divisor;
    }

    /// <summary>
    /// Average pooling to a fixed output size (torch.nn.functional.adaptive_avg_pool2d): output
    /// cell i averages rows ⌊iH/Ho⌋ … ⌈(i + 1)H/Ho⌉ − 1 (and the same for columns), as two
    /// averaging matrices multiplied in.
    /// </summary>
    [Op("adaptive_avg_pool2d", OpKind.Composite)]
    public Tensor AdaptiveAvgPool2d(int outH, int outW)
    {
        const string op = "adaptive_avg_pool2d";
        using var _ = OpCall.Enter(op, this);
        if (Rank is not (3 or 4)) throw new ShapeMismatchException(op, $"{op}: expects [N, C, H, W] or [C, H, W], got {ShapeMath.Format(shape)}");
        RequireFloat(op);
        if (outH <= 0 || outW <= 0) throw new OpArgumentException(op, $"{op}: the output size must be positive, got {outH}×{outW}");
        int h = shape[^2], w = shape[^1];
        if (h == 0 || w == 0) throw new ShapeMismatchException(op, $"{op}: cannot average an empty {h}×{w} image");
        if ((long)outH * h > Array.MaxLength || (long)outW * w > Array.MaxLength)
            throw new ShapeMismatchException(op, $"{op}: an output of {outH}×{outW} from {h}×{w} is more than one buffer holds");
        ShapeMath.Numel([.. shape[..^2], outH, outW]);
        Tensor Averaging(int o, int n)
        {
            var a = new double[o * n];
            for (int i = 0; i < o; i++)
            {
                int start = (int)((long)i * n / o), end = (int)(((long)(i + 1) * n + o - 1) / o);
                for (int j = start; j < end; j++) a[i * n + j] = 1.0 / (end - start);
            }
            return FromArray(a, [o, n], Device).To(DType);
        }
        return MatMul(MatMul(Averaging(outH, h), this), Averaging(outW, w).T);
    }

    /// <summary>
    /// The inverse of max pooling (torch.nn.functional.max_unpool2d): zeros of the output size
    /// (default (H − 1)s − 2p + k) with each value put back at its index (h·W + w in its plane);
    /// an index picked by overlapping windows gets the mean of its values (they are one input
    /// value when they come from max_pool2d_with_indices).
    /// </summary>
    [Op("max_unpool2d", OpKind.Composite)]
    public Tensor MaxUnpool2d(Tensor indices, int[] kernel, int[]? stride = null, int[]? padding = null, int[]? outputSize = null)
    {
        const string op = "max_unpool2d";
        using var _ = OpCall.Enter(op, this, indices);
        RequireImage(op, this);
        RequireFloat(op);
        CheckIndex(op, indices, this);
        if (!ShapeMath.SameShape(indices.shape, shape))
            throw new ShapeMismatchException(op, $"{op}: indices {ShapeMath.Format(indices.shape)} must have the input's shape {ShapeMath.Format(shape)}");
        var k = Pair(op, "kernel", kernel ?? throw new OpArgumentException(op, $"{op}: the kernel size is null"), 1, 1);
        var s = Pair(op, "stride", stride ?? kernel, 1, 1);
        var p = Pair(op, "padding", padding, 0, 0);
        int n = shape[0], c = shape[1];
        var size = outputSize is null ? ((shape[2] - 1) * s.H - 2 * p.H + k.H, (shape[3] - 1) * s.W - 2 * p.W + k.W) : Pair(op, "output size", outputSize, 0, 0);
        int plane = size.Item1 * size.Item2;
        var at = indices.Reshape(n, c, -1);
        if (at.Kernels.CountOutside(at.View, 0, plane) != 0)
        {
            var bad = at.ToArray<long>().First(v => v < 0 || v >= plane);
            throw OpCall.Index(op, $"{op}: index {bad} is out of range for a {size.Item1}×{size.Item2} output plane");
        }
        var sums = ScatterAdd([n, c, plane], 2, at, Reshape(n, c, -1));
        var counts = ScatterAdd([n, c, plane], 2, at, OnesLike(at).To(DType));
        return Where(counts.Gt(0.0), sums / Where(counts.Gt(0.0), counts, 1.0), 0.0).Reshape(n, c, size.Item1, size.Item2);
    }

    /// <summary>
    /// Resizes the spatial axes of [N, C, H, W] (torch.nn.functional.interpolate) to
    /// <paramref name="size"/> or by <paramref name="scaleFactor"/>: "nearest" takes source
    /// ⌊dst·scale⌋; "bilinear" weighs the two nearest sources along each axis, with half-pixel
    /// centres (src = (dst + ½)·scale − ½, clamped at 0) or, with alignCorners, corner to corner.
    /// scale is in/out, or 1/scaleFactor when one is given, as PyTorch computes it.
    /// </summary>
    [Op("interpolate", OpKind.Composite)]
    public Tensor Interpolate(int[]? size = null, double[]? scaleFactor = null, string mode = "nearest", bool alignCorners = false)
    {
        const string op = "interpolate";
        using var _ = OpCall.Enter(op, this);
        RequireImage(op, this);
        RequireFloat(op);
        if (mode is not ("nearest" or "bilinear")) throw new OpArgumentException(op, $"{op}: mode must be \"nearest\" or \"bilinear\", got \"{mode}\"");
        if ((size is null) == (scaleFactor is null)) throw new OpArgumentException(op, $"{op}: give exactly one of size and scale_factor");
        if (alignCorners && mode == "nearest") throw new OpArgumentException(op, $"{op}: align_corners applies to bilinear only");
        int h = shape[2], w = shape[3];
        if (h == 0 || w == 0) throw new ShapeMismatchException(op, $"{op}: cannot resize an empty {h}×{w} image");
        int oh, ow;
        double? fh = null, fw = null;
        if (size is not null) (oh, ow) = Pair(op, "size", size, 0, 1);
        else
        {
            if (scaleFactor!.Length is not (1 or 2) || scaleFactor.Any(f => !(f > 0) || double.IsInfinity(f)))
                throw new OpArgumentException(op, $"{op}: scale_factor takes one or two positive numbers, got [{string.Join(", ", scaleFactor)}]");
            (fh, fw) = scaleFactor.Length == 1 ? (scaleFactor[0], scaleFactor[0]) : (scaleFactor[0], scaleFactor[1]);
            double th = Math.Floor(h * fh.Value), tw = Math.Floor(w * fw.Value);
            if (th > Array.MaxLength || tw > Array.MaxLength)
                throw new OpArgumentException(op, $"{op}: scale_factor [{string.Join(", ", scaleFactor)}] makes a {th}×{tw} image, more than one buffer holds");
            (oh, ow) = ((int)th, (int)tw);
            if (oh <= 0 || ow <= 0) throw new OpArgumentException(op, $"{op}: scale_factor [{string.Join(", ", scaleFactor)}] leaves no output for a {h}×{w} image");
        }
        ShapeMath.Numel([shape[0], shape[1], oh, ow]);   // refused here when no buffer holds the output
        var y = Resize(this, 2, h, oh, fh, mode, alignCorners);
        return Resize(y, 3, w, ow, fw, mode, alignCorners);
    }

    static Tensor Resize(Tensor x, int axis, int n, int o, double? factor, string mode, bool align)
    {
        if (n == o && factor is null or 1.0) return x;
        double scale = factor is double f ? 1 / f : (double)n / o;
        if (mode == "nearest")
        {
            var at = new long[o];
            for (int i = 0; i < o; i++) at[i] = Math.Min((long)Math.Floor(i * scale), n - 1);
            return x.IndexSelect(axis, FromArray(at, [o], x.Device));
        }
        var lo = new long[o];
        var hi = new long[o];
        var lambda = new double[o];
        for (int i = 0; i < o; i++)
        {
            double src = align ? (o > 1 ? i * (double)(n - 1) / (o - 1) : 0) : Math.Max((i + 0.5) * scale - 0.5, 0);
            long i0 = Math.Min((long)Math.Floor(src), n - 1);
            lo[i] = i0;
            hi[i] = Math.Min(i0 + 1, n - 1);
            lambda[i] = src - i0;
        }
        var place = Enumerable.Repeat(1, x.Rank).ToArray();
        place[axis] = o;
        var l = FromArray(lambda, place, x.Device).To(x.DType);
        return x.IndexSelect(axis, FromArray(lo, [o], x.Device)) * (1.0 - l) + x.IndexSelect(axis, FromArray(hi, [o], x.Device)) * l;
    }
}
