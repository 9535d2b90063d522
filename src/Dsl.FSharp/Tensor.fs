namespace Cotangent.FSharp

open Cotangent

/// Curried functions over tensors, for piping: `x |> Tensor.exp |> Tensor.sum`. Shapes and
/// axes are F# lists; optional results are options, never nulls.
[<RequireQualifiedAccess>]
module Tensor =

    let private arr (xs: int list) = Array.ofList xs

    // ---- creation ------------------------------------------------------------------------

    /// Float32 zeros. Example: `Tensor.zeros [ 2; 3 ]`.
    let zeros (shape: int list) = Tensor.Zeros(arr shape)
    /// Float32 ones. Example: `Tensor.ones [ 3 ]`.
    let ones (shape: int list) = Tensor.Ones(arr shape)
    /// A float32 tensor filled with one value. Example: `Tensor.full [ 2 ] 7.0`.
    let full (shape: int list) (value: float) = Tensor.Full(arr shape, value)
    /// A 0-d float32 tensor. Example: `Tensor.scalar 2.5`.
    let scalar (value: float) = Tensor.Scalar value
    /// 0 .. n-1 as float32. Example: `Tensor.arange 5`.
    let arange (n: int) = Tensor.Arange n
    /// Evenly spaced float32 values, ends included. Example: `Tensor.linspace 0.0 1.0 5`.
    let linspace (start: float) (stop: float) (steps: int) = Tensor.Linspace(start, stop, steps)
    /// The n×n identity. Example: `Tensor.eye 3`.
    let eye (n: int) = Tensor.Eye n
    /// Standard normal float32 values. Example: `Tensor.randn [ 3 ]`.
    let randn (shape: int list) = Tensor.Randn(arr shape)
    /// Uniform float32 values in [0, 1). Example: `Tensor.rand [ 2; 2 ]`.
    let rand (shape: int list) = Tensor.Rand(arr shape)
    /// int64 values uniform in [low, high). Example: `Tensor.randint 0L 10L [ 4 ]`.
    let randint (low: int64) (high: int64) (shape: int list) = Tensor.Randint(low, high, arr shape)
    /// Reseeds the default generator (torch.manual_seed). Example: `Tensor.manualSeed 0UL`.
    let manualSeed (seed: uint64) = Tensor.ManualSeed seed
    /// The values converted to a dtype. Example: `x |> Tensor.toDType DType.Float64`.
    let toDType (dtype: DType) (x: Tensor) = x.To dtype
    /// The tensor on a device (itself when already there); its gradient copies back.
    /// Example: `x |> Tensor.toDevice (Device.Parse "cuda:0")`.
    let toDevice (device: Device) (x: Tensor) = x.To device

    /// Float32 zeros on a device. Example: `Tensor.zerosOn Device.Cpu [ 2; 3 ]`.
    let zerosOn (device: Device) (shape: int list) =
        Tensor.Zeros(arr shape, DType.Float32, device)

    /// Standard normal float32 values on a device. Example: `Tensor.randnOn Device.Cpu [ 3 ]`.
    let randnOn (device: Device) (shape: int list) =
        Tensor.Randn(arr shape, DType.Float32, device = device)

    // ---- autograd, imperative ------------------------------------------------------------

    /// A new leaf with the same values that accumulates gradients. Example: `Tensor.randn [ 3 ] |> Tensor.requiresGrad`.
    let requiresGrad (x: Tensor) = x.RequireGrad()
    /// The same values cut from the graph. Example: `Tensor.detach y`.
    let detach (x: Tensor) = x.Detach()
    /// Backward from a scalar: adds ∂y/∂x to every leaf's grad. Example: `loss |> Tensor.backward`.
    let backward (y: Tensor) = y.Backward()
    /// Backward with seed v: adds Jᵀv to every leaf's grad. Example: `y |> Tensor.backwardWith v`.
    let backwardWith (v: Tensor) (y: Tensor) = y.Backward(v)
    /// The accumulated gradient of a leaf. Example: `Tensor.grad x |> Option.map Tensor.toArray`.
    let grad (x: Tensor) = Option.ofObj x.Grad
    /// Clears a leaf's accumulated gradient. Example: `Tensor.zeroGrad w`.
    let zeroGrad (x: Tensor) = x.ZeroGrad()
    /// The op that produced a tensor, if any. Example: `Tensor.gradFn y |> Option.map string`.
    let gradFn (x: Tensor) = Option.ofObj x.GradFn

    // ---- read-out ------------------------------------------------------------------------

    /// The elements as floats, row-major. Example: `Tensor.toArray x`.
    let toArray (x: Tensor) = x.ToArray<float>()
    /// The value of a one-element tensor. Example: `Tensor.item loss`.
    let item (x: Tensor) = x.Item<float>()
    /// The shape as a list. Example: `Tensor.shape x = [ 2; 3 ]`.
    let shape (x: Tensor) = List.ofArray x.Shape

    // ---- elementwise ---------------------------------------------------------------------

    /// −x. Example: `Tensor.neg x`.
    let neg (x: Tensor) = x.Neg()
    /// eˣ. Example: `x |> Tensor.exp`.
    let exp (x: Tensor) = x.Exp()
    /// Natural log. Example: `x |> Tensor.log`.
    let log (x: Tensor) = x.Log()
    /// √x. Example: `x |> Tensor.sqrt`.
    let sqrt (x: Tensor) = x.Sqrt()
    /// |x|. Example: `x |> Tensor.abs`.
    let abs (x: Tensor) = x.Abs()
    /// sin x. Example: `x |> Tensor.sin`.
    let sin (x: Tensor) = x.Sin()
    /// cos x. Example: `x |> Tensor.cos`.
    let cos (x: Tensor) = x.Cos()
    /// tanh x. Example: `x |> Tensor.tanh`.
    let tanh (x: Tensor) = x.Tanh()
    /// 1/(1 + e⁻ˣ). Example: `x |> Tensor.sigmoid`.
    let sigmoid (x: Tensor) = x.Sigmoid()
    /// max(x, 0). Example: `x |> Tensor.relu`.
    let relu (x: Tensor) = x.Relu()
    /// log(1 + eˣ). Example: `x |> Tensor.softplus`.
    let softplus (x: Tensor) = x.Softplus()
    /// x·Φ(x). Example: `x |> Tensor.gelu`.
    let gelu (x: Tensor) = x.Gelu()
    /// The error function. Example: `x |> Tensor.erf`.
    let erf (x: Tensor) = x.Erf()
    /// −1, 0 or 1. Example: `x |> Tensor.sign`.
    let sign (x: Tensor) = x.Sign()
    /// log(1 + x), accurate near 0. Example: `x |> Tensor.log1p`.
    let log1p (x: Tensor) = x.Log1p()
    /// eˣ − 1, accurate near 0. Example: `x |> Tensor.expm1`.
    let expm1 (x: Tensor) = x.Expm1()
    /// tan x. Example: `x |> Tensor.tan`.
    let tan (x: Tensor) = x.Tan()
    /// arcsin x. Example: `x |> Tensor.asin`.
    let asin (x: Tensor) = x.Asin()
    /// arccos x. Example: `x |> Tensor.acos`.
    let acos (x: Tensor) = x.Acos()
    /// arctan x. Example: `x |> Tensor.atan`.
    let atan (x: Tensor) = x.Atan()
    /// sinh x. Example: `x |> Tensor.sinh`.
    let sinh (x: Tensor) = x.Sinh()
    /// cosh x. Example: `x |> Tensor.cosh`.
    let cosh (x: Tensor) = x.Cosh()
    /// ⌊x⌋ (no gradient). Example: `x |> Tensor.floor`.
    let floor (x: Tensor) = x.Floor()
    /// ⌈x⌉ (no gradient). Example: `x |> Tensor.ceil`.
    let ceil (x: Tensor) = x.Ceil()
    /// Rounds halves to even (no gradient). Example: `x |> Tensor.round`.
    let round (x: Tensor) = x.Round()
    /// Rounds towards zero (no gradient). Example: `x |> Tensor.trunc`.
    let trunc (x: Tensor) = x.Trunc()
    /// The angle of (b, a). Example: `Tensor.atan2 a b`.
    let atan2 (a: Tensor) (b: Tensor) = Tensor.Atan2(a, b)
    /// √(a² + b²) without overflow. Example: `Tensor.hypot a b`.
    let hypot (a: Tensor) (b: Tensor) = Tensor.Hypot(a, b)
    /// C's fmod, with a's sign. Example: `Tensor.fmod a b`.
    let fmod (a: Tensor) (b: Tensor) = Tensor.Fmod(a, b)
    /// Python's mod, with b's sign. Example: `Tensor.remainder a b`.
    let remainder (a: Tensor) (b: Tensor) = Tensor.Remainder(a, b)
    /// x². Example: `x |> Tensor.square`.
    let square (x: Tensor) = x.Square()
    /// 1/√x. Example: `x |> Tensor.rsqrt`.
    let rsqrt (x: Tensor) = x.Rsqrt()
    /// 1/x. Example: `x |> Tensor.reciprocal`.
    let reciprocal (x: Tensor) = x.Reciprocal()
    /// x·σ(x). Example: `x |> Tensor.silu`.
    let silu (x: Tensor) = x.Silu()
    /// x·tanh(softplus x). Example: `x |> Tensor.mish`.
    let mish (x: Tensor) = x.Mish()
    /// log σ(x). Example: `x |> Tensor.logsigmoid`.
    let logsigmoid (x: Tensor) = x.LogSigmoid()
    /// x, or slope·x below 0. Example: `x |> Tensor.leakyRelu 0.01`.
    let leakyRelu (slope: float) (x: Tensor) = x.LeakyRelu slope
    /// x, or α(eˣ − 1) below 0. Example: `x |> Tensor.elu 1.0`.
    let elu (alpha: float) (x: Tensor) = x.Elu alpha
    /// PyTorch's SELU. Example: `x |> Tensor.selu`.
    let selu (x: Tensor) = x.Selu()
    /// gelu's tanh approximation. Example: `x |> Tensor.geluTanh`.
    let geluTanh (x: Tensor) = x.GeluTanh()
    /// min(max(x, lo), hi). Example: `x |> Tensor.clamp -1.0 1.0`.
    let clamp (lo: float) (hi: float) (x: Tensor) = x.Clamp(lo, hi)
    /// start + w·(end − start). Example: `Tensor.lerp a b 0.25`.
    let lerp (start: Tensor) (stop: Tensor) (w: float) = Tensor.Lerp(start, stop, w)
    /// NaN → 0, ±∞ → the largest finite values. Example: `x |> Tensor.nanToNum`.
    let nanToNum (x: Tensor) = x.NanToNum()
    /// True where NaN. Example: `x |> Tensor.isnan`.
    let isnan (x: Tensor) = x.IsNan()
    /// xᶜ. Example: `x |> Tensor.pow 2.0`.
    let pow (c: float) (x: Tensor) = x.Pow c
    /// Elementwise maximum. Example: `Tensor.maximum a b`.
    let maximum (a: Tensor) (b: Tensor) = Tensor.Maximum(a, b)
    /// Elementwise minimum. Example: `Tensor.minimum a b`.
    let minimum (a: Tensor) (b: Tensor) = Tensor.Minimum(a, b)
    /// a where the mask is true, else b. Example: `Tensor.where (x .> 0.0) x (Tensor.zeros [ 3 ])`.
    let where (mask: Tensor) (a: Tensor) (b: Tensor) = Tensor.Where(mask, a, b)

    // ---- reductions ----------------------------------------------------------------------


    /// Sum of all elements. Example: `x |> Tensor.sum`.
    let sum (x: Tensor) = x.Sum()
    /// Sum over the given axes, dropped. Example: `x |> Tensor.sumAxes [ 0 ]`.
    let sumAxes (axes: int list) (x: Tensor) = x.Sum(arr axes)
    /// Mean of all elements. Example: `x |> Tensor.mean`.
    let mean (x: Tensor) = x.Mean()
    /// Mean over the given axes, dropped. Example: `x |> Tensor.meanAxes [ 1 ]`.
    let meanAxes (axes: int list) (x: Tensor) = x.Mean(arr axes)
    /// Maximum of all elements. Example: `x |> Tensor.max`.
    let max (x: Tensor) = x.Max()
    /// Maximum over the given axes. Example: `x |> Tensor.maxAxes [ 1 ]`.
    let maxAxes (axes: int list) (x: Tensor) = x.Max(arr axes)
    /// Minimum of all elements. Example: `x |> Tensor.min`.
    let min (x: Tensor) = x.Min()
    /// Minimum over the given axes. Example: `x |> Tensor.minAxes [ 1 ]`.
    let minAxes (axes: int list) (x: Tensor) = x.Min(arr axes)
    /// Product of all elements. Example: `x |> Tensor.prod`.
    let prod (x: Tensor) = x.Prod()
    /// The 2-norm of all elements, as a tensor. Example: `x |> Tensor.norm`.
    let norm (x: Tensor) = x.Norm()
    /// log Σ exp over the given axes, dropped; an empty list reduces nothing, as for every
    /// reduction over a list of axes. Example: `x |> Tensor.logsumexp [ 1 ]`.
    let logsumexp (axes: int list) (x: Tensor) = x.LogSumExp(arr axes)

    // ---- shape ---------------------------------------------------------------------------

    /// Reshapes (one axis may be -1). Example: `x |> Tensor.reshape [ 2; -1 ]`.
    let reshape (shape: int list) (x: Tensor) = x.Reshape(arr shape)
    /// Swaps two axes. Example: `x |> Tensor.transpose 0 1`.
    let transpose (dim0: int) (dim1: int) (x: Tensor) = x.Transpose(dim0, dim1)
    /// Reorders axes. Example: `x |> Tensor.permute [ 2; 0; 1 ]`.
    let permute (dims: int list) (x: Tensor) = x.Permute(arr dims)
    /// Removes axes of size 1. Example: `x |> Tensor.squeeze`.
    let squeeze (x: Tensor) = x.Squeeze()
    /// Inserts an axis of size 1. Example: `x |> Tensor.unsqueeze 0`.
    let unsqueeze (axis: int) (x: Tensor) = x.Unsqueeze axis
    /// All elements as one axis. Example: `x |> Tensor.flatten`.
    let flatten (x: Tensor) = x.Flatten()
    /// Broadcasts to a shape without copying. Example: `b |> Tensor.expand [ 4; 3 ]`.
    let expand (shape: int list) (x: Tensor) = x.Expand(arr shape)
    /// Elements start..stop-1 by step along an axis. Example: `x |> Tensor.slice 0 1 3 1`.
    let slice (axis: int) (start: int) (stop: int) (step: int) (x: Tensor) = x.Slice(axis, start, stop, step)
    /// The sub-tensor at an index along an axis. Example: `x |> Tensor.select 1 0`.
    let select (axis: int) (index: int) (x: Tensor) = x.Select(axis, index)
    /// Entries at int64 indices along an axis. Example: `x |> Tensor.indexSelect 0 idx`.
    let indexSelect (axis: int) (index: Tensor) (x: Tensor) = x.IndexSelect(axis, index)
    /// torch.gather. Example: `logp |> Tensor.gather 1 labels`.
    let gather (axis: int) (index: Tensor) (x: Tensor) = x.Gather(axis, index)
    /// Joins along an existing axis. Example: `Tensor.cat 0 [ a; b ]`.
    let cat (axis: int) (parts: Tensor list) = Tensor.Cat(Array.ofList parts, axis)
    /// Joins along a new axis. Example: `Tensor.stack 0 [ a; b ]`.
    let stack (axis: int) (parts: Tensor list) = Tensor.Stack(Array.ofList parts, axis)
    /// Splits into pieces of a size along an axis. Example: `x |> Tensor.split 2 0`.
    let split (size: int) (axis: int) (x: Tensor) = x.Split(size, axis) |> List.ofArray

    /// Running sums along an axis. Example: `x |> Tensor.cumsum 0`.
    let cumsum (axis: int) (x: Tensor) = x.CumSum axis
    /// Running products along an axis. Example: `x |> Tensor.cumprod -1`.
    let cumprod (axis: int) (x: Tensor) = x.CumProd axis
    /// Running log Σ exp along an axis. Example: `x |> Tensor.logcumsumexp -1`.
    let logcumsumexp (axis: int) (x: Tensor) = x.LogCumSumExp axis

    /// Sorted values and their positions along an axis (stable). Example: `let v, i = x |> Tensor.sort -1`.
    let sort (axis: int) (x: Tensor) =
        let struct (v, i) = x.Sort(axis)
        v, i

    /// The positions that sort an axis (stable). Example: `x |> Tensor.argsort -1`.
    let argsort (axis: int) (x: Tensor) = x.ArgSort(axis)

    /// The k largest values along the last axis and their positions. Example: `let v, i = x |> Tensor.topk 3`.
    let topk (k: int) (x: Tensor) =
        let struct (v, i) = x.TopK(k)
        v, i

    /// The positions of the nonzero elements as [count, rank]. Example: `mask |> Tensor.nonzero`.
    let nonzero (x: Tensor) = x.Nonzero()
    /// The elements where a bool mask is true, flat. Example: `x |> Tensor.maskedSelect (x.Gt 0.0)`.
    let maskedSelect (mask: Tensor) (x: Tensor) = x.MaskedSelect mask
    /// Values at int64 indices along an axis, broadcasting. Example: `x |> Tensor.takeAlongDim idx 1`.
    let takeAlongDim (indices: Tensor) (axis: int) (x: Tensor) = x.TakeAlongDim(indices, axis)
    /// Zero padding of the trailing axes, (before, after) pairs from the last axis. Example: `x |> Tensor.pad [ 1; 1 ]`.
    let pad (amounts: int list) (x: Tensor) = x.Pad(arr amounts)
    /// Padding in a mode: "constant", "reflect", "replicate" or "circular". Example: `x |> Tensor.padWith "reflect" [ 2; 2 ]`.
    let padWith (mode: string) (amounts: int list) (x: Tensor) = x.Pad(arr amounts, mode)
    /// A vector's diagonal matrix, or a matrix's diagonal. Example: `v |> Tensor.diag`.
    let diag (x: Tensor) = x.Diag()

    /// Einstein summation. Example: `Tensor.einsum "bij,bjk->bik" [ a; b ]`.
    let einsum (equation: string) (operands: Tensor list) =
        Tensor.Einsum(equation, Array.ofList operands)

    /// The vector p-norm over all elements. Example: `x |> Tensor.normP 1.0`.
    let normP (p: float) (x: Tensor) = x.Norm(p)

    // ---- linear algebra and nn -----------------------------------------------------------

    /// The matrix product. Example: `Tensor.matmul w x` (or `w *@ x`).
    let matmul (a: Tensor) (b: Tensor) = Tensor.MatMul(a, b)
    /// The inner product of two vectors. Example: `Tensor.dot a b`.
    let dot (a: Tensor) (b: Tensor) = Tensor.Dot(a, b)
    /// The outer product of two vectors. Example: `Tensor.outer a b`.
    let outer (a: Tensor) (b: Tensor) = Tensor.Outer(a, b)
    /// softmax along an axis. Example: `logits |> Tensor.softmax -1`.
    let softmax (axis: int) (x: Tensor) = x.Softmax axis
    /// log softmax along an axis. Example: `logits |> Tensor.logSoftmax -1`.
    let logSoftmax (axis: int) (x: Tensor) = x.LogSoftmax axis
    /// Mean cross-entropy of logits [N, C] against int64 labels [N]. Example: `logits |> Tensor.crossEntropy labels`.
    let crossEntropy (labels: Tensor) (logits: Tensor) = Tensor.CrossEntropy(logits, labels)
    /// Mean squared error. Example: `prediction |> Tensor.mseLoss target`.
    let mseLoss (target: Tensor) (input: Tensor) = Tensor.MseLoss(input, target)
