/// One case per registered op: how to draw inputs inside its domain and apply it. The
/// property suite enumerates the registry and looks each op up here, so an op without a
/// case fails the meta-test instead of going untested.
module Cotangent.Testing.OpCases

open System
open Cotangent
open Cotangent.Testing.Sampling

/// Inputs (float64) and how the op is applied to them, with its non-differentiable arguments fixed.
[<ReferenceEquality>]
type Sample =
    {
        /// The inputs, float64.
        Inputs: Tensor list
        /// The op applied to the inputs, non-differentiable arguments fixed.
        Apply: Tensor list -> Tensor
        /// What was drawn (shapes, fixed arguments), printed with a failure.
        Note: string
    }

    override s.ToString() =
        s.Note + " on\n" + (s.Inputs |> List.map string |> String.concat "\n")

/// One registered op's property case: how to draw its inputs and how closely to check it.
type OpCase =
    {
        /// The op's registry name.
        Name: string
        /// Draws a sample from the random source.
        Build: Random -> Sample
        /// For non-differentiable ops: the expected output, computed by plain loops.
        Reference: (Sample -> float[]) option
        /// Finite-difference step and relative tolerance for the gradient checks.
        Eps: float
        /// The relative tolerance of the gradient checks.
        Tol: float
    }

let private case name build =
    { Name = name
      Build = build
      Reference = None
      Eps = 1e-6
      Tol = 1e-6 }

let private sample note inputs apply =
    { Inputs = inputs
      Apply = apply
      Note = note }

let private one f = fun (xs: Tensor list) -> f xs.[0]

let private two f =
    fun (xs: Tensor list) -> f xs.[0] xs.[1]

/// A process group of one rank, for the collectives' cases.
let private single = lazy (Distributed.ProcessGroup.InProcess 1).[0]

let private unary name domain (f: Tensor -> Tensor) =
    case name (fun r ->
        let s = shape r 0 3
        sample (sprintf "%s of %s" name (shapeText s)) [ tensorIn r domain s ] (one f))

let private binary name da db (f: Tensor -> Tensor -> Tensor) =
    case name (fun r ->
        let sa, sb = broadcastPair r

        sample
            (sprintf "%s of %s and %s" name (shapeText sa) (shapeText sb))
            [ tensorIn r da sa; tensorIn r db sb ]
            (two f))

let private reduction name domain (f: Tensor -> int[] option -> bool -> Tensor) =
    case name (fun r ->
        let s = shape r 1 3
        let axes = axesOf r s.Length
        let keep = r.Next 2 = 0

        sample
            (sprintf "%s of %s over %A keepDim=%b" name (shapeText s) axes keep)
            [ tensorIn r domain s ]
            (one (fun x -> f x axes keep)))

let private opt (a: int[] option) = Option.toObj a

/// Values of the same shape compared elementwise by a plain loop.
let private comparison name (f: Tensor -> Tensor -> Tensor) (cmp: float -> float -> bool) =
    { case name (fun r ->
          let s = shape r 0 3
          // small integers, so equal pairs occur and eq/le/ge see ties
          let ints () =
              Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next(-2, 3))), s)

          sample (sprintf "%s of %s" name (shapeText s)) [ ints (); ints () ] (two f)) with
        Reference =
            Some(fun smp ->
                Array.map2
                    (fun a b -> if cmp a b then 1.0 else 0.0)
                    (smp.Inputs.[0].ToArray<float>())
                    (smp.Inputs.[1].ToArray<float>())) }

/// Two tensors of one shape whose values never tie, for ops that pick one side.
let private distinctPair name (f: Tensor -> Tensor -> Tensor) =
    case name (fun r ->
        let s = shape r 0 3
        let v = tensorIn r Distinct [| 2 * Array.fold (*) 1 s |]
        let half = v.Size(0) / 2

        sample
            (sprintf "%s of %s" name (shapeText s))
            [ v.Slice(0, 0, half).Reshape s; v.Slice(0, half, 2 * half).Reshape s ]
            (two f))

/// ⌊a / b⌋ of the exact quotient of two finite doubles (b ≠ 0), in big integers: each double is
/// m·2ᵉ exactly, so a / b is a ratio of integers and its floor needs no rounding at all.
let private exactFloorDivide (a: float) (b: float) =
    let parts (x: float) =
        let bits = BitConverter.DoubleToInt64Bits x
        let e = int ((bits >>> 52) &&& 0x7FFL)
        let m = bits &&& 0xFFFFFFFFFFFFFL
        let m, e = if e = 0 then m, -1074 else (m ||| (1L <<< 52)), e - 1075
        Numerics.BigInteger(if x < 0.0 then -m else m), e

    let ma, ea = parts a
    let mb, eb = parts b

    let num, den =
        if ea >= eb then
            ma * Numerics.BigInteger.Pow(2I, ea - eb), mb
        else
            ma, mb * Numerics.BigInteger.Pow(2I, eb - ea)

    let q, r = Numerics.BigInteger.DivRem(num, den)
    // DivRem truncates towards 0: step down when a remainder has the divisor's opposite sign
    float (
        if not r.IsZero && (r.Sign < 0) <> (den.Sign < 0) then
            q - 1I
        else
            q
    )

let private matmulShapes (r: Random) =
    let m, k, n = r.Next(1, 5), r.Next(1, 5), r.Next(1, 5)
    let b = r.Next(1, 4)

    match r.Next 7 with
    | 0 -> [| k |], [| k |]
    | 1 -> [| k |], [| k; n |]
    | 2 -> [| m; k |], [| k |]
    | 3 -> [| m; k |], [| k; n |]
    | 4 -> [| b; m; k |], [| k; n |]
    | 5 -> [| m; k |], [| b; k; n |]
    | _ -> [| b; 1; m; k |], [| 1; 2; k; n |]

/// Rounding ops against the same rounding in .NET, on values where half of the elements are
/// exact halves (ties) and the rest lie anywhere in [-4, 4].
let private rounding name (f: Tensor -> Tensor) (g: float -> float) =
    { case name (fun r ->
          let s = shape r 0 3

          let v =
              Array.init (Array.fold (*) 1 s) (fun _ ->
                  if r.Next 2 = 0 then
                      0.5 * float (r.Next(-8, 9))
                  else
                      uniform r -4.0 4.0)

          sample (sprintf "%s of %s" name (shapeText s)) [ Tensor.FromArray(v, s) ] (one f)) with
        Reference = Some(fun smp -> smp.Inputs.[0].ToArray<float>() |> Array.map g) }

/// fmod and remainder: dividends over several multiples of the divisor, divisors away from zero.
let private modulo name (f: Tensor -> Tensor -> Tensor) =
    case name (fun r ->
        let sa, sb = broadcastPair r

        // fmod and remainder jump where a/b is an integer: redraw until every pair the
        // broadcast forms is at least 1e-3 from one, so finite differences never straddle a jump
        let rec draw () =
            let a, b = tensorIn r Real sa * 3.0, tensorIn r AwayFromZero sb
            let q = (a / b).ToArray<float>()

            if q |> Array.forall (fun v -> abs (v - Math.Round v) > 1e-3) then
                a, b
            else
                draw ()

        let a, b = draw ()
        sample (sprintf "%s of %s by %s" name (shapeText sa) (shapeText sb)) [ a; b ] (two f))

/// Two same-shape operands whose differences all lie at least 1e-3 from ±kink: huber and
/// smooth L1 switch from quadratic to linear at |a − b| = δ (their second derivative jumps
/// there), so finite differences of the second-order check must not straddle it.
let private awayFromKink (r: Random) (s: int[]) (kink: float) =
    let rec draw () =
        let a, b = tensorIn r Real s, tensorIn r Real s
        let d = (a - b).ToArray<float>()

        if d |> Array.forall (fun v -> abs (abs v - kink) > 1e-3) then
            [ a; b ]
        else
            draw ()

    draw ()

/// isnan, isinf, isfinite on values with NaN and ±∞ among them, against .NET's own tests.
let private floatClass name (f: Tensor -> Tensor) (g: float -> bool) =
    { case name (fun r ->
          let s = shape r 0 3

          let v =
              Array.init (Array.fold (*) 1 s) (fun _ ->
                  match r.Next 5 with
                  | 0 -> nan
                  | 1 -> infinity
                  | 2 -> -infinity
                  | _ -> uniform r -2.0 2.0)

          sample (sprintf "%s of %s" name (shapeText s)) [ Tensor.FromArray(v, s) ] (one f)) with
        Reference = Some(fun smp -> smp.Inputs.[0].ToArray<float>() |> Array.map (fun v -> if g v then 1.0 else 0.0)) }

/// Logical ops on numbers -1, 0 and 1 read as truth values (nonzero is true), broadcasting.
let private logical name (f: Tensor -> Tensor -> Tensor) (op: bool -> bool -> bool) =
    { case name (fun r ->
          let s = shape r 0 3

          let ints () =
              Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next(-1, 2))), s)

          sample (sprintf "%s of %s" name (shapeText s)) [ ints (); ints () ] (two f)) with
        Reference =
            Some(fun smp ->
                Array.map2
                    (fun a b -> if op (a <> 0.0) (b <> 0.0) then 1.0 else 0.0)
                    (smp.Inputs.[0].ToArray<float>())
                    (smp.Inputs.[1].ToArray<float>())) }

/// argmax/argmin of a matrix with ties (small integers), along an axis or flattened, against
/// a loop that keeps the first extreme it meets.
let private argExtreme name (f: Tensor -> int option -> Tensor) (better: float -> float -> bool) =
    { case name (fun r ->
          let m, n = r.Next(1, 5), r.Next(1, 5)
          let axis = [| -9; 0; 1; -1 |].[r.Next 4]
          let v = Array.init (m * n) (fun _ -> float (r.Next(-2, 3)))
          let a = if axis = -9 then None else Some axis

          sample
              (sprintf "%s of [%d, %d] along %d" name m n axis)
              [ Tensor.FromArray(v, [| m; n |]) ]
              (one (fun x -> f x a))) with
        Reference =
            Some(fun smp ->
                let x = smp.Inputs.[0]
                let m, n = x.Size 0, x.Size 1
                let v = x.ToArray<float>()

                let first (idx: int[]) =
                    idx
                    |> Array.fold
                        (fun (bi, bv) i -> if better v.[i] bv then (i, v.[i]) else (bi, bv))
                        (idx.[0], v.[idx.[0]])
                    |> fst

                match int (smp.Note.Split(' ') |> Array.last) with
                | -9 -> [| float (first [| 0 .. m * n - 1 |]) |]
                | 0 -> Array.init n (fun j -> float (first (Array.init m (fun i -> i * n + j)) / n))
                | _ -> Array.init m (fun i -> float (first (Array.init n (fun j -> i * n + j)) - i * n))) }

