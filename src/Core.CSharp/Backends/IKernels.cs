namespace Cotangent.Backends;

/// <summary>A strided view handed to kernels: storage plus the layout that reads it.</summary>
internal readonly record struct Strided(Storage Storage, int[] Shape, int[] Strides, int Offset)
{
    public int Rank => Shape.Length;
    public int Numel => ShapeMath.Numel(Shape);
    public bool IsContiguous => ShapeMath.IsContiguous(Shape, Strides);
}

internal enum UnaryKind
{
    Neg, Exp, Log, Sqrt, Abs, Sin, Cos, Tanh, Sigmoid, Relu, Softplus, Gelu, Erf, Sign,
    Log1p, Expm1, Tan, Asin, Acos, Atan, Sinh, Cosh, Floor, Ceil, Round, Trunc
}

internal enum BinaryKind { Add, Sub, Mul, Div, Pow, Max, Min, ReluGrad, FloorDiv, GeluGrad, Atan2, Hypot, Fmod, Remainder }

internal enum CompareKind { Eq, Ne, Lt, Le, Gt, Ge }

internal enum ReduceKind { Sum, Max, Min, Prod }

internal enum ScanKind { Sum, Prod, LogSumExp }

/// <summary>
/// What a backend provides: kernels over strided views, knowing nothing of autodiff.
/// Every kernel returns fresh contiguous storage and never writes into its inputs; the op
/// layer has checked shapes, dtypes and devices before any kernel runs. Binary kernels get
/// operands already broadcast to the output shape (stride 0 on broadcast axes).
/// </summary>
internal interface IKernels
{
    Storage Full(DType dtype, int length, double value);
    Storage Wrap(Array data);
    Array ToArray(Strided x);
    Storage Contiguous(Strided x);
    Storage Cast(Strided x, DType to);
    Storage Unary(UnaryKind kind, Strided x);
    Storage Binary(BinaryKind kind, Strided a, Strided b);
    Storage Compare(CompareKind kind, Strided a, Strided b);
    Storage Where(Strided cond, Strided a, Strided b);

    /// <summary>How many int64 elements of x lie outside [low, high): a check read as one number, wherever x lives.</summary>
    long CountOutside(Strided x, long low, long high);

    /// <summary>Reduces the last <paramref name="trailing"/> axes of x (the op permutes reduced axes last).</summary>
    Storage Reduce(ReduceKind kind, Strided x, int trailing);

    /// <summary>For each element, the product of the other elements of its trailing group, zero-safe.</summary>
    Storage ProdOfOthers(Strided x, int trailing);

    /// <summary>
    /// The inclusive scan of each row of x's last axis: running sums, products, or log Σ exp
    /// (−∞ until the row's first finite term, NaN from its first NaN on).
    /// </summary>
    Storage Scan(ScanKind kind, Strided x);

    /// <summary>
    /// A stable sort of each row of x's last axis, as the int64 positions that order it: NaN
    /// after every number (before, when descending, as PyTorch orders them); equal elements keep
    /// their order either way.
    /// </summary>
    Storage ArgSort(Strided x, bool descending);

    /// <summary>a: [..., m, k] times b: [..., k, n] with equal (already broadcast) batch axes.</summary>
    Storage MatMul(Strided a, Strided b);

    Storage IndexSelect(Strided x, int axis, Strided index);
    Storage IndexAdd(int[] shape, int axis, Strided index, Strided src);
    Storage Gather(Strided x, int axis, Strided index);
    Storage ScatterAdd(int[] shape, int axis, Strided index, Strided src);

    /// <summary>Zeros of <paramref name="shape"/> with src written at start, start+step, ... along axis.</summary>
    Storage SliceScatter(int[] shape, int axis, int start, int step, Strided src);

    Storage Cat(Strided[] parts, int axis, int[] shape);

    /// <summary>x [N, in] times wᵀ (w [out, in], read through its strides) plus b [out] when given: a dense layer in one pass.</summary>
    Storage Linear(Strided x, Strided w, Strided? b);

