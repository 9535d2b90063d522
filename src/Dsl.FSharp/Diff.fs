namespace Cotangent.FSharp

open System
open System.Collections.Generic
open Cotangent

/// The cotangents a program's pullback returns, keyed (by reference) by the tensors that
/// entered it: the inputs its steps closed over, the values its steps bound, and the tensors
/// that require grad which its plain code used.
[<Sealed>]
type Grads internal (table: Dictionary<Tensor, Tensor>, resolve: Tensor -> Tensor option) =

    let find (x: Tensor) =
        if isNull (box x) then
            nullArg "x"

        match table.TryGetValue x with
        | true, g -> Some g
        | _ ->
            match resolve x with
            | Some g ->
                table.[x] <- g
                Some g
            | None -> None

    /// The gradient for x: a tensor that entered the program, a value a step bound (one more
    /// reverse sweep, the first time it is asked for), or a tensor that requires grad (zeros
    /// when the program does not reach it). Any other tensor is a constant to the program, so
    /// asking for its gradient raises rather than answering zeros. Example: `(pullback v).[w1]`.
    member _.Item(x: Tensor) : Tensor =
        match find x with
        | Some g -> g
        | None ->
            invalidArg
                "x"
                (sprintf
                    "Diff.run: the %A %A tensor asked for never entered the program and does not require grad (or runFor left it out), so the program treats it as a constant and has no gradient for it; pass it to a step (Diff.input), make it require grad, or list it in Diff.runFor"
                    x.DType
                    x.Shape)

    /// The gradient for x, or None where `Item` would raise (x is a constant to the program).
    /// Example: `g.TryFind w |> Option.isSome`.
    member _.TryFind(x: Tensor) : Tensor option = find x

    /// How many tensors received a cotangent so far.
    member _.Count = table.Count

    override _.ToString() =
        sprintf
            "Grads(%d tensors: %s)"
            table.Count
            (table.Values |> Seq.map (fun g -> sprintf "%A" g.Shape) |> String.concat ", ")

/// Tensors by reference, hashed by the identity each tensor carries (no object-header hash).
[<AutoOpen>]
module internal Identity =
    let identity: IEqualityComparer<Tensor> = ByIdentity.Instance

