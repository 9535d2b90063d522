namespace Cotangent.FSharp

open System
open System.Collections
open Microsoft.FSharp.Reflection
open Cotangent

/// The tensors inside a value of any shape (a tensor, a tuple, a record, a union such as a list
/// or an option, an array), in a fixed order, and the same shape rebuilt with other tensors:
/// what lets a diff { } program return any structure of tensors and take a cotangent of the
/// same structure (JAX calls these pytrees). Numbers, strings, enums, dates and unit are
/// constants kept as they are; any other type (a Map, a ResizeArray, a seq, a class) is refused,
/// since a tensor inside it would otherwise be silently treated as a constant.
module internal Tree =

    let private isList (t: Type) =
        t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<_>>

    /// A type that holds no tensor and is kept as it is.
    let private isConstant (t: Type) =
        t.IsPrimitive
        || t.IsEnum
        || t = typeof<string>
        || t = typeof<decimal>
        || t = typeof<DateTime>
        || t = typeof<DateTimeOffset>
        || t = typeof<TimeSpan>
        || t = typeof<Guid>

    let private unsupported (t: Type) =
        NotSupportedException(
            sprintf
                "Diff.run: a value of type %s cannot be part of a program's value or cotangent; use tensors inside tuples, records, unions (lists, options) or one-dimensional arrays"
                (t.ToString())
        )

    /// The tensors of x, depth first, left to right.
    let rec leaves (x: objnull) : Tensor list =
        match x with
        | null -> []
        | :? Tensor as t -> [ t ]
        | :? Array as a ->
            let e = a.GetType().GetElementType() |> nonNull

            if a.Rank <> 1 && not (isConstant e) then
                raise (unsupported (a.GetType()))
            elif isConstant e then
                []
            else
                [ for e in a do
                      yield! leaves e ]
        | x ->
            let t = x.GetType()

            if isConstant t then
                []
            elif FSharpType.IsTuple t then
                FSharpValue.GetTupleFields x |> Seq.collect leaves |> List.ofSeq
            elif FSharpType.IsRecord(t, true) then
                FSharpValue.GetRecordFields(x, true) |> Seq.collect leaves |> List.ofSeq
            elif isList t then
                [ for e in (x :?> IEnumerable) do
                      yield! leaves e ]
            elif FSharpType.IsUnion(t, true) then
                let _, fields = FSharpValue.GetUnionFields(x, t, true)
                fields |> Seq.collect leaves |> List.ofSeq
            else
                raise (unsupported t)

    /// The tensors of x as an array; a tensor alone takes no walk.
    let leafArray (x: objnull) : Tensor[] =
        match x with
        | :? Tensor as t -> [| t |]
        | _ -> leaves x |> Array.ofList

    /// x with its tensors replaced, in the order of `leaves`, by the results of `f`.
    let map (f: Tensor -> Tensor) (x: 'T) : 'T =
        let rec go (x: objnull) : objnull =
            match x with
            | null -> null
            | :? Tensor as t -> box (f t)
            | :? Array as a when isConstant (a.GetType().GetElementType() |> nonNull) -> x
            | :? Array as a when a.Rank = 1 ->
                let b = Array.CreateInstance(a.GetType().GetElementType() |> nonNull, a.Length)

                for i in 0 .. a.Length - 1 do
                    b.SetValue(go (a.GetValue i), i)

                box b
            | x ->
                let t = x.GetType()

                if FSharpType.IsTuple t then
                    FSharpValue.MakeTuple(FSharpValue.GetTupleFields x |> Array.map go, t)
                elif FSharpType.IsRecord(t, true) then
                    FSharpValue.MakeRecord(t, FSharpValue.GetRecordFields(x, true) |> Array.map go, true)
                elif isList t then
                    // rebuilt from the end, in a loop: a long list must not recurse once per element
                    let items = [| for e in (x :?> IEnumerable) -> go e |]
                    let cases = FSharpType.GetUnionCases t
                    let empty = cases |> Array.find (fun c -> c.Name = "Empty")
                    let cons = cases |> Array.find (fun c -> c.Name = "Cons")

                    Array.foldBack
                        (fun e acc -> FSharpValue.MakeUnion(cons, [| e; acc |]))
                        items
                        (FSharpValue.MakeUnion(empty, [||]))
                elif FSharpType.IsUnion(t, true) then
                    let case, fields = FSharpValue.GetUnionFields(x, t, true)
                    FSharpValue.MakeUnion(case, fields |> Array.map go, true)
                elif isConstant t then
                    x
                else
                    raise (unsupported t)

        match box x with
        | :? Tensor as t -> unbox<'T> (box (f t))
        | v -> unbox<'T> (go v)