/// any, all and count_nonzero of numbers -1, 0, 1 over all elements, against a loop.
let private truthReduction name (f: Tensor -> Tensor) (g: bool[] -> float) =
    { case name (fun r ->
          let s = shape r 0 3
          let v = Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next(-1, 2)))
          sample (sprintf "%s of %s" name (shapeText s)) [ Tensor.FromArray(v, s) ] (one f)) with
        Reference = Some(fun smp -> [| smp.Inputs.[0].ToArray<float>() |> Array.map (fun v -> v <> 0.0) |> g |]) }

/// Shapes of rank 2..3 with sizes 1..4, for the matrix ops.
let private matrixShape (r: Random) = shape r 2 3

/// Every op of the registry, keyed by its registry name.
let all: OpCase list =
    [ unary "neg" Real (fun x -> x.Neg())
      unary "exp" Real (fun x -> x.Exp())
      unary "log" Positive (fun x -> x.Log())
      unary "sqrt" Positive (fun x -> x.Sqrt())
      unary "abs" AwayFromZero (fun x -> x.Abs())
      unary "sin" Real (fun x -> x.Sin())
      unary "cos" Real (fun x -> x.Cos())
      unary "tanh" Real (fun x -> x.Tanh())
      unary "sigmoid" Real (fun x -> x.Sigmoid())
      unary "relu" AwayFromZero (fun x -> x.Relu())
      case "relu_backward" (fun r ->
          let sg, sx = broadcastPair r
          let x = tensorIn r AwayFromZero sx

          sample
              (sprintf "relu_backward of %s where %s > 0" (shapeText sg) (shapeText sx))
              [ tensorIn r Real sg ]
              (one (fun g -> Tensor.ReluBackward(g, x.To g.DType))))
      unary "softplus" Real (fun x -> x.Softplus())
      unary "gelu" Real (fun x -> x.Gelu())
      binary "gelu_backward" Real Real (fun g x -> Tensor.GeluBackward(g, x))
      unary "erf" Real (fun x -> x.Erf())
      { unary "sign" AwayFromZero (fun x -> x.Sign()) with
          Reference = Some(fun s -> s.Inputs.[0].ToArray<float>() |> Array.map (fun v -> float (sign v))) }
      binary "add" Real Real (fun a b -> a + b)
      binary "sub" Real Real (fun a b -> a - b)
      binary "mul" Real Real (fun a b -> a * b)
      binary "div" Real AwayFromZero (fun a b -> a / b)
      binary "pow" Positive Real (fun a b -> a.Pow b)
      { case "floor_divide" (fun r ->
            let s = shape r 0 3
            // quotients spread over several integers, divisors away from zero
            let a = tensorIn r Real s * 3.0

            sample
                (sprintf "floor_divide of %s" (shapeText s))
                [ a; tensorIn r AwayFromZero s ]
                (two (fun a b -> Tensor.FloorDivide(a, b)))) with
          Reference =
              Some(fun smp ->
                  Array.map2 exactFloorDivide (smp.Inputs.[0].ToArray<float>()) (smp.Inputs.[1].ToArray<float>())) }
      distinctPair "maximum" (fun a b -> Tensor.Maximum(a, b))
      distinctPair "minimum" (fun a b -> Tensor.Minimum(a, b))
      case "pow_scalar" (fun r ->
          let c = [| -1.5; 0.5; 2.0; 3.0 |].[r.Next 4]
          let s = shape r 0 3
          sample (sprintf "pow_scalar %g of %s" c (shapeText s)) [ tensorIn r Positive s ] (one (fun x -> x.Pow c)))
      comparison "eq" (fun a b -> a.Eq b) (=)
      comparison "ne" (fun a b -> a.Ne b) (<>)
      comparison "lt" (fun a b -> a.Lt b) (<)
      comparison "le" (fun a b -> a.Le b) (<=)
      comparison "gt" (fun a b -> a.Gt b) (>)
      comparison "ge" (fun a b -> a.Ge b) (>=)
      case "where" (fun r ->
          let sa, sb = broadcastPair r

          let sc =
              ShapeMath.Broadcast("where", sa, sb)
              |> Array.map (fun d -> if r.Next 3 = 0 then 1 else d)

          let cond =
              Tensor.FromArray(Array.init (Array.fold (*) 1 sc) (fun _ -> r.Next 2 = 0), sc)

          sample
              (sprintf "where %s ? %s : %s" (shapeText sc) (shapeText sa) (shapeText sb))
              [ tensorIn r Real sa; tensorIn r Real sb ]
              (two (fun a b -> Tensor.Where(cond, a, b))))
      // there and back: to another device (sim:1, or the CPU from a simulated one), a kernel
      // there, and home, so both copies and their VJPs are in the chain
      unary "to_device" Real (fun x ->
          let away =
              if x.Device = Device.Cpu then
                  Device.Simulated 1
              else
                  Device.Cpu

          (x.To away * 2.0).To x.Device)
      // collectives over a world of one, where each is its own kind of identity: the op's
      // staging through the host and its VJP are in the chain; several ranks are tested apart
      unary "dist_all_reduce" Real (fun x -> Distributed.Collectives.AllReduce(single.Value, x * 2.0) * x)
      unary "dist_replicate" Real (fun x -> Distributed.Collectives.Replicate(single.Value, x.Exp()) * x)
      case "dist_all_gather" (fun r ->
          let s = shape r 1 3

          sample
              (sprintf "dist_all_gather of %s" (shapeText s))
              [ tensorIn r Real s ]
              (one (fun x -> Distributed.Collectives.AllGather(single.Value, x.Tanh(), -1) * x)))
      { case "cast" (fun r ->
            let s = shape r 0 3
            sample "cast float64 -> float32" [ tensorIn r Real s ] (one (fun x -> (x.To DType.Float32) * 3.0))) with
          Eps = 1e-2
          Tol = 1e-4 }
      reduction "sum" Real (fun x a k -> x.Sum(opt a, k))
      reduction "mean" Real (fun x a k -> x.Mean(opt a, k))
      reduction "max" Distinct (fun x a k -> x.Max(opt a, k))
      reduction "min" Distinct (fun x a k -> x.Min(opt a, k))
      reduction "prod" AwayFromZero (fun x a k -> x.Prod(opt a, k))
      case "norm" (fun r ->
          let s = shape r 1 3
          let axes = axesOf r s.Length
          let keep = r.Next 2 = 0
          // p = 2 through both overloads; ∞ and −∞ on distinct magnitudes, so there are no ties
          let p =
              [| None
                 Some 2.0
                 Some 1.0
                 Some 3.0
                 Some 0.5
                 Some 1.5
                 Some -1.0
                 Some 0.0
                 Some infinity
                 Some -infinity |].[r.Next 10]

          sample
              (sprintf "norm p=%A of %s over %A keepDim=%b" p (shapeText s) axes keep)
              [ tensorIn r AwayFromZero s ]
              (one (fun x ->
                  match p with
                  | None -> x.Norm(opt axes, keep)
                  | Some p -> x.Norm(p, opt axes, keep))))
      reduction "logsumexp" Real (fun x a k -> x.LogSumExp(opt a, k))
      case "reshape" (fun r ->
          let s = shape r 1 3
          let n = Array.fold (*) 1 s
          let target = if r.Next 2 = 0 then [| n |] else [| -1; s.[s.Length - 1] |]
          // half the time through a transposed (non-contiguous) view, so the copying path runs too
          let t = r.Next 2 = 0

          sample
              (sprintf "reshape %s -> %A (via .T: %b)" (shapeText s) target t)
              [ tensorIn r Real s ]
              (one (fun x -> (if t then x.T.Contiguous().T else x).Reshape target)))
      case "permute" (fun r ->
          let s = shape r 1 4
          let p = [| 0 .. s.Length - 1 |] |> Array.sortBy (fun _ -> r.Next())

          sample
              (sprintf "permute %s by %A" (shapeText s) p)
              [ tensorIn r Real s ]
              (one (fun x -> x.Permute p * x.Permute p)))
      case "transpose" (fun r ->
          let s = shape r 2 3
          let a, b = r.Next s.Length, r.Next s.Length

          sample
              (sprintf "transpose %s %d %d" (shapeText s) a b)
              [ tensorIn r Real s ]
              // squared after a scaling, so the second-order check is not trivially zero and any dtype goes through
              (one (fun x ->
                  let t = x.Transpose(a, b) * 1.5
                  t * t)))
      case "squeeze" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> if r.Next 2 = 0 then 1 else d)
          sample (sprintf "squeeze %s" (shapeText s)) [ tensorIn r Real s ] (one (fun x -> x.Squeeze() * 2.0)))
      case "unsqueeze" (fun r ->
          let s = shape r 0 3
          let a = r.Next(-s.Length - 1, s.Length + 1)

          sample
              (sprintf "unsqueeze %s at %d" (shapeText s) a)
              [ tensorIn r Real s ]
              (one (fun x -> x.Unsqueeze a * 2.0)))
      case "select" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let i = r.Next(-s.[a], s.[a])

          sample
              (sprintf "select %s axis %d index %d" (shapeText s) a i)
              [ tensorIn r Real s ]
              (one (fun x -> x.Select(a, i) * 3.0)))
      case "flatten" (fun r ->
          let s = shape r 0 3

          sample
              (sprintf "flatten %s" (shapeText s))
              [ tensorIn r Real s ]
              (one (fun x ->
                  let t = x.Flatten() * 1.5
                  t * t)))
      case "expand" (fun r ->
          let target = shape r 1 3
          let s = broadcastableTo r target

          sample
              (sprintf "expand %s -> %s" (shapeText s) (shapeText target))
              [ tensorIn r Real s ]
              (one (fun x -> x.Expand target * x.Expand target)))
      case "sum_to" (fun r ->
          let full = shape r 1 3
          let small = broadcastableTo r full

          sample
              (sprintf "sum_to %s -> %s" (shapeText full) (shapeText small))
              [ tensorIn r Real full ]
              (one (fun x -> x.SumTo small)))
      case "slice" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let n = s.[a]
          let start, stop, step = r.Next(-n, n), r.Next(-n, n + 2), r.Next(1, 3)

          sample
              (sprintf "slice %s axis %d [%d:%d:%d]" (shapeText s) a start stop step)
              [ tensorIn r Real s ]
              (one (fun x -> x.Slice(a, start, stop, step))))
      case "slice_scatter" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let step = r.Next(1, 3)
          let start = r.Next 2
          let full = Array.copy s
          full.[a] <- start + step * (s.[a] - 1) + 1 + r.Next 2

          sample
              (sprintf "slice_scatter %s into %s axis %d start %d step %d" (shapeText s) (shapeText full) a start step)
              [ tensorIn r Real s ]
              (one (fun x -> Tensor.SliceScatter(x, full, a, start, step))))
      case "alias" (fun r ->
          let s = shape r 0 3
          sample "alias" [ tensorIn r Real s ] (one (fun x -> x.Alias() * x)))
      case "contiguous" (fun r ->
          let s = shape r 2 3
          sample "contiguous of a transpose" [ tensorIn r Real s ] (one (fun x -> x.T.Contiguous().Exp())))
      case "index_select" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let idx = indices r s.[a] (r.Next(1, 6))

          sample
              (sprintf "index_select %s axis %d %O" (shapeText s) a idx)
              [ tensorIn r Real s ]
              (one (fun x -> x.IndexSelect(a, idx))))
      case "index_add" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let idx = indices r s.[a] (r.Next(1, 6))
          let src = Array.copy s
          src.[a] <- idx.Size 0

          sample
              (sprintf "index_add into %s axis %d %O" (shapeText s) a idx)
              [ tensorIn r Real src ]
              (one (fun x -> Tensor.IndexAdd(s, a, idx, x))))
      case "gather" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let ishape, idx = alongAxis r s a

          sample
              (sprintf "gather %s axis %d index %s" (shapeText s) a (shapeText ishape))
              [ tensorIn r Real s ]
              (one (fun x -> x.Gather(a, idx))))
      case "scatter_add" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let ishape, idx = alongAxis r s a

          sample
              (sprintf "scatter_add %s into %s axis %d" (shapeText ishape) (shapeText s) a)
              [ tensorIn r Real ishape ]
              (one (fun x -> Tensor.ScatterAdd(s, a, idx, x))))
      case "cat" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length

          let parts =
              List.init (r.Next(1, 4)) (fun _ ->
                  let p = Array.copy s in
                  p.[a] <- r.Next(1, 4)
                  tensorIn r Real p)

          sample (sprintf "cat of %d along %d" parts.Length a) parts (fun xs -> Tensor.Cat(Array.ofList xs, a)))
      case "stack" (fun r ->
          let s = shape r 0 2
          let a = r.Next(s.Length + 1)
          let parts = List.init (r.Next(1, 4)) (fun _ -> tensorIn r Real s)
          sample (sprintf "stack of %d along %d" parts.Length a) parts (fun xs -> Tensor.Stack(Array.ofList xs, a)))
      case "split" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let size = r.Next(1, s.[a] + 1)

          sample
              (sprintf "split %s by %d along %d" (shapeText s) size a)
              [ tensorIn r Real s ]
              (one (fun x -> Tensor.Cat(x.Split(size, a) |> Array.mapi (fun i p -> p * float (i + 1)), a))))
      case "matmul" (fun r ->
          let sa, sb = matmulShapes r

          sample
              (sprintf "matmul %s @ %s" (shapeText sa) (shapeText sb))
              [ tensorIn r Real sa; tensorIn r Real sb ]
              (two (fun a b -> Tensor.MatMul(a, b))))
      case "linear" (fun r ->
          let inF, outF = r.Next(1, 6), r.Next(1, 6)
          let lead = shape r 0 2
          let withBias = r.Next 3 > 0

          let inputs =
              [ tensorIn r Real (Array.append lead [| inF |])
                tensorIn r Real [| outF; inF |] ]
              @ (if withBias then [ tensorIn r Real [| outF |] ] else [])

          sample
              (sprintf "linear %s -> %d (bias %b)" (shapeText (Array.append lead [| inF |])) outF withBias)
              inputs
              (fun xs ->
                  if withBias then
                      Tensor.Linear(xs.[0], xs.[1], xs.[2])
                  else
                      Tensor.Linear(xs.[0], xs.[1])))
      case "dot" (fun r ->
          let n = r.Next(1, 6)
          sample "dot" [ tensorIn r Real [| n |]; tensorIn r Real [| n |] ] (two (fun a b -> Tensor.Dot(a, b))))
      case "outer" (fun r ->
          sample
              "outer"
              [ tensorIn r Real [| r.Next(1, 5) |]; tensorIn r Real [| r.Next(1, 5) |] ]
              (two (fun a b -> Tensor.Outer(a, b))))
      case "unfold" (fun r ->
          let k, st, pad = r.Next(1, 3), r.Next(1, 3), r.Next(0, 2)
          let s = [| r.Next(1, 3); r.Next(1, 3); r.Next(k, 5); r.Next(k, 5) |]

          sample
              (sprintf "unfold %s k %d stride %d pad %d" (shapeText s) k st pad)
              [ tensorIn r Real s ]
              (one (fun x -> x.Unfold(k, k, st, pad))))
      case "fold" (fun r ->
          let k, st, pad = r.Next(1, 3), r.Next(1, 3), r.Next(0, 2)
          let n, c, h, w = r.Next(1, 3), r.Next(1, 3), r.Next(k, 5), r.Next(k, 5)
          let l = ((h + 2 * pad - k) / st + 1) * ((w + 2 * pad - k) / st + 1)

          sample
              (sprintf "fold into [%d, %d, %d, %d] k %d stride %d pad %d" n c h w k st pad)
              [ tensorIn r Real [| n; c * k * k; l |] ]
              (one (fun x -> x.Fold(h, w, k, k, st, pad))))
      case "conv2d" (fun r ->
          let k, st, pad = r.Next(1, 4), r.Next(1, 3), r.Next(0, 2)
          let n, c, o = r.Next(1, 3), r.Next(1, 3), r.Next(1, 3)
          let x = tensorIn r Real [| n; c; r.Next(k, 6); r.Next(k, 6) |]

          sample
              (sprintf "conv2d %s k %d stride %d pad %d" (shapeText x.Shape) k st pad)
              [ x; tensorIn r Real [| o; c; k; k |]; tensorIn r Real [| o |] ]
              (fun xs -> Tensor.Conv2d(xs.[0], xs.[1], xs.[2], st, pad)))
      case "conv2d_input_grad" (fun r ->
          let k, st, pad = r.Next(1, 4), r.Next(1, 3), r.Next(0, 2)
          let n, c, o = r.Next(1, 3), r.Next(1, 3), r.Next(1, 3)
          let h, w = r.Next(k, 6), r.Next(k, 6)
          let oh, ow = (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1

          sample
              (sprintf "conv2d_input_grad into [%d, %d, %d, %d] k %d stride %d pad %d" n c h w k st pad)
              [ tensorIn r Real [| n; o; oh; ow |]; tensorIn r Real [| o; c; k; k |] ]
              (fun xs -> Tensor.Conv2dInputGrad(xs.[0], xs.[1], h, w, st, pad)))
      case "conv2d_weight_grad" (fun r ->
          let k, st, pad = r.Next(1, 4), r.Next(1, 3), r.Next(0, 2)
          let n, c, o = r.Next(1, 3), r.Next(1, 3), r.Next(1, 3)
          let h, w = r.Next(k, 6), r.Next(k, 6)
          let oh, ow = (h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1

          sample
              (sprintf "conv2d_weight_grad of [%d, %d, %d, %d] k %d stride %d pad %d" n c h w k st pad)
              [ tensorIn r Real [| n; o; oh; ow |]; tensorIn r Real [| n; c; h; w |] ]
              (fun xs -> Tensor.Conv2dWeightGrad(xs.[0], xs.[1], k, k, st, pad)))
      case "max_pool2d" (fun r ->
          let k = r.Next(1, 3)
          let s = [| r.Next(1, 3); r.Next(1, 3); r.Next(k, 5); r.Next(k, 5) |]
          let x = (tensorIn r Distinct [| Array.fold (*) 1 s |]).Reshape s
          sample (sprintf "max_pool2d %s k %d" (shapeText s) k) [ x ] (one (fun x -> x.MaxPool2d k)))
      case "avg_pool2d" (fun r ->
          let k = r.Next(1, 3)
          let s = [| r.Next(1, 3); r.Next(1, 3); r.Next(k, 5); r.Next(k, 5) |]

          if r.Next 2 = 0 then
              sample
                  (sprintf "avg_pool2d %s k %d" (shapeText s) k)
                  [ tensorIn r Real s ]
                  (one (fun x -> x.AvgPool2d k))
          else
              // a 2×3 kernel, padding that does or does not count, and ceil mode
              let countPad, ceil = r.Next 2 = 0, r.Next 2 = 0
              let s = [| s.[0]; s.[1]; r.Next(2, 6); r.Next(3, 6) |]

              sample
                  (sprintf "avg_pool2d %s k 2×3 stride 2 pad 1 ceil %b count pad %b" (shapeText s) ceil countPad)
                  [ tensorIn r Real s ]
                  (one (fun x -> x.AvgPool2d([| 2; 3 |], [| 2 |], [| 1 |], ceil, countPad))))
      case "softmax_backward" (fun r ->
          let s = shape r 1 3
          // y a softmax row, as the op is only ever handed one
          let y = (tensorIn r Real s).Softmax(-1)

          sample
              (sprintf "softmax_backward %s" (shapeText s))
              [ tensorIn r Real s; y ]
              (two (fun g y -> Tensor.SoftmaxBackward(g, y))))
      case "log_softmax" (fun r ->
          let s = shape r 1 3
          let a = r.Next(-s.Length, s.Length)

          sample
              (sprintf "log_softmax %s axis %d" (shapeText s) a)
              [ tensorIn r Real s ]
              (one (fun x -> x.LogSoftmax a)))
      case "softmax" (fun r ->
          let s = shape r 1 3
          let a = r.Next(-s.Length, s.Length)
          sample (sprintf "softmax %s axis %d" (shapeText s) a) [ tensorIn r Real s ] (one (fun x -> x.Softmax a)))
      case "cross_entropy" (fun r ->
          let n, c = r.Next(1, 5), r.Next(2, 6)
          let smoothing = [| 0.0; 0.1; 0.3 |].[r.Next 3]

          match r.Next 4 with
          | 0 ->
              let labels = indices r c n

              sample
                  (sprintf "cross_entropy [%d, %d] labels %O smoothing %g" n c labels smoothing)
                  [ tensorIn r Real [| n; c |] ]
                  (one (fun x -> Tensor.CrossEntropy(x, labels, smoothing)))
          | 1 ->
              // [N, C, d]: class weights, one target ignored (never all of them), each reduction
              let d = r.Next(1, 4)
              let t = Array.init (n * d) (fun _ -> int64 (r.Next c))
              t.[r.Next t.Length] <- -100L
              t.[0] <- int64 (r.Next c)
              let labels = Tensor.FromArray(t, [| n; d |])
              let reduction = [| Reduction.Mean; Reduction.Sum; Reduction.None |].[r.Next 3]
              let w = values r Positive c

              sample
                  (sprintf
                      "cross_entropy [%d, %d, %d] weighted, ignore -100, %A, smoothing %g"
                      n
                      c
                      d
                      reduction
                      smoothing)
                  [ tensorIn r Real [| n; c; d |] ]
                  (one (fun x ->
                      Tensor.CrossEntropy(
                          x,
                          labels,
                          Tensor.FromArray(w, [| c |]).To x.DType,
                          -100,
                          reduction,
                          smoothing
                      )))
          | 2 ->
              // class probabilities as targets
              let p = Array.init (n * c) (fun _ -> r.NextDouble())

              sample
                  (sprintf "cross_entropy [%d, %d] against probabilities, smoothing %g" n c smoothing)
                  [ tensorIn r Real [| n; c |] ]
                  (one (fun x ->
                      Tensor.CrossEntropy(x, Tensor.FromArray(p, [| n; c |]).To x.DType, labelSmoothing = smoothing)))
          | _ ->
              let label = Tensor.FromArray([| int64 (r.Next c) |], [||])

              sample
                  (sprintf "cross_entropy unbatched [%d] label %O" c label)
                  [ tensorIn r Real [| c |] ]
                  (one (fun x -> Tensor.CrossEntropy(x, label, reduction = Reduction.None))))
      case "nll_loss" (fun r ->
          let n, c = r.Next(1, 5), r.Next(2, 6)
          let labels = indices r c n

          if r.Next 2 = 0 then
              sample
                  (sprintf "nll_loss [%d, %d]" n c)
                  [ tensorIn r Real [| n; c |] ]
                  (one (fun x -> Tensor.NllLoss(x, labels)))
          else
              let w = values r Positive c
              let reduction = [| Reduction.Mean; Reduction.Sum; Reduction.None |].[r.Next 3]

              sample
                  (sprintf "nll_loss [%d, %d] weighted, %A" n c reduction)
                  [ tensorIn r Real [| n; c |] ]
                  (one (fun x ->
                      Tensor.NllLoss(x, labels, Tensor.FromArray(w, [| c |]).To x.DType, reduction = reduction))))
      case "bce_with_logits" (fun r ->
          let s = shape r 1 3

          let targets =
              Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> r.NextDouble()), s)

          if r.Next 2 = 0 then
              sample
                  (sprintf "bce_with_logits %s" (shapeText s))
                  [ tensorIn r Real s ]
                  (one (fun x -> Tensor.BinaryCrossEntropyWithLogits(x, targets.To x.DType)))
          else
              let pw = values r Positive s.[s.Length - 1]
              let w = values r Positive (Array.fold (*) 1 s)

              sample
                  (sprintf "bce_with_logits %s with weight and pos_weight, sum" (shapeText s))
                  [ tensorIn r Real s ]
                  (one (fun x ->
                      Tensor.BinaryCrossEntropyWithLogits(
                          x,
                          targets.To x.DType,
                          Tensor.FromArray(w, s).To x.DType,
                          Tensor.FromArray(pw, [| s.[s.Length - 1] |]).To x.DType,
                          Reduction.Sum
                      ))))
      case "layer_norm" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> d + 1)
          let k = r.Next(1, s.Length + 1)
          let trailing = s.[s.Length - k ..]

          // distinct entries, spread: the n-th derivative grows as 1/σⁿ, and two nearly equal
          // entries in a group (σ ~ 1e-4) leave finite differences nothing to measure (a 1-in-10
          // flaky run); entries 0.05 apart still gave σ ~ 0.03, where the second-order check's
          // central differences err by 1e-4 relative (a 1-in-300 run), so they are 0.5 apart
          // (layer norm does not change when its input is scaled)
          sample
              (sprintf "layer_norm %s over %d axes" (shapeText s) k)
              [ tensorIn r Distinct s * 10.0
                tensorIn r Real trailing
                tensorIn r Real trailing ]
              (fun xs -> Tensor.LayerNorm(xs.[0], k, xs.[1], xs.[2])))
      case "layer_norm_backward" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> d + 1)
          let k = r.Next(1, s.Length + 1)

          // spread entries in each group, as for layer_norm: its second derivative is this op's first
          sample
              (sprintf "layer_norm_backward %s over %d axes" (shapeText s) k)
              [ tensorIn r Real s; tensorIn r Distinct s * 10.0 ]
              (fun xs -> Tensor.LayerNormBackward(xs.[0], xs.[1], k)))
      case "dropout" (fun r ->
          let s = shape r 1 3
          let seed = uint64 (r.Next())
          // a fresh generator per call, so every evaluation (and each finite difference) draws the same mask
          sample
              (sprintf "dropout 0.3 of %s" (shapeText s))
              [ tensorIn r Real s ]
              (one (fun x -> x.Dropout(0.3, true, Generator seed))))
      case "mse_loss" (fun r ->
          let s = shape r 0 3
          let reduction = [| Reduction.Mean; Reduction.Sum; Reduction.None |].[r.Next 3]

          if r.Next 2 = 0 then
              sample "mse_loss" [ tensorIn r Real s; tensorIn r Real s ] (two (fun a b -> Tensor.MseLoss(a, b)))
          else
              sample
                  (sprintf "mse_loss %A" reduction)
                  [ tensorIn r Real s; tensorIn r Real s ]
                  (two (fun a b -> Tensor.MseLoss(a, b, reduction))))
      case "l1_loss" (fun r ->
          let s = shape r 0 3
          // the difference kept away from 0, where |d| has its kink
          sample
              "l1_loss"
              [ tensorIn r Real s; tensorIn r AwayFromZero s ]
              (two (fun a b -> Tensor.L1Loss(a * 0.1, b, Reduction.Sum))))
      case "huber_loss" (fun r ->
          let s = shape r 0 3
          let delta = [| 0.5; 1.0; 2.0 |].[r.Next 3]

          sample
              (sprintf "huber_loss delta %g" delta)
              (awayFromKink r s delta)
              (two (fun a b -> Tensor.HuberLoss(a, b, delta))))
      case "smooth_l1_loss" (fun r ->
          let s = shape r 0 3
          let beta = [| 0.5; 1.0; 2.0 |].[r.Next 3]

          sample
              (sprintf "smooth_l1_loss beta %g" beta)
              (awayFromKink r s beta)
              (two (fun a b -> Tensor.SmoothL1Loss(a, b, beta, Reduction.Sum))))
      case "bce" (fun r ->
          let s = shape r 1 3
          let t = Array.init (Array.fold (*) 1 s) (fun _ -> r.NextDouble())

          // probabilities kept inside (0, 1): 0.5 + x/2 of x in [−0.9, 0.9]
          sample
              (sprintf "bce %s" (shapeText s))
              [ tensorIn r Unit s ]
              (one (fun x -> Tensor.BinaryCrossEntropy(x * 0.5 + 0.5, Tensor.FromArray(t, s).To x.DType))))
      case "kl_div" (fun r ->
          let n, c = r.Next(1, 4), r.Next(2, 5)
          let logTarget = r.Next 2 = 0

          sample
              (sprintf "kl_div [%d, %d] logTarget %b" n c logTarget)
              [ tensorIn r Real [| n; c |]
                tensorIn r (if logTarget then Unit else Positive) [| n; c |] ]
              (two (fun x y ->
                  // (a target of 0, whose term is 0, is LossTests' to check)
                  Tensor.KlDiv(x, y, Reduction.BatchMean, logTarget))))
      case "cosine_similarity" (fun r ->
          let n, d = r.Next(1, 4), r.Next(1, 5)

          if r.Next 2 = 0 then
              sample
                  (sprintf "cosine_similarity of [%d] vectors" d)
                  [ tensorIn r Real [| d |]; tensorIn r Real [| d |] ]
                  (two (fun a b -> Tensor.CosineSimilarity(a, b, 0)))
          else
              sample
                  (sprintf "cosine_similarity [%d, %d] with [1, %d] broadcast" n d d)
                  [ tensorIn r Real [| n; d |]; tensorIn r Real [| 1; d |] ]
                  (two (fun a b -> Tensor.CosineSimilarity(a, b))))
      case "cosine_embedding_loss" (fun r ->
          let n, d = r.Next(1, 4), r.Next(2, 5)

          let y =
              Tensor.FromArray(Array.init n (fun _ -> if r.Next 2 = 0 then 1.0 else -1.0), [| n |])
          // margin −1 keeps cos − margin above 0, away from relu's kink
          sample
              (sprintf "cosine_embedding_loss [%d, %d] y %O" n d y)
              [ tensorIn r Real [| n; d |]; tensorIn r Real [| n; d |] ]
              (two (fun a b -> Tensor.CosineEmbeddingLoss(a, b, y.To a.DType, -1.5))))
      case "margin_ranking_loss" (fun r ->
          let n = r.Next(1, 5)

          let y =
              Tensor.FromArray(Array.init n (fun _ -> if r.Next 2 = 0 then 1.0 else -1.0), [| n |])

          sample
              (sprintf "margin_ranking_loss [%d] y %O" n y)
              [ tensorIn r Real [| n |]; tensorIn r Real [| n |] ]
              (two (fun a b -> Tensor.MarginRankingLoss(a, b, y.To a.DType, 5.0))))
      // ---- issue 15's elementwise ops ----
      unary "log1p" Unit (fun x -> x.Log1p())
      unary "expm1" Real (fun x -> x.Expm1())
      unary "tan" Unit (fun x -> x.Tan())
      unary "asin" Unit (fun x -> x.Asin())
      unary "acos" Unit (fun x -> x.Acos())
      unary "atan" Real (fun x -> x.Atan())
      unary "sinh" Real (fun x -> x.Sinh())
      unary "cosh" Real (fun x -> x.Cosh())
      rounding "floor" (fun x -> x.Floor()) Math.Floor
      rounding "ceil" (fun x -> x.Ceil()) Math.Ceiling
      rounding "round" (fun x -> x.Round()) (fun v -> Math.Round(v, MidpointRounding.ToEven))
      rounding "trunc" (fun x -> x.Trunc()) Math.Truncate
      binary "atan2" AwayFromZero AwayFromZero (fun a b -> Tensor.Atan2(a, b))
      binary "hypot" AwayFromZero AwayFromZero (fun a b -> Tensor.Hypot(a, b))
      modulo "fmod" (fun a b -> Tensor.Fmod(a, b))
      modulo "remainder" (fun a b -> Tensor.Remainder(a, b))
      unary "square" Real (fun x -> x.Square())
      unary "rsqrt" Positive (fun x -> x.Rsqrt())
      unary "reciprocal" AwayFromZero (fun x -> x.Reciprocal())
      unary "silu" Real (fun x -> x.Silu())
      unary "mish" Real (fun x -> x.Mish())
      unary "logsigmoid" Real (fun x -> x.LogSigmoid())
      unary "leaky_relu" AwayFromZero (fun x -> x.LeakyRelu 0.2)
      unary "elu" AwayFromZero (fun x -> x.Elu 1.5)
      unary "selu" AwayFromZero (fun x -> x.Selu())
      unary "hardtanh" Real (fun x -> x.Hardtanh(-0.5, 0.75))
      unary "hardsigmoid" Real (fun x -> (x * 2.5).Hardsigmoid())
      unary "hardswish" Real (fun x -> (x * 2.5).Hardswish())
      unary "relu6" Real (fun x -> (x * 4.0).Relu6())
      unary "softsign" Real (fun x -> x.Softsign())
      unary "gelu_tanh" Real (fun x -> x.Gelu "tanh")
      case "lerp" (fun r ->
          let s = shape r 0 3

          if r.Next 2 = 0 then
              let w = uniform r -0.5 1.5

              sample
                  (sprintf "lerp of %s by %g" (shapeText s) w)
                  [ tensorIn r Real s; tensorIn r Real s ]
                  (two (fun a b -> Tensor.Lerp(a, b, w)))
          else
              sample
                  (sprintf "lerp of %s by a tensor" (shapeText s))
                  [ tensorIn r Real s; tensorIn r Real s; tensorIn r Real s ]
                  (fun xs -> Tensor.Lerp(xs.[0], xs.[1], xs.[2])))
      case "clamp" (fun r ->
          let s = shape r 0 3

          match r.Next 4 with
          | 0 ->
              sample
                  (sprintf "clamp of %s to [-0.5, 0.75]" (shapeText s))
                  [ tensorIn r Real s ]
                  (one (fun x -> x.Clamp(-0.5, 0.75)))
          | 1 ->
              sample
                  (sprintf "clamp of %s, min -0.5" (shapeText s))
                  [ tensorIn r Real s ]
                  (one (fun x -> x.Clamp(min = -0.5)))
          | 2 ->
              sample
                  (sprintf "clamp of %s, max 0.75" (shapeText s))
                  [ tensorIn r Real s ]
                  (one (fun x -> x.Clamp(max = 0.75)))
          | _ ->
              // tensor bounds in [-1.5, -0.5] and [0.5, 1.5]: the cotangent reaches all three
              sample
                  (sprintf "clamp of %s to tensor bounds" (shapeText s))
                  [ tensorIn r Real s; tensorIn r Real s; tensorIn r Real s ]
                  (fun xs -> (xs.[0] * 1.5).Clamp(xs.[1] * 0.25 - 1.0, xs.[2] * 0.25 + 1.0)))
      case "nan_to_num" (fun r ->
          let s = shape r 1 3
          let n = Array.fold (*) 1 s
          // every third element NaN or ±∞, put in as constants so the inputs stay finite for the checks
          let pick =
              Array.init n (fun i ->
                  if i % 3 = 1 then
                      [| nan; infinity; -infinity |].[r.Next 3]
                  else
                      0.0)

          let mask = Tensor.FromArray(Array.init n (fun i -> i % 3 = 1), s)
          let special = Tensor.FromArray(pick, s)

          sample
              (sprintf "nan_to_num of %s with NaN and ±inf" (shapeText s))
              [ tensorIn r Real s ]
              (one (fun x -> Tensor.Where(mask, special.To x.DType, x).NanToNum(0.5, 3.0, -4.0))))
      floatClass "isnan" (fun x -> x.IsNan()) Double.IsNaN
      floatClass "isinf" (fun x -> x.IsInf()) Double.IsInfinity
      floatClass "isfinite" (fun x -> x.IsFinite()) Double.IsFinite
      logical "logical_and" (fun a b -> Tensor.LogicalAnd(a, b)) (&&)
      logical "logical_or" (fun a b -> Tensor.LogicalOr(a, b)) (||)
      logical "logical_xor" (fun a b -> Tensor.LogicalXor(a, b)) (<>)
      { case "logical_not" (fun r ->
            let s = shape r 0 3
            let v = Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next(-1, 2)))

            sample
                (sprintf "logical_not of %s" (shapeText s))
                [ Tensor.FromArray(v, s) ]
                (one (fun x -> x.LogicalNot()))) with
          Reference =
              Some(fun smp ->
                  smp.Inputs.[0].ToArray<float>()
                  |> Array.map (fun v -> if v = 0.0 then 1.0 else 0.0)) }
      // ---- issue 15's reductions ----
      argExtreme "argmax" (fun x a -> x.ArgMax(Option.toNullable a)) (>)
      argExtreme "argmin" (fun x a -> x.ArgMin(Option.toNullable a)) (<)
      case "max_with_indices" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let keep = r.Next 2 = 0

          sample
              (sprintf "max_with_indices of %s along %d" (shapeText s) a)
              [ tensorIn r Distinct s ]
              (one (fun x -> let struct (v, _) = x.MaxWithIndices(a, keep) in v)))
      case "min_with_indices" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length

          sample
              (sprintf "min_with_indices of %s along %d" (shapeText s) a)
              [ tensorIn r Distinct s ]
              (one (fun x -> let struct (v, _) = x.MinWithIndices(a) in v)))
      case "var" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> d + 1)
          let axes = axesOf r s.Length
          let c = r.Next 2
          let keep = r.Next 2 = 0

          sample
              (sprintf "var of %s over %A, correction %d" (shapeText s) axes c)
              [ tensorIn r Real s ]
              (one (fun x -> x.Var(opt axes, c, keep))))
      case "std" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> d + 1)
          let axes = axesOf r s.Length
          let c = r.Next 2

          sample
              (sprintf "std of %s over %A, correction %d" (shapeText s) axes c)
              [ tensorIn r Real s ]
              (one (fun x -> x.Std(opt axes, c))))
      truthReduction "any" (fun x -> x.Any()) (fun b -> if Array.exists id b then 1.0 else 0.0)
      truthReduction "all" (fun x -> x.All()) (fun b -> if Array.forall id b then 1.0 else 0.0)
      truthReduction "count_nonzero" (fun x -> x.CountNonzero()) (fun b ->
          b |> Array.filter id |> Array.length |> float)
      reduction "amax" Distinct (fun x a k -> x.Amax(opt a, k))
      reduction "amin" Distinct (fun x a k -> x.Amin(opt a, k))
      // ---- issue 15's shape and indexing ops ----
      case "narrow" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let start = r.Next s.[a]
          let len = r.Next(0, s.[a] - start + 1)

          sample
              (sprintf "narrow %s axis %d from %d by %d" (shapeText s) a start len)
              [ tensorIn r Real s ]
              (one (fun x -> x.Narrow(a, start, len))))
      case "chunk" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let k = r.Next(1, 4)
          // all chunks back together, scaled differently, so each one's pullback is seen
          sample
              (sprintf "chunk %s into %d along %d" (shapeText s) k a)
              [ tensorIn r Real s ]
              (one (fun x -> Tensor.Cat(x.Chunk(k, a) |> Array.mapi (fun i c -> c * float (i + 1)), a))))
      case "movedim" (fun r ->
          let s = shape r 1 3
          let a, b = r.Next s.Length, r.Next s.Length

          sample
              (sprintf "movedim %s %d to %d" (shapeText s) a b)
              [ tensorIn r Real s ]
              (one (fun x -> x.Movedim(a, b))))
      case "flip" (fun r ->
          let s = shape r 1 3
          let axes = [| 0 .. s.Length - 1 |] |> Array.filter (fun _ -> r.Next 2 = 0)
          sample (sprintf "flip %s along %A" (shapeText s) axes) [ tensorIn r Real s ] (one (fun x -> x.Flip axes)))
      case "roll" (fun r ->
          let s = shape r 1 3
          let shift = r.Next(-5, 6)
          let axis = if r.Next 3 = 0 then None else Some(r.Next s.Length)

          sample
              (sprintf "roll %s by %d along %A" (shapeText s) shift axis)
              [ tensorIn r Real s ]
              (one (fun x -> x.Roll(shift, Option.toNullable axis))))
      case "tril" (fun r ->
          let s = matrixShape r
          let k = r.Next(-2, 3)
          sample (sprintf "tril %s, diagonal %d" (shapeText s) k) [ tensorIn r Real s ] (one (fun x -> x.Tril k)))
      case "triu" (fun r ->
          let s = matrixShape r
          let k = r.Next(-2, 3)
          sample (sprintf "triu %s, diagonal %d" (shapeText s) k) [ tensorIn r Real s ] (one (fun x -> x.Triu k)))
      case "masked_fill" (fun r ->
          let s = shape r 1 3
          let ms = s |> Array.map (fun d -> if r.Next 2 = 0 then 1 else d)

          let mask =
              Tensor.FromArray(Array.init (Array.fold (*) 1 ms) (fun _ -> r.Next 2 = 0), ms)

          sample
              (sprintf "masked_fill %s by a %s mask" (shapeText s) (shapeText ms))
              [ tensorIn r Real s ]
              (one (fun x -> x.MaskedFill(mask, -0.5))))
      { case "one_hot" (fun r ->
            let n = r.Next(0, 6)
            let c = r.Next(1, 5)
            // labels as floats (the harness makes float leaves of its inputs), cast to int64 inside
            let labels = Tensor.FromArray(Array.init n (fun _ -> float (r.Next c)), [| n |])

            sample
                (sprintf "one_hot of %d labels, %d classes" n c)
                [ labels ]
                (one (fun l -> Tensor.OneHot(l.To DType.Int64, c)))) with
          Reference =
              Some(fun smp ->
                  let c = int (smp.Note.Split(' ').[4])

                  smp.Inputs.[0].ToArray<float>()
                  |> Array.collect (fun l -> Array.init c (fun j -> if float j = l then 1.0 else 0.0))) }
      case "diagonal" (fun r ->
          let s = matrixShape r
          let k = r.Next(-2, 3)
          let a, b = (if r.Next 2 = 0 then 0, s.Length - 1 else s.Length - 1, 0)

          sample
              (sprintf "diagonal %s, offset %d, axes %d %d" (shapeText s) k a b)
              [ tensorIn r Real s ]
              (one (fun x -> x.Diagonal(k, a, b))))
      case "trace" (fun r ->
          let s = [| r.Next(1, 5); r.Next(1, 5) |]
          sample (sprintf "trace %s" (shapeText s)) [ tensorIn r Real s ] (one (fun x -> x.Trace())))
      case "repeat" (fun r ->
          let s = shape r 0 2
          let reps = Array.init (s.Length + r.Next 2) (fun _ -> r.Next(1, 4))
          sample (sprintf "repeat %s by %A" (shapeText s) reps) [ tensorIn r Real s ] (one (fun x -> x.Repeat reps)))
      case "tile" (fun r ->
          let s = shape r 1 3
          let reps = Array.init (r.Next(1, s.Length + 1)) (fun _ -> r.Next(1, 3))
          sample (sprintf "tile %s by %A" (shapeText s) reps) [ tensorIn r Real s ] (one (fun x -> x.Tile reps)))
      case "bmm" (fun r ->
          let b, n, m, p = r.Next(1, 4), r.Next(1, 4), r.Next(1, 4), r.Next(1, 4)

          sample
              (sprintf "bmm [%d, %d, %d] [%d, %d, %d]" b n m b m p)
              [ tensorIn r Real [| b; n; m |]; tensorIn r Real [| b; m; p |] ]
              (two (fun x y -> Tensor.Bmm(x, y))))
      case "addmm" (fun r ->
          let n, m, p = r.Next(1, 4), r.Next(1, 4), r.Next(1, 4)

          sample
              (sprintf "addmm [%d, %d] [%d, %d]" n m m p)
              [ tensorIn r Real [| p |]
                tensorIn r Real [| n; m |]
                tensorIn r Real [| m; p |] ]
              (fun xs -> Tensor.Addmm(xs.[0], xs.[1], xs.[2], 0.5, 2.0)))
      case "baddbmm" (fun r ->
          let b, n, m, p = r.Next(1, 4), r.Next(1, 4), r.Next(1, 4), r.Next(1, 4)

          sample
              (sprintf "baddbmm [%d, %d, %d] [%d, %d, %d]" b n m b m p)
              [ tensorIn r Real [| b; n; p |]
                tensorIn r Real [| b; n; m |]
                tensorIn r Real [| b; m; p |] ]
              (fun xs -> Tensor.Baddbmm(xs.[0], xs.[1], xs.[2], 1.5, 0.5)))
      case "cumsum" (fun r ->
          let s = shape r 0 3

          let a =
              if s.Length = 0 then
                  0
              else
                  r.Next s.Length - (if r.Next 2 = 0 then s.Length else 0)

          sample (sprintf "cumsum %s along %d" (shapeText s) a) [ tensorIn r Real s ] (one (fun x -> x.CumSum a)))
      case "cumprod" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          // half the time with exact zeros, so the rule's zero-safe path runs too
          let zeros = r.Next 2 = 0

          let v =
              values r Real (Array.fold (*) 1 s)
              |> Array.map (fun v -> if zeros && r.Next 3 = 0 then 0.0 else v)

          sample
              (sprintf "cumprod %s along %d (zeros: %b)" (shapeText s) a zeros)
              [ Tensor.FromArray(v, s) ]
              (one (fun x -> x.CumProd a)))
      case "logcumsumexp" (fun r ->
          let s = shape r 0 3
          let a = if s.Length = 0 then 0 else r.Next s.Length

          sample
              (sprintf "logcumsumexp %s along %d" (shapeText s) a)
              [ tensorIn r Real s * 3.0 ]
              (one (fun x -> x.LogCumSumExp a)))
      { case "argsort" (fun r ->
            let m, n = r.Next(1, 5), r.Next(1, 6)
            let axis = r.Next 2
            let desc = r.Next 2 = 0
            // small integers (ties, so stability shows) and NaN now and then
            let v =
                Array.init (m * n) (fun _ -> if r.Next 6 = 0 then nan else float (r.Next(-2, 3)))

            sample
                (sprintf "argsort of [%d, %d] descending %b along %d" m n desc axis)
                [ Tensor.FromArray(v, [| m; n |]) ]
                (one (fun x -> x.ArgSort(axis, desc)))) with
          Reference =
              Some(fun smp ->
                  let x = smp.Inputs.[0]
                  let m, n = x.Size 0, x.Size 1
                  let v = x.ToArray<float>()
                  let words = smp.Note.Split(' ')
                  let desc, axis = words.[5] = "true", int words.[7]

                  let cmp (a: float) (b: float) =
                      let c =
                          match Double.IsNaN a, Double.IsNaN b with
                          | true, true -> 0
                          | true, false -> 1
                          | false, true -> -1
                          | _ -> compare a b

                      if desc then -c else c

                  // List.sortWith is stable: ties keep their order, as the op promises
                  let order k =
                      let line =
                          if axis = 1 then
                              List.init n (fun j -> k * n + j)
                          else
                              List.init m (fun i -> i * n + k)

                      line
                      |> List.sortWith (fun p q -> cmp v.[p] v.[q])
                      |> List.map (fun p -> if axis = 1 then p - k * n else p / n)
                      |> Array.ofList

                  let rows = Array.init (if axis = 1 then m else n) order

                  Array.init (m * n) (fun p ->
                      float (
                          if axis = 1 then
                              rows.[p / n].[p % n]
                          else
                              rows.[p % n].[p / n]
                      ))) }
      case "sort" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let desc = r.Next 2 = 0

          sample
              (sprintf "sort %s along %d descending %b" (shapeText s) a desc)
              [ tensorIn r Distinct s ]
              (one (fun x -> let struct (v, _) = x.Sort(a, desc) in v)))
      case "topk" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let k = r.Next(s.[a] + 1)
          let largest = r.Next 2 = 0

          sample
              (sprintf "topk %d of %s along %d largest %b" k (shapeText s) a largest)
              [ tensorIn r Distinct s ]
              (one (fun x -> let struct (v, _) = x.TopK(k, a, largest) in v)))
      { case "nonzero" (fun r ->
            let s = shape r 0 3
            let v = Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next(-1, 2)))
            sample (sprintf "nonzero of %s" (shapeText s)) [ Tensor.FromArray(v, s) ] (one (fun x -> x.Nonzero()))) with
          Reference =
              Some(fun smp ->
                  let x = smp.Inputs.[0]
                  let s = x.Shape
                  let v = x.ToArray<float>()

                  [| for i in 0 .. v.Length - 1 do
                         if v.[i] <> 0.0 then
                             // i's coordinates, first axis first
                             let mutable rest = i

                             let coords =
                                 Array.init s.Length (fun d ->
                                     let inner = Array.fold (*) 1 s.[d + 1 ..]
                                     let c = rest / inner
                                     rest <- rest % inner
                                     float c)

                             yield! coords |]) }
      case "masked_select" (fun r ->
          let sa, sm = broadcastPair r
          let m = Array.init (Array.fold (*) 1 sm) (fun _ -> r.Next 2 = 0)

          sample
              (sprintf "masked_select %s mask %s" (shapeText sa) (shapeText sm))
              [ tensorIn r Real sa ]
              (one (fun x -> x.MaskedSelect(Tensor.FromArray(m, sm)))))
      case "scatter" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length

          let ishape =
              s
              |> Array.mapi (fun d n -> if d = a then r.Next(1, n + 1) else r.Next(1, n + 1))

          let lines = Array.fold (*) 1 ishape / ishape.[a]
          // distinct targets on every line along the axis: a prefix of a permutation each
          let perms =
              Array.init lines (fun _ -> Array.init s.[a] id |> Array.sortBy (fun _ -> r.Next()))

          let strides = Array.init ishape.Length (fun d -> Array.fold (*) 1 ishape.[d + 1 ..])

          let idx =
              Array.init (Array.fold (*) 1 ishape) (fun p ->
                  let along = p / strides.[a] % ishape.[a]
                  let line = p / (strides.[a] * ishape.[a]) * strides.[a] + p % strides.[a]
                  int64 perms.[line].[along])

          let sshape = ishape |> Array.map (fun n -> n + r.Next 2)

          sample
              (sprintf "scatter %s into %s axis %d (src %s)" (shapeText ishape) (shapeText s) a (shapeText sshape))
              [ tensorIn r Real s; tensorIn r Real sshape ]
              (two (fun x src -> x.Scatter(a, Tensor.FromArray(idx, ishape), src))))
      case "index_fill" (fun r ->
          let s = shape r 1 3
          let a = r.Next s.Length
          let idx = indices r s.[a] (r.Next(1, 4))

          sample
              (sprintf "index_fill %s axis %d %O" (shapeText s) a idx)
              [ tensorIn r Real s ]
              (one (fun x -> x.IndexFill(a, idx, 0.5) * x)))
      case "index_put" (fun r ->
          let s = shape r 1 3
          let k = r.Next(1, s.Length + 1)
          let lead = Array.fold (*) 1 s.[.. k - 1]
          let accumulate = r.Next 2 = 0
          let count = r.Next(1, lead + 1)
          // distinct places unless accumulating (then repeats add)
          let picks =
              if accumulate then
                  Array.init count (fun _ -> r.Next lead)
              else
                  (Array.init lead id |> Array.sortBy (fun _ -> r.Next())).[.. count - 1]

          let idx =
              Array.init k (fun d ->
                  let inner = Array.fold (*) 1 s.[d + 1 .. k - 1]

                  let v =
                      picks
                      |> Array.map (fun p ->
                          let i = p / inner % s.[d]
                          // now and then counted from the end
                          int64 (if r.Next 3 = 0 then i - s.[d] else i))

                  Tensor.FromArray(v, [| count |]))

          let rest = s.[k..]
          let vshape = if r.Next 3 = 0 then rest else Array.append [| count |] rest

          sample
              (sprintf
                  "index_put %d picks into %s over %d axes, values %s, accumulate %b"
                  count
                  (shapeText s)
                  k
                  (shapeText vshape)
                  accumulate)
              [ tensorIn r Real s; tensorIn r Real vshape ]
              (two (fun x v -> x.IndexPut(idx, v, accumulate))))
      case "take_along_dim" (fun r ->
          let s = shape r 1 3

          if r.Next 4 = 0 then
              let n = Array.fold (*) 1 s
              let idx = indices r n (r.Next(1, 6))

              sample
                  (sprintf "take_along_dim %s flat %O" (shapeText s) idx)
                  [ tensorIn r Real s ]
                  (one (fun x -> x.TakeAlongDim idx))
          else
              let a = r.Next s.Length
              let ishape, idx = alongAxis r s a
              // an index of size 1 off the axis broadcasts against the input
              let d = r.Next s.Length

              let idx, ishape =
                  if d <> a && r.Next 2 = 0 then
                      idx.Narrow(d, 0, 1), (ishape |> Array.mapi (fun i n -> if i = d then 1 else n))
                  else
                      idx, ishape

              sample
                  (sprintf "take_along_dim %s axis %d index %s" (shapeText s) a (shapeText ishape))
                  [ tensorIn r Real s ]
                  (one (fun x -> x.TakeAlongDim(idx, a))))
      case "diag" (fun r ->
          let k = r.Next(-2, 3)

          let s =
              if r.Next 2 = 0 then
                  [| r.Next(1, 5) |]
              else
                  [| r.Next(1, 5); r.Next(1, 5) |]

          sample (sprintf "diag %s offset %d" (shapeText s) k) [ tensorIn r Real s ] (one (fun x -> x.Diag k)))
      case "pad" (fun r ->
          let s = shape r 1 3 |> Array.map (fun n -> n + 1)
          let mode = [| "constant"; "reflect"; "replicate"; "circular" |].[r.Next 4]
          let axes = r.Next(1, s.Length + 1)

          let amounts =
              [| for p in 0 .. axes - 1 do
                     let n = s.[s.Length - 1 - p]

                     let one () =
                         match mode with
                         | "constant" -> r.Next(-1, 3)
                         | "reflect" -> r.Next n
                         | "replicate" -> r.Next 3
                         | _ -> r.Next(n + 1)

                     let b, a = one (), one ()
                     // a crop may not remove the whole axis
                     let b, a = if n + min b 0 + min a 0 < 0 then 0, 0 else b, a
                     yield b
                     yield a |]

          sample
              (sprintf "pad %s by %A, %s" (shapeText s) amounts mode)
              [ tensorIn r Real s ]
              (one (fun x -> x.Pad(amounts, mode, 0.25))))
      case "einsum" (fun r ->
          let d () = r.Next(1, 4)
          let i, j, k, l, b = d (), d (), d (), d (), d ()

          let equation, shapes =
              match r.Next 12 with
              | 0 -> "ij,jk->ik", [ [| i; j |]; [| j; k |] ]
              | 1 -> "bij,bjk->bik", [ [| b; i; j |]; [| b; j; k |] ]
              | 2 -> "ii->i", [ [| i; i |] ]
              | 3 -> "ii", [ [| i; i |] ]
              | 4 -> "ij->ji", [ [| i; j |] ]
              | 5 -> "i,i->", [ [| i |]; [| i |] ]
              | 6 -> "i,j", [ [| i |]; [| j |] ]
              | 7 -> "...ij,...jk->...ik", [ [| b; 1; i; j |]; [| l; j; k |] ]
              | 8 -> "bhqd,bhkd->bhqk", [ [| b; l; i; j |]; [| b; l; k; j |] ]
              | 9 -> "ijk,ikl,lm->jm", [ [| i; j; k |]; [| i; k; l |]; [| l; b |] ]
              | 10 -> "ij,ij->ij", [ [| i; j |]; [| i; j |] ]
              | _ -> "iij,jk", [ [| i; i; j |]; [| j; k |] ]

          sample
              (sprintf "einsum %s over %s" equation (shapes |> List.map shapeText |> String.concat ", "))
              (shapes |> List.map (tensorIn r Real))
              (fun xs -> Tensor.Einsum(equation, Array.ofList xs)))
      case "index" (fun r ->
          let s = shape r 1 3 |> Array.map (fun n -> n + 1)
          let mutable tensorUsed = false

          let entries =
              [ if r.Next 4 = 0 then
                    yield TensorIndex.NewAxis, "NewAxis"
                for d in 0 .. s.Length - 1 do
                    let n = s.[d]

                    match r.Next 5 with
                    | 0 ->
                        let i = r.Next(-n, n)
                        yield TensorIndex.op_Implicit i, string i
                    | 1 ->
                        let a = r.Next n
                        let b = r.Next(a + 1, n + 1)
                        yield TensorIndex.op_Implicit (Range(Index a, Index b)), sprintf "%d..%d" a b
                    | 2 -> yield TensorIndex.Slice(Range.All, 2), "::2"
                    | 3 when not tensorUsed ->
                        tensorUsed <- true
                        let t = Tensor.FromArray(Array.init 3 (fun _ -> int64 (r.Next n)), [| 3 |])
                        yield TensorIndex.op_Implicit t, sprintf "%O" t
                    | _ -> yield TensorIndex.op_Implicit Range.All, ".." ]

          sample
              (sprintf "index %s by [%s]" (shapeText s) (entries |> List.map snd |> String.concat ", "))
              [ tensorIn r Real s ]
              (one (fun x -> x.[entries |> List.map fst |> Array.ofList])))
      case "batch_norm" (fun r ->
          // [N, C], [N, C, L] or [N, C, H, W], at least two values a channel; spread entries as for layer_norm
          let n, c = r.Next(1, 4), r.Next(1, 4)
          let rest = Array.init (r.Next(0, 3)) (fun _ -> r.Next(1, 4))
          let s = Array.append [| max n (if rest.Length = 0 then 2 else 1); c |] rest

          let s =
              if Array.fold (*) 1 s / c < 2 then
                  Array.append s [| 2 |]
              else
                  s

          let affine = r.Next 2 = 0

          sample
              (sprintf "batch_norm %s%s" (shapeText s) (if affine then " with γ, β" else ""))
              [ yield tensorIn r Distinct s * 10.0
                if affine then
                    yield tensorIn r Real [| c |]
                    yield tensorIn r Real [| c |] ]
              (fun xs ->
                  if affine then
                      Tensor.BatchNorm(xs.[0], xs.[1], xs.[2])
                  else
                      Tensor.BatchNorm xs.[0]))
      case "batch_norm_backward" (fun r ->
          let n, c, l = r.Next(2, 4), r.Next(1, 4), r.Next(1, 3)
          let s = [| n; c; l |]

          sample
              (sprintf "batch_norm_backward %s" (shapeText s))
              [ tensorIn r Real s; tensorIn r Distinct s * 10.0 ]
              (fun xs -> Tensor.BatchNormBackward(xs.[0], xs.[1])))
      case "ctc_loss" (fun r ->
          // T frames, N samples, C classes with blank 0; each target short enough to be reachable
          let t, n, c = r.Next(2, 5), r.Next(1, 3), r.Next(2, 4)
          let lengths = Array.init n (fun _ -> r.Next(0, t / 2 + 1))
          let inputs = Array.init n (fun i -> r.Next(max 1 (2 * lengths.[i]), t + 1))

          let labels =
              [| for i in 0 .. n - 1 do
                     for _ in 1 .. lengths.[i] -> int64 (r.Next(1, c)) |]

          sample
              (sprintf "ctc_loss T=%d N=%d C=%d, targets of %A in %A frames" t n c lengths inputs)
              [ tensorIn r Real [| t; n; c |] ]
              (fun xs ->
                  // any scores serve as log-probabilities: the recursion does not need them normalised
                  Tensor.CtcLoss(
                      xs.[0],
                      Tensor.FromArray(labels, [| labels.Length |], xs.[0].Device),
                      inputs,
                      lengths,
                      reduction = Reduction.Sum
                  )))
      case "group_norm" (fun r ->
          let n, g, per, hw = r.Next(1, 3), r.Next(1, 3), r.Next(1, 3), r.Next(2, 4)
          let c = g * per
          // distinct values per group (each group has at least two), as for layer_norm
          let x = tensorIn r Distinct [| n; c; hw |] * 3.0

          sample
              (sprintf "group_norm [%d, %d, %d] in %d groups" n c hw g)
              [ x; tensorIn r Real [| c |]; tensorIn r Real [| c |] ]
              (fun xs -> Tensor.GroupNorm(xs.[0], g, xs.[1], xs.[2])))
      case "instance_norm" (fun r ->
          let n, c, h, w = r.Next(1, 3), r.Next(1, 3), r.Next(2, 4), r.Next(1, 3)

          sample
              (sprintf "instance_norm [%d, %d, %d, %d]" n c h w)
              [ tensorIn r Distinct [| n; c; h; w |] * 3.0; tensorIn r Real [| c |] ]
              (fun xs -> Tensor.InstanceNorm(xs.[0], xs.[1])))
      case "rms_norm" (fun r ->
          let s = shape r 1 3 |> Array.map (fun d -> d + 1)
          let k = r.Next(1, s.Length + 1)

          sample
              (sprintf "rms_norm %s over %d axes" (shapeText s) k)
              [ tensorIn r AwayFromZero s; tensorIn r Real s.[s.Length - k ..] ]
              (fun xs -> Tensor.RmsNorm(xs.[0], k, xs.[1], 1e-3)))
      case "pixel_shuffle" (fun r ->
          let up = r.Next(1, 3)
          let n, c, h, w = r.Next(1, 3), r.Next(1, 3), r.Next(1, 3), r.Next(1, 3)

          sample
              (sprintf "pixel_shuffle [%d, %d, %d, %d] by %d" n (c * up * up) h w up)
              [ tensorIn r Real [| n; c * up * up; h; w |] ]
              (one (fun x -> x.PixelShuffle up)))
      case "dropout2d" (fun r ->
          let s = [| r.Next(1, 3); r.Next(1, 4); r.Next(1, 3); r.Next(1, 3) |]
          let seed = uint64 (r.Next())

          sample
              (sprintf "dropout2d 0.4 of %s" (shapeText s))
              [ tensorIn r Real s ]
              (one (fun x -> x.Dropout2d(0.4, true, Generator seed))))
      case "scaled_dot_product_attention" (fun r ->
          let b, l, sl, e, ev =
              r.Next(1, 3), r.Next(1, 4), r.Next(1, 4), r.Next(1, 4), r.Next(1, 3)

          let kind = r.Next 3
          // a bool mask that leaves every query a key (the first), or a float one
          let boolMask =
              Tensor.FromArray(Array.init (l * sl) (fun i -> i % sl = 0 || r.Next 2 = 0), [| l; sl |])

          let floatMask = Tensor.FromArray(values r Real (l * sl), [| l; sl |])

          sample
              (sprintf "scaled_dot_product_attention q [%d, %d, %d] k/v [%d, %d] mask %d" b l e sl ev kind)
              [ tensorIn r Real [| b; l; e |]
                tensorIn r Real [| b; sl; e |]
                tensorIn r Real [| b; sl; ev |] ]
              (fun xs ->
                  match kind with
                  | 0 -> Tensor.ScaledDotProductAttention(xs.[0], xs.[1], xs.[2], causal = (l = sl))
                  | 1 -> Tensor.ScaledDotProductAttention(xs.[0], xs.[1], xs.[2], boolMask)
                  | _ ->
                      Tensor.ScaledDotProductAttention(xs.[0], xs.[1], xs.[2], floatMask.To xs.[0].DType, scale = 0.7)))
      case "convolution" (fun r ->
          let groups = r.Next(1, 3)
          let c, o = groups * r.Next(1, 3), groups * r.Next(1, 3)
          let kh, kw = r.Next(1, 3), r.Next(1, 4)

          let sh, sw, ph, pw, dh, dw =
              r.Next(1, 3), r.Next(1, 3), r.Next 2, r.Next 2, r.Next(1, 3), r.Next(1, 3)

          let h, w = dh * (kh - 1) + 1 + r.Next 3, dw * (kw - 1) + 1 + r.Next 3
          let n = r.Next(1, 3)

          sample
              (sprintf
                  "convolution [%d, %d, %d, %d] weight [%d, %d, %d, %d] stride (%d, %d) pad (%d, %d) dilation (%d, %d) groups %d"
                  n
                  c
                  h
                  w
                  o
                  (c / groups)
                  kh
                  kw
                  sh
                  sw
                  ph
                  pw
                  dh
                  dw
                  groups)
              [ tensorIn r Real [| n; c; h; w |]
                tensorIn r Real [| o; c / groups; kh; kw |]
                tensorIn r Real [| o |] ]
              (fun xs -> Tensor.Conv2d(xs.[0], xs.[1], xs.[2], [| sh; sw |], [| ph; pw |], [| dh; dw |], groups)))
      case "conv1d" (fun r ->
          let groups = r.Next(1, 3)

          let c, o, k, st, pad, dil =
              groups * r.Next(1, 3), groups * r.Next(1, 3), r.Next(1, 4), r.Next(1, 3), r.Next 2, r.Next(1, 3)

          let l = dil * (k - 1) + 1 + r.Next 3

          sample
              (sprintf "conv1d [1, %d, %d] k %d stride %d pad %d dilation %d groups %d" c l k st pad dil groups)
              [ tensorIn r Real [| 1; c; l |]; tensorIn r Real [| o; c / groups; k |] ]
              (two (fun x w -> Tensor.Conv1d(x, w, null, st, pad, dil, groups))))
      case "conv_transpose2d" (fun r ->
          let groups = r.Next(1, 3)
          let c, og = groups * r.Next(1, 3), r.Next(1, 3)
          let k, st, dil = r.Next(1, 4), r.Next(1, 3), r.Next(1, 3)
          let outPad = r.Next(0, max st dil)
          let h, w = r.Next(1, 4), r.Next(1, 4)
          // padding that leaves an output of at least one row and column
          let most = ((min h w) - 1) * st + dil * (k - 1) + outPad
          let pad = r.Next(0, max 1 (min k (most / 2 + 1)))

          sample
              (sprintf
                  "conv_transpose2d [1, %d, %d, %d] k %d stride %d pad %d out pad %d dilation %d groups %d"
                  c
                  h
                  w
                  k
                  st
                  pad
                  outPad
                  dil
                  groups)
              [ tensorIn r Real [| 1; c; h; w |]
                tensorIn r Real [| c; og; k; k |]
                tensorIn r Real [| og * groups |] ]
              (fun xs ->
                  Tensor.ConvTranspose2d(xs.[0], xs.[1], xs.[2], [| st |], [| pad |], [| outPad |], groups, [| dil |])))
      case "max_pool2d_with_indices" (fun r ->
          let kh, kw = r.Next(1, 4), r.Next(1, 3)
          let ph, pw = r.Next(0, kh / 2 + 1), r.Next(0, kw / 2 + 1)
          let d, ceil = r.Next(1, 3), r.Next 2 = 0

          let s =
              [| r.Next(1, 3)
                 r.Next(1, 3)
                 d * (kh - 1) + 1 + r.Next 3
                 d * (kw - 1) + 1 + r.Next 3 |]
          // distinct values, so no two window entries tie
          let x = (tensorIn r Distinct [| Array.fold (*) 1 s |]).Reshape s

          sample
              (sprintf
                  "max_pool2d_with_indices %s k (%d, %d) stride 2 pad (%d, %d) dilation %d ceil %b"
                  (shapeText s)
                  kh
                  kw
                  ph
                  pw
                  d
                  ceil)
              [ x ]
              (one (fun x ->
                  let struct (v, _) =
                      x.MaxPool2dWithIndices([| kh; kw |], [| 2 |], [| ph; pw |], [| d |], ceil)

                  v)))
      case "adaptive_avg_pool2d" (fun r ->
          let s = [| r.Next(1, 3); r.Next(1, 3); r.Next(1, 6); r.Next(1, 6) |]
          let oh, ow = r.Next(1, 5), r.Next(1, 5)

          sample
              (sprintf "adaptive_avg_pool2d %s to %d×%d" (shapeText s) oh ow)
              [ tensorIn r Real s ]
              (one (fun x -> x.AdaptiveAvgPool2d(oh, ow))))
      case "max_unpool2d" (fun r ->
          let n, c, h, w = r.Next(1, 3), r.Next(1, 3), 2 * r.Next(1, 3), 2 * r.Next(1, 3)
          let x = (tensorIn r Distinct [| n * c * h * w |]).Reshape(n, c, h, w)
          let struct (_, idx) = x.MaxPool2dWithIndices([| 2 |])

          sample
              (sprintf "max_unpool2d of [%d, %d, %d, %d] pooled by 2" n c (h / 2) (w / 2))
              [ tensorIn r Real [| n; c; h / 2; w / 2 |] ]
              (one (fun v -> v.MaxUnpool2d(idx, [| 2 |]))))
      case "interpolate" (fun r ->
          // at least 2 wide, so a 0.75 factor leaves a column
          let s = [| r.Next(1, 3); r.Next(1, 3); r.Next(1, 4); r.Next(2, 5) |]
          let mode = if r.Next 2 = 0 then "nearest" else "bilinear"
          let align = mode = "bilinear" && r.Next 2 = 0
          let bySize = r.Next 2 = 0
          let size = [| r.Next(1, 6); r.Next(1, 6) |]
          let factor = [| [| 2.0 |]; [| 1.5; 0.75 |]; [| 3.0; 2.0 |] |].[r.Next 3]

          sample
              (sprintf
                  "interpolate %s %s %s align %b"
                  (shapeText s)
                  mode
                  (if bySize then
                       sprintf "to %A" size
                   else
                       sprintf "by %A" factor)
                  align)
              [ tensorIn r Real s ]
              (one (fun x ->
                  if bySize then
                      x.Interpolate(size, null, mode, align)
                  else
                      x.Interpolate(null, factor, mode, align))))
      { case "bernoulli" (fun r ->
            let s = shape r 0 3
            let seed = uint64 (r.Next())
            // probabilities 0 and 1 only: the draw is certain, so a loop knows it
            let p = Array.init (Array.fold (*) 1 s) (fun _ -> float (r.Next 2))

            sample
                (sprintf "bernoulli of %s" (shapeText s))
                [ Tensor.FromArray(p, s) ]
                (one (fun x -> x.Bernoulli(Generator seed)))) with
          Reference = Some(fun smp -> smp.Inputs.[0].ToArray<float>()) }
      { case "multinomial" (fun r ->
            let n, c = r.Next(1, 4), r.Next(1, 5)
            let seed = uint64 (r.Next())
            // one-hot weights: every draw must be the one category
            let w = Array.init (n * c) (fun _ -> 0.0)

            for i in 0 .. n - 1 do
                w.[i * c + r.Next c] <- r.NextDouble() + 0.5

            sample
                (sprintf "multinomial of one-hot [%d, %d], 3 draws" n c)
                [ Tensor.FromArray(w, [| n; c |]) ]
                (one (fun x -> x.Multinomial(3, true, Generator seed)))) with
          Reference =
              Some(fun smp ->
                  let x = smp.Inputs.[0]
                  let c = x.Size 1
                  let w = x.ToArray<float>()

                  Array.init (x.Size 0) (fun i -> Array.findIndex (fun v -> v > 0.0) w.[i * c .. i * c + c - 1])
                  |> Array.collect (fun k -> Array.create 3 (float k))) }
      case "normal" (fun r ->
          let sa, sb = broadcastPair r
          let seed = uint64 (r.Next())

          sample
              (sprintf "normal mean %s std %s" (shapeText sa) (shapeText sb))
              [ tensorIn r Real sa; tensorIn r Positive sb ]
              (two (fun m sd -> Tensor.Normal(m, sd, Generator seed))))
      case "uniform" (fun r ->
          let s = shape r 0 3
          let seed = uint64 (r.Next())

          sample
              (sprintf "uniform over %s" (shapeText s))
              // low in [−0.4, 0.4], high in [0.5, 2]: high is above low everywhere
              [ tensorIn r Real s * 0.2; tensorIn r Positive s ]
              (two (fun low high -> Tensor.Uniform(low, high, Generator seed))))
      { case "randperm" (fun r ->
            let n = r.Next(0, 9)
            let seed = uint64 (r.Next())
            // sorted, a permutation of 0 … n − 1 is 0 … n − 1
            sample
                (sprintf "randperm %d, sorted" n)
                [ Tensor.Zeros([| n |], DType.Float64) ]
                (one (fun x ->
                    let struct (v, _) = Tensor.Randperm(x.Size 0, Generator seed).Sort()
                    v))) with
          Reference = Some(fun smp -> Array.init (smp.Inputs.[0].Size 0) float) }
      case "inv" (fun r ->
          let n, b = r.Next(1, 4), r.Next(1, 3)
          // near the identity, diagonally dominant: invertible, and so is every small perturbation
          let a = tensorIn r Real [| b; n; n |] * 0.15 + Tensor.Eye(n, dtype = DType.Float64)
          sample (sprintf "inv [%d, %d, %d]" b n n) [ a ] (one (fun a -> a.Inv())))
      case "solve" (fun r ->
          let n, k = r.Next(1, 4), r.Next(1, 3)
          let vector = r.Next 3 = 0
          let a = tensorIn r Real [| 2; n; n |] * 0.15 + Tensor.Eye(n, dtype = DType.Float64)
          let bs = if vector then [| 2; n |] else [| 1; n; k |]

          sample
              (sprintf "solve [2, %d, %d] with B %s" n n (shapeText bs))
              [ a; tensorIn r Real bs ]
              (two (fun a b -> Tensor.Solve(a, b))))
      case "det" (fun r ->
          let n = r.Next(1, 4)
          let a = tensorIn r Real [| 2; n; n |] * 0.15 + Tensor.Eye(n, dtype = DType.Float64)
          sample (sprintf "det [2, %d, %d]" n n) [ a ] (one (fun a -> a.Det())))
      case "slogdet" (fun r ->
          let n = r.Next(1, 4)
          // a sign flip on the first row now and then: negative determinants too
          let flip =
              Tensor.FromArray(Array.init n (fun i -> if i = 0 && r.Next 2 = 0 then -1.0 else 1.0), [| n; 1 |])

          let a =
              (tensorIn r Real [| n; n |] * 0.15 + Tensor.Eye(n, dtype = DType.Float64))
              * flip

          sample
              (sprintf "slogdet [%d, %d]" n n)
              [ a ]
              (one (fun a ->
                  let struct (_, l) = a.Slogdet()
                  l)))
      case "cholesky" (fun r ->
          let n = r.Next(1, 4)
          let m = tensorIn r Real [| n; n |]
          // M·Mᵀ + I: positive-definite, comfortably, so perturbations stay so
          let a = Tensor.MatMul(m, m.T) + Tensor.Eye(n, dtype = DType.Float64)
          sample (sprintf "cholesky [%d, %d]" n n) [ a ] (one (fun a -> a.Cholesky())))
      case "qr" (fun r ->
          let n = r.Next(1, 4)
          let m = n + r.Next 3

          sample
              (sprintf "qr [%d, %d]" m n)
              [ tensorIn r Real [| m; n |] ]
              (one (fun a ->
                  let struct (q, rr) = a.Qr()
                  Tensor.Cat([| q.Flatten(); rr.Flatten() |]))))
      case "eigh" (fun r ->
          let n = r.Next(1, 4)
          let m = tensorIn r Real [| n; n |]

          // eigenvectors squared: the same whichever sign each vector comes with
          sample
              (sprintf "eigh [%d, %d]" n n)
              [ m + m.T ]
              (one (fun a ->
                  let struct (l, v) = a.Eigh()
                  Tensor.Cat([| l; (v * v).Flatten() |]))))
      case "svd" (fun r ->
          let m, n = r.Next(1, 4), r.Next(1, 4)

          // singular vectors squared: unchanged when a pair (uᵢ, vᵢ) flips sign together
          sample
              (sprintf "svd [%d, %d]" m n)
              [ tensorIn r Real [| m; n |] ]
              (one (fun a ->
                  let struct (u, s, vh) = a.Svd()
                  Tensor.Cat([| s; (u * u).Flatten(); (vh * vh).Flatten() |]))))
      case "lstsq" (fun r ->
          let tall = r.Next 2 = 0
          let n = r.Next(1, 3)
          let m = if tall then n + r.Next(0, 3) else n + 1
          let m, n = if tall then m, n else n, m
          let a = tensorIn r Real [| m; n |] + Tensor.Eye(m, n, DType.Float64)

          sample
              (sprintf "lstsq [%d, %d] B [%d, 2]" m n m)
              [ a; tensorIn r Real [| m; 2 |] ]
              (two (fun a b -> Tensor.Lstsq(a, b)))) ]

/// The cases by op name.
let byName = all |> List.map (fun c -> c.Name, c) |> Map.ofList