/// One run of a program: which tensors entered it and which values its steps bound.
///
/// The design: a step's value and its pullback are the engine's. Running a step applies its
/// function with the graph recorded, on the program's own view of each input (a fresh leaf for
/// a tensor from outside, or the tensor itself when it is already differentiated: a step's
/// output, a leaf that requires grad, a variable an outer transform traces). Bind passes a
/// step's output to the next step, so the steps' VJP nodes chain by data flow exactly as the
/// composition J₁ᵀ(J₂ᵀ(… v)), plain tensor code between steps included, and the program's
/// pullback is one reverse sweep of the engine from its outputs: cost linear in the program,
/// however many steps. Because every VJP rule is made of differentiable ops, that sweep is
/// itself differentiable: inside another transform (or with grad enabled under one) the
/// pullback records its own graph, and grad of a function that runs a pullback (a
/// Hessian-vector product through a program) is exact; under NoGrad it records nothing.
[<Sealed>]
type Trace internal (recording: bool, only: HashSet<Tensor> option, nested: bool) =
    // what entered, in order: few tensors enter a program, so a list searched by reference
    // (a dictionary once it grows) is cheaper to make and to search than a table
    let pairs = ResizeArray<struct (Tensor * Tensor)>()
    let mutable index: Dictionary<Tensor, Tensor> | null = null

    let find (t: Tensor) =
        match index with
        | null ->
            let mutable found = ValueNone
            let mutable i = 0

            // a tensor that entered, or the run's own view of one coming back
            while found.IsNone && i < pairs.Count do
                let struct (outside, inside) = pairs.[i]

                if obj.ReferenceEquals(outside, t) || obj.ReferenceEquals(inside, t) then
                    found <- ValueSome inside

                i <- i + 1

            found
        | table ->
            match table.TryGetValue t with
            | true, inside -> ValueSome inside
            | _ -> ValueNone

    let remember (t: Tensor) (inside: Tensor) =
        pairs.Add(struct (t, inside))

        match index with
        | null when pairs.Count > 8 ->
            let table = Dictionary<Tensor, Tensor>(identity)

            for struct (o, i) in pairs do
                table.[o] <- i
                table.[i] <- i

            index <- table
        | null -> ()
        | table ->
            table.[t] <- inside
            table.[inside] <- inside

    /// False for Diff.value, which runs the steps without recording anything.
    member internal _.Recording = recording

    /// The program's view of a tensor a step is given.
    member internal this.Enter(t: Tensor) : Tensor =
        if not recording || isNull (box t) || this.IsBound t then
            t
        else
            match find t with
            | ValueSome inside -> inside
            | ValueNone ->
                let wanted =
                    match only with
                    | Some set -> set.Contains t
                    | None -> true

                if not wanted then
                    // a constant to this run (Diff.runFor): no leaf of its own, no cotangent
                    t
                else
                    // stays connected: a variable an outer transform traces, or a tensor computed
                    // from leaves that require grad (plain code before the program). Any other
                    // tensor, a leaf that requires grad included, enters as a fresh leaf of this
                    // run, as a transform's own inputs do: its cotangent carries no graph of it
                    let inside =
                        if not (t.DType.IsFloating()) then
                            t
                        elif t.RequiresGrad && (nested || not (isNull t.GradFn)) then
                            t
                        else
                            t.Detach().RequireGrad()

                    remember t inside
                    inside

    /// Remembers a value a step bound, so its cotangent is reported too (not for Diff.runFor).
    member internal this.Bind(y: Tensor) =
        if recording && not (isNull (box y)) then
            match y.GradFn with
            | null -> ()
            | node -> node.Owner <- this

    /// True when only the given tensors are differentiated (Diff.runFor).
    member internal _.Restricted = only.IsSome

    /// Whether x is differentiated by this run: every tensor is, unless Diff.runFor lists others.
    member internal _.Wanted(x: Tensor) =
        match only with
        | Some set -> set.Contains x
        | None -> true

    /// The tensors Diff.runFor lists (none for Diff.run).
    member internal _.Only: Tensor seq =
        match only with
        | Some set -> set
        | None -> Seq.empty

    /// Whether x entered this run, or is the run's view of a tensor that did.
    member internal _.Contains(x: Tensor) = (find x).IsSome

    /// The fresh leaves this run made for tensors that entered.
    member internal _.OwnLeaves =
        [| for struct (outside, inside) in pairs do
               if not (obj.ReferenceEquals(outside, inside)) then
                   inside |]

    /// The tensors that entered, with the program's view of each, in order of entry.
    member internal _.Entered = pairs

    /// Whether a step of this run made this value (its node carries this run as owner).
    member internal this.IsBound(t: Tensor) =
        match t.GradFn with
        | null -> false
        | node -> obj.ReferenceEquals(node.Owner, this)

/// A differentiable program that produces a 'T (a tensor, or any tuple, record, list or array
/// of them). `Diff.run` returns its value and the pullback v ↦ J₁ᵀ(J₂ᵀ(… v)) for a cotangent v
/// of the same shape; see Trace for how steps compose.
[<Struct>]
type Diff<'T> = Diff of (Trace -> 'T)

