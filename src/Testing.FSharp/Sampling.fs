/// Random inputs for op cases: shapes, broadcast-compatible shapes, and float64 tensors whose
/// values lie inside an op's domain. Everything is drawn from a System.Random seeded by
/// FsCheck, so a failing case replays from the seed Expecto prints.
module Cotangent.Testing.Sampling

open System
open Cotangent

/// Where an op's inputs may lie so that its derivative exists and finite differences are stable.
type Domain =
    /// Any value in [-2, 2].
    | Real
    /// Values in [0.5, 2]: log, sqrt, pow bases.
    | Positive
    /// |x| in [0.25, 2] with a random sign: away from the kinks of abs and relu and from poles.
    | AwayFromZero
    /// Distinct values spaced at least 0.05 apart: max, min and sorting-like ops have no ties.
    | Distinct
    /// Values in [-0.9, 0.9]: asin, acos, atanh-like ops and tan, away from their poles and edges.
    | Unit

/// A float drawn uniformly from [lo, hi).
let uniform (r: Random) lo hi = lo + (hi - lo) * r.NextDouble()

/// n floats drawn from the domain.
let values (r: Random) domain n =
    match domain with
    | Real -> Array.init n (fun _ -> uniform r -2.0 2.0)
    | Positive -> Array.init n (fun _ -> uniform r 0.5 2.0)
    | AwayFromZero -> Array.init n (fun _ -> (if r.Next 2 = 0 then -1.0 else 1.0) * uniform r 0.25 2.0)
    | Unit -> Array.init n (fun _ -> uniform r -0.9 0.9)
    | Distinct ->
        let v = Array.init n (fun i -> -2.0 + 0.1 * float i + uniform r 0.0 0.05)
        v |> Array.sortBy (fun _ -> r.Next())

/// A float64 tensor of the given shape with values from the domain.
let tensorIn (r: Random) domain (shape: int[]) =
    Tensor.FromArray(values r domain (Array.fold (*) 1 shape), shape)

/// A shape of rank lo..hi with sizes 1..4.
let shape (r: Random) lo hi =
    Array.init (r.Next(lo, hi + 1)) (fun _ -> r.Next(1, 5))

/// Two shapes that broadcast together: a common shape with axes dropped from the front or set to 1.
/// A shape that broadcasts to `full`: some leading axes dropped, some others set to 1.
let broadcastableTo (r: Random) (full: int[]) =
    full
    |> Array.skip (r.Next full.Length)
    |> Array.map (fun d -> if r.Next 2 = 0 then 1 else d)

/// An int64 index tensor for gather/scatter along `axis` of `shape`: the same shape but for a
/// random length along the axis, with entries in [0, shape[axis]).
let alongAxis (r: Random) (shape: int[]) axis =
    let ishape = Array.copy shape
    ishape.[axis] <- r.Next(1, 5)
    ishape, Tensor.FromArray(Array.init (Array.fold (*) 1 ishape) (fun _ -> int64 (r.Next shape.[axis])), ishape)

/// Two shapes that broadcast together, drawn at random.
let broadcastPair (r: Random) =
    let full = shape r 0 3

    let shrink () =
        let lead = r.Next(0, full.Length + 1) / 2
        full |> Array.skip lead |> Array.map (fun d -> if r.Next 3 = 0 then 1 else d)

    shrink (), shrink ()

/// A random subset of the axes (None: all axes) and a keepDim flag.
let axesOf (r: Random) rank =
    if rank = 0 || r.Next 4 = 0 then
        None
    else
        let picked = [| 0 .. rank - 1 |] |> Array.filter (fun _ -> r.Next 2 = 0)
        let picked = if picked.Length = 0 then [| r.Next rank |] else picked
        Some(picked |> Array.map (fun a -> if r.Next 2 = 0 then a - rank else a))

/// int64 indices in [0, size), length n (repeats allowed, so adds-on-repeat paths run).
let indices (r: Random) size n =
    Tensor.FromArray(Array.init n (fun _ -> int64 (r.Next size)), [| n |])

/// A shape as text, e.g. [2, 3].
let shapeText (s: int[]) = "[" + String.Join(", ", s) + "]"