    /// <summary>Whether <see cref="Linear"/> serves this dtype; otherwise the op composes matmul and add.</summary>
    bool FusesLinear(DType dtype);

    /// <summary>y + α·x elementwise, for tensors of one shape (optimizer updates).</summary>
    Storage AddScaled(Strided y, double alpha, Strided x);

    /// <summary>
    /// One Adam/AdamW update in a single pass over parameter, gradient and moments (null moments:
    /// the first step, zeros): new values, new first and second moments, all fresh storage.
    /// </summary>
    (Storage Value, Storage M, Storage V) Adam(Strided p, Strided g, Strided? m, Strided? v, AdamStep step);

    /// <summary>
    /// Layer normalisation of x's rows of d elements: (x − μ)/√(σ² + ε) with the biased σ², then
    /// ·γ + β when given (γ, β of d elements, contiguous views).
    /// </summary>
    Storage LayerNorm(Strided x, int d, Strided? gamma, Strided? beta, double eps);

    /// <summary>The normalisation's pullback per row: r·(gh − mean(gh) − x̂·mean(gh·x̂)), r = 1/√(σ² + ε), x̂ recomputed from x.</summary>
    Storage LayerNormBackward(Strided gh, Strided x, int d, double eps);

    /// <summary>Whether <see cref="LayerNormGrads"/> serves this dtype; otherwise layer norm's per-input rules run.</summary>
    bool FusesLayerNormGrads(DType dtype) => false;

    /// <summary>
    /// Layer norm's pullback for all its inputs from one pass a row: ∂x = r·(g·γ − mean(g·γ) −
    /// x̂·mean(g·γ·x̂)) (γ = 1 when null), ∂γ = Σ g·x̂ and ∂β = Σ g over the rows [d].
    /// </summary>
    (Storage Dx, Storage DGamma, Storage DBeta) LayerNormGrads(Strided g, Strided x, int d, Strided? gamma, double eps) =>
        throw new NotSupportedException($"layer_norm_backward: this backend has no joint layer-norm kernel for {x.Storage.DType.Name()}; ask FusesLayerNormGrads first");

    /// <summary>Whether the batch-norm kernels below serve this dtype; otherwise the ops compose means, variances and elementwise ops.</summary>
    bool FusesBatchNorm(DType dtype);

    /// <summary>
    /// Batch normalisation of x [N, C, …] by each channel's mean and biased variance over every
    /// other axis, then ·γ + β per channel when given: the output and the statistics [C].
    /// </summary>
    (Storage Y, Storage Mean, Storage Var) BatchNorm(Strided x, int channels, Strided? gamma, Strided? beta, double eps);

    /// <summary>
    /// Batch norm's pullback for all its inputs from one pass a channel: ∂x = γ·r·(g − mean(g) −
    /// x̂·mean(g·x̂)) (γ = 1 when null; r = 1/√(σ² + ε), x̂ recomputed from x, the means over all
    /// but the channel axis), ∂γ = Σ g·x̂ and ∂β = Σ g [C].
    /// </summary>
    (Storage Dx, Storage DGamma, Storage DBeta) BatchNormBackward(Strided g, Strided x, Strided? gamma, int channels, double eps);

    /// <summary>softmax's pullback along the last axis, row by row: y·(g − Σ g·y).</summary>
    Storage SoftmaxBackward(Strided g, Strided y);

    /// <summary>log softmax along the last axis of x, row by row: x − max − log Σ exp(x − max).</summary>
    Storage LogSoftmax(Strided x);

    /// <summary>
    /// softmax along the last axis of x: exp of <see cref="LogSoftmax"/>, so no exp of a large
    /// value is taken. A backend without a fused kernel runs the two passes.
    /// </summary>
    Storage Softmax(Strided x) => Unary(UnaryKind.Exp, new Strided(LogSoftmax(x), x.Shape, ShapeMath.ContiguousStrides(x.Shape), 0));