/// The `diff { }` builder: `let!` runs a step and binds its value, `and!` runs independent
/// steps, `for`/`while` repeat steps, `return!` ends with a step, and `use`, `try … with` and
/// `try … finally` work as in any F# code. Plain tensor code between steps is allowed: on step
/// outputs (and `Diff.input` values, and leaves that require grad) the engine records it, and
/// it joins the chain.
type DiffBuilder
    /// A builder; the DSL offers one as `diff`.
    () =
    /// `return x`: ends the program with a value, running no step.
    member inline _.Return(x: 'T) : Diff<'T> = Diff(fun _ -> x)
    /// `return! step`: ends the program with a step's value.
    member inline _.ReturnFrom(d: Diff<'T>) : Diff<'T> = d

    /// `let! y = step`: runs the step and binds its value for the rest of the program.
    member inline _.Bind(Diff m: Diff<'A>, [<InlineIfLambda>] k: 'A -> Diff<'B>) : Diff<'B> =
        Diff(fun trace ->
            let (Diff n) = k (m trace)
            n trace)

    /// `let! y = step in return f y`, in one piece.
    member inline _.BindReturn(Diff m: Diff<'A>, [<InlineIfLambda>] f: 'A -> 'B) : Diff<'B> =
        Diff(fun trace -> f (m trace))

    /// `let! a = s and! b = t`: runs independent steps, in order.
    member inline _.MergeSources(Diff a: Diff<'A>, Diff b: Diff<'B>) : Diff<'A * 'B> =
        Diff(fun trace ->
            let x = a trace
            x, b trace)

    /// The empty program, for an `if` without an `else`.
    member inline _.Zero() : Diff<unit> = Diff(fun _ -> ())

    /// Defers building the rest of the program until it runs.
    member inline _.Delay([<InlineIfLambda>] f: unit -> Diff<'T>) : Diff<'T> =
        Diff(fun trace ->
            let (Diff m) = f ()
            m trace)

    /// Runs a unit program, then the rest.
    member inline _.Combine(Diff a: Diff<unit>, Diff b: Diff<'T>) : Diff<'T> =
        Diff(fun trace ->
            a trace
            b trace)

    /// `while guard do …`: runs the body's steps while the guard holds.
    member inline _.While([<InlineIfLambda>] guard: unit -> bool, Diff body: Diff<unit>) : Diff<unit> =
        Diff(fun trace ->
            while guard () do
                body trace)

    /// `for x in xs do …`: runs the body's steps once per item.
    member inline _.For(xs: seq<'A>, [<InlineIfLambda>] body: 'A -> Diff<unit>) : Diff<unit> =
        Diff(fun trace ->
            for x in xs do
                let (Diff b) = body x
                b trace)

    /// `try … with`: a step that raises hands over to the handler's program.
    member inline _.TryWith(Diff body: Diff<'T>, [<InlineIfLambda>] handler: exn -> Diff<'T>) : Diff<'T> =
        Diff(fun trace ->
            try
                body trace
            with e ->
                let (Diff h) = handler e
                h trace)

    /// `try … finally`: the compensation runs however the body ends.
    member inline _.TryFinally(Diff body: Diff<'T>, [<InlineIfLambda>] compensation: unit -> unit) : Diff<'T> =
        Diff(fun trace ->
            try
                body trace
            finally
                compensation ())

    /// `use r = …`: disposes r when the rest of the program ends.
    member inline _.Using(resource: 'R :> IDisposable, [<InlineIfLambda>] body: 'R -> Diff<'T>) : Diff<'T> =
        Diff(fun trace ->
            try
                let (Diff b) = body resource
                b trace
            finally
                if not (isNull (box resource)) then
                    resource.Dispose())

/// The `diff { }` computation expression.
[<AutoOpen>]
module DiffBuilderInstance =
    /// Composes differentiable steps. Example: `diff { let! h = Diff.linear w b x in return! Diff.relu h }`.
    let diff = DiffBuilder()

/// Steps and runners for `diff { }` programs.
[<RequireQualifiedAccess>]
module Diff =

    let private step (trace: Trace) (y: Tensor) =
        trace.Bind y
        y

    /// A step from any function of tensors, differentiated by the engine.
    /// Example: `Diff.lift (fun xs -> xs.[0] * xs.[1]) [ a; b ]`.
    let lift (f: Tensor list -> Tensor) (inputs: Tensor list) : Diff<Tensor> =
        Diff(fun trace -> inputs |> List.map trace.Enter |> f |> step trace)

    /// A one-input step. Example: `Diff.lift1 (fun x -> x.Tanh()) h`.
    let lift1 (f: Tensor -> Tensor) (x: Tensor) =
        Diff(fun trace -> trace.Enter x |> f |> step trace)

    /// A two-input step. Example: `Diff.lift2 (fun a b -> a * b) a b`.
    let lift2 (f: Tensor -> Tensor -> Tensor) (a: Tensor) (b: Tensor) =
        Diff(fun trace -> f (trace.Enter a) (trace.Enter b) |> step trace)

    /// A step with a hand-written VJP (jax.custom_vjp): `vjp inputs output v` returns one
    /// cotangent per input. The forward runs without recording; the VJP runs when the pullback
    /// does, recorded when the pullback is differentiated (write it with Cotangent ops).
    /// Example: `Diff.custom (fun xs -> xs.Head * xs.Head) (fun xs _ v -> [ 2.0 * xs.Head * v ]) [ x ]`.
    let custom
        (forward: Tensor list -> Tensor)
        (vjp: Tensor list -> Tensor -> Tensor -> Tensor list)
        (inputs: Tensor list)
        : Diff<Tensor> =
        Diff(fun trace ->
            let xs = inputs |> List.map trace.Enter |> Array.ofList

            if not trace.Recording then
                forward (List.ofArray xs)
            else
                // the engine asks for one input's gradient at a time: compute them all once per
                // cotangent (and grad mode: a recorded sweep must not reuse an unrecorded result)
                let mutable last: (Tensor * bool * Tensor list) option = None

                let rule =
                    VjpRule(fun i g ins y ->
                        let recorded = GradMode.IsEnabled

                        let gs =
                            match last with
                            | Some(v, r, gs) when obj.ReferenceEquals(v, g) && r = recorded -> gs
                            | _ ->
                                let gs = vjp (List.ofArray ins) y g

                                if gs.Length <> ins.Length then
                                    invalidOp (
                                        sprintf
                                            "Diff.custom: the VJP returned %d cotangents for %d inputs"
                                            gs.Length
                                            ins.Length
                                    )

                                last <- Some(g, recorded, gs)
                                gs

                        gs.[i])

                CustomOp.Apply("diff_custom", xs, Func<Tensor[], Tensor>(List.ofArray >> forward), rule)
                |> step trace)

    /// Brings x into the program as a step (the identity): plain tensor code on the result is
    /// differentiated and its cotangent reaches x. A tensor that enters only plain code, and is
    /// neither a step's output nor a leaf that requires grad, is a constant to the program.
    /// Example: `let! x = Diff.input x0`.
    let input (x: Tensor) = Diff(fun trace -> trace.Enter x)

    /// A program that returns x without running a step. Example: `Diff.ret x`.
    let ret (x: 'T) : Diff<'T> = Diff(fun _ -> x)

    /// Threads a state through one program per item. Example: `Diff.fold (fun h w -> Diff.linear w b h) x weights`.
    let fold (step: 'S -> 'A -> Diff<'S>) (init: 'S) (items: seq<'A>) : Diff<'S> =
        Diff(fun trace ->
            let mutable s = init

            for a in items do
                let (Diff m) = step s a
                s <- m trace

            s)

    // ---- a small step library -------------------------------------------------------------

    /// x·wᵀ + b, a dense layer (w: [out, in], b: [out], x: [.., in]). Example: `Diff.linear w b x`.
    let linear (w: Tensor) (b: Tensor) (x: Tensor) =
        Diff(fun trace -> Tensor.Linear(trace.Enter x, trace.Enter w, trace.Enter b) |> step trace)

    /// max(x, 0). Example: `Diff.relu h`.
    let relu (x: Tensor) = lift1 (fun x -> x.Relu()) x
    /// tanh x. Example: `Diff.tanh h`.
    let tanh (x: Tensor) = lift1 (fun x -> x.Tanh()) x
    /// σ(x). Example: `Diff.sigmoid h`.
    let sigmoid (x: Tensor) = lift1 (fun x -> x.Sigmoid()) x
    /// softmax over the last axis. Example: `Diff.softmax logits`.
    let softmax (x: Tensor) = lift1 (fun x -> x.Softmax(-1)) x

    /// Mean squared error against a target. Example: `Diff.mse target prediction`.
    let mse (target: Tensor) (prediction: Tensor) =
        lift1 (fun p -> Tensor.MseLoss(p, target)) prediction

    /// Mean cross-entropy against int64 labels. Example: `Diff.crossEntropy labels logits`.
    let crossEntropy (labels: Tensor) (logits: Tensor) =
        lift1 (fun z -> Tensor.CrossEntropy(z, labels)) logits

    // ---- running --------------------------------------------------------------------------

    /// The checked seeds of a pullback call: the outputs that require grad, with theirs.
    let private seedsFor (outputs: Tensor[]) (v: 'T) =
        let seeds = Tree.leafArray (box v)

        if seeds.Length <> outputs.Length then
            invalidArg
                "v"
                (sprintf
                    "Diff.run: the cotangent holds %d tensors but the program's value holds %d; pass one of the value's shape"
                    seeds.Length
                    outputs.Length)

        let live = ResizeArray<Tensor>()
        let liveSeeds = ResizeArray<Tensor>()

        for i in 0 .. outputs.Length - 1 do
            let y, s = outputs.[i], seeds.[i]

            if isNull (box s) then
                invalidArg "v" (sprintf "Diff.run: the cotangent's tensor %d is null" i)

            if not (ShapeMath.SameShape(s.ShapeSpan, y.ShapeSpan)) then
                invalidArg
                    "v"
                    (sprintf "Diff.run: the cotangent's tensor %d has shape %A but the value's has %A" i s.Shape y.Shape)

            if y.RequiresGrad then
                live.Add y
                liveSeeds.Add(if s.DType = y.DType then s else s.To y.DType)

        live.ToArray(), liveSeeds.ToArray()

    /// One pullback call: a single reverse sweep from the outputs, giving the cotangents of what
    /// entered and, when every entering tensor is differentiated, of the leaves that require
    /// grad the program's plain code reached.
    let private pullbackOf (trace: Trace) (outputs: Tensor[]) (higher: bool) (v: 'T) : Grads =
        let roots, rootSeeds = seedsFor outputs v
        let higher = higher && GradMode.IsEnabled
        let table = Dictionary<Tensor, Tensor>(identity)
        // what entered, and Diff.runFor's tensors that require grad but entered no step (plain
        // code may use them), each with the program's view of it
        let entered =
            if not trace.Restricted then
                trace.Entered
            else
                let all = ResizeArray(trace.Entered)

                for t in trace.Only do
                    if t.RequiresGrad && not (trace.Contains t) then
                        all.Add(struct (t, t))

                all

        if roots.Length > 0 then
            // each entering tensor has a view of its own (a fresh leaf, or itself); a leaf that
            // requires grad and entered a step as a fresh leaf may also be used directly by plain
            // code, so its own gradient is asked for too, and the two shares add up
            let wrt = ResizeArray<Tensor>()
            let shares = ResizeArray<struct (Tensor * int * int)>()

            for struct (outside, inside) in entered do
                if not inside.RequiresGrad then
                    shares.Add(struct (outside, -1, -1))
                else
                    wrt.Add inside

                    if not (obj.ReferenceEquals(outside, inside)) && outside.RequiresGrad then
                        wrt.Add outside
                        shares.Add(struct (outside, wrt.Count - 2, wrt.Count - 1))
                    else
                        shares.Add(struct (outside, wrt.Count - 1, -1))

            let struct (gs, leaves) =
                Autograd.Pullback(roots, rootSeeds, wrt.ToArray(), higher, not trace.Restricted)

            for KeyValue(leaf, g) in leaves do
                table.[leaf] <- g

            // null where the sweep did not reach: the program does not depend on that share
            let share k = if k < 0 then null else gs.[k]

            for struct (outside, own, plain) in shares do
                table.[outside] <-
                    match share own, share plain with
                    | NonNull g, NonNull h -> g + h
                    | NonNull g, _
                    | _, NonNull g -> g
                    | _ -> Tensor.ZerosLike outside
        else
            for struct (outside, _) in entered do
                table.[outside] <- Tensor.ZerosLike outside

        // a tensor the first sweep did not cover: a value a step bound, or one from outside that
        // requires grad (computed before the program) and that plain code may have used. Its
        // cotangent comes from one more sweep of the retained graph, when asked. A leaf that
        // requires grad was covered if reached, so it gets zeros; anything else is a constant.
        let resolve (t: Tensor) =
            if not (trace.IsBound t || (t.RequiresGrad && trace.Wanted t)) then
                None
            elif roots.Length = 0 || (t.IsLeaf && not trace.Restricted) then
                Some(Tensor.ZerosLike t)
            else
                let struct (gs, _) = Autograd.Pullback(roots, rootSeeds, [| t |], higher, false)

                Some(
                    match gs.[0] with
                    | null -> Tensor.ZerosLike t
                    | g -> g
                )

        Grads(table, resolve)

    /// Diff.run, differentiating every tensor that enters, or only those in `only`.
    let private runCore (only: HashSet<Tensor> option) (Diff m: Diff<'T>) : 'T * ('T -> Grads) =
        let nested = Autograd.IsTracing && GradMode.IsEnabled
        let trace = Trace(true, only, nested)

        let y =
            if GradMode.IsEnabled then
                Autograd.Traced(fun () -> m trace)
            else
                use _ = Autograd.EnableGrad()
                Autograd.Traced(fun () -> m trace)

        let outputs = Tree.leafArray (box y)
        // the program depends on tensors from outside it that require grad (closed over, or
        // computed before it from leaves that require grad): its value and its pullback's
        // results keep their graph, so whoever differentiates those gets through this run
        let captures =
            not nested
            && GradMode.IsEnabled
            && (let live = outputs |> Array.filter (fun t -> t.RequiresGrad)
                live.Length > 0 && Autograd.ReachesOutside(live, trace.OwnLeaves))

        // the pullback's own graph is recorded inside a transform, or when the run is part of
        // a bigger graph; decided per call too, so a pullback called under NoGrad records nothing
        let higher = nested || captures

        (if higher then y else Tree.map (fun t -> t.Detach()) y),
        fun v -> pullbackOf trace outputs (higher || Autograd.IsTracing) v

    /// Runs a program: its value, and its pullback v ↦ J₁ᵀ(J₂ᵀ(… v)), for a cotangent v of the
    /// value's shape (a tensor, or the same tuple, record, list or array of tensors), giving the
    /// cotangent of every tensor that entered it. One reverse sweep per call; inside another
    /// transform the value and the pullback's results are differentiable, and a pullback called
    /// under NoGrad records nothing.
    /// Example: `let y, pullback = Diff.run net in (pullback v).[w1]`.
    let run (program: Diff<'T>) : 'T * ('T -> Grads) = runCore None program

    /// Diff.run for the cotangents of the given tensors only: every other tensor that enters is
    /// a constant (data, labels), so no work is spent on its gradient (a training step's
    /// ∂loss/∂input). Example: `let loss, pullback = Diff.runFor [ w; b ] (model w b x)`.
    let runFor (wrt: Tensor list) (program: Diff<'T>) : 'T * ('T -> Grads) =
        runCore (Some(HashSet<Tensor>(wrt, identity))) program

    /// Runs a program for its value alone, recording nothing. Example: `Diff.value net`.
    let value (Diff m: Diff<'T>) : 'T =
        use _ = Autograd.NoGrad()
        m (Trace(false, None, false))