    /// <summary>im2col: x [N, C, H, W] to columns [N, C·kh·kw, oh·ow], zeros where the window leaves the padded image.</summary>
    Storage Unfold(Strided x, Window w);

    /// <summary>
    /// Max over each window of x [N, C, H, W] (positions outside the image never win): the maxima
    /// [N, C, oh, ow] and, as int64 [N, C, oh·ow], where each came from (h·W + w in its plane).
    /// The first maximum in row-major window order wins ties; a NaN wins over numbers.
    /// </summary>
    (Storage Values, Storage Indices) MaxPool2d(Strided x, Window w);

    /// <summary>Whether the three convolution kernels below serve this dtype; otherwise the ops compose unfold, matmul and fold.</summary>
    bool FusesConv(DType dtype);

    /// <summary>2-D cross-correlation: x [N, C, H, W], w [O, C, kh, kw], b [O] or null, to [N, O, oh, ow].</summary>
    Storage Conv2d(Strided x, Strided w, Strided? b, Window win);

    /// <summary>conv2d's pullback to its input: g [N, O, oh, ow] and w to [N, C, H, W] (inputShape).</summary>
    Storage Conv2dInputGrad(Strided g, Strided w, int[] inputShape, Window win);

    /// <summary>conv2d's pullback to its weight: g [N, O, oh, ow] and x [N, C, H, W] to weightShape [O, C, kh, kw].</summary>
    Storage Conv2dWeightGrad(Strided g, Strided x, int[] weightShape, Window win);

    /// <summary>col2im: columns back to [N, C, H, W], adding where windows overlap (the transpose of Unfold).</summary>
    Storage Fold(Strided cols, int[] shape, Window w);

    // Batched dense linear algebra (DenseLinalg's algorithms) on float64 matrices [.., m, n]: one
    // matrix a thread on a device, one after another on the CPU. Status vectors are int64, one
    // per matrix, read back by the op only to refuse a singular or indefinite input.

    /// <summary>X with A·X = B for a [.., n, n] and b [.., n, k] (equal batch axes), and each matrix's status: 0, or the 1-based column whose pivot is 0 (singular).</summary>
    (Storage X, Storage Status) Solve(Strided a, Strided b);

    /// <summary>Each matrix's pivots (U's diagonal of PA = LU) and its permutation's sign: [.., n + 1]; det = sign·Π pivots.</summary>
    Storage LuPivots(Strided a);

    /// <summary>The lower Cholesky factor of each matrix (read from its lower triangle), and each status: 0, or the 1-based order of the first leading minor that is not positive.</summary>
    (Storage L, Storage Status) Cholesky(Strided a);

    /// <summary>Each matrix's reduced QR, packed [.., m·k + k·n]: Q [m, k] then R [k, n], k = min(m, n).</summary>
    Storage Qr(Strided a);

    /// <summary>Each symmetric matrix's eigenvalues (ascending) and eigenvectors, packed [.., n + n·n].</summary>
    Storage Eigh(Strided a);

    /// <summary>Each matrix's reduced SVD, packed [.., m·k + k + k·n]: U [m, k], S [k] descending, Vᵀ [k, n].</summary>
    Storage Svd(Strided a);
}

/// <summary>
/// Adam's numbers for one step: p ← p·(1 − lr·λ) (decoupled) or g ← g + λ·p; m ← β₁m + (1 − β₁)g;
/// v ← β₂v + (1 − β₂)g²; p ← p − (m/c₁)·lr/(√(v/c₂) + ε), with c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ.
/// </summary>
internal readonly record struct AdamStep(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, bool Decoupled, double C1, double C2);

/// <summary>A sliding window: kernel size, stride and zero padding, the same on both spatial axes.</summary>
internal readonly record struct Window(int Kh, int Kw, int Stride, int Padding)
{
    public int OutH(int h) => (h + 2 * Padding - Kh) / Stride + 1;
    public int OutW(int w) => (w + 2 * Padding - Kw) / Stride + 1;
}
