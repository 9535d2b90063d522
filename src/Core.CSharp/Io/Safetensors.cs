using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cotangent.Backends.Cpu;

namespace Cotangent.Io;

/// <summary>
/// A safetensors file could not be read or written: missing, unreadable, truncated, corrupted
/// or malformed, or its folder does not exist. The message starts with the path. Nothing was
/// loaded, and a failed write left any previous file as it was.
/// </summary>
public sealed class SafetensorsException : IOException
{
    /// <summary>A failure with a message that starts with the path.</summary>
    public SafetensorsException(string message) : base(message) { }

    /// <summary>A failure caused by <paramref name="inner"/>, an I/O error of the runtime.</summary>
    public SafetensorsException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Reads and writes the safetensors format (as the Python <c>safetensors</c> library):
/// an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets into the data that follows)
/// plus an optional string map <c>"__metadata__"</c>, then the tensors' bytes, little-endian,
/// row-major, back to back with no gaps. Dtypes: F32, F64, I64, BOOL.
/// <para>
/// Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
/// the target, so a crash leaves the old file or the new one, never half of one. Cotangent
/// adds <c>"cotangent.sha256"</c> to the metadata: a hash of the tensor table and the data, so
/// any corrupted byte is detected on load. Loads check the whole header (lengths against the
/// file size before allocating, dtypes, shapes, offsets, the hash) before building any tensor.
/// </para>
/// </summary>
public static class Safetensors
{
    /// <summary>The metadata key of Cotangent's integrity hash.</summary>
    public const string HashKey = "cotangent.sha256";

    /// <summary>Headers above this size are refused rather than allocated.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    static string Code(DType t) => t switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        _ => "BOOL",
    };

    static int Size(DType t) => t switch { DType.Float32 => 4, DType.Bool => 1, _ => 8 };

    static DType? Parse(string code) => code switch
    {
        "F32" => DType.Float32,
        "F64" => DType.Float64,
        "I64" => DType.Int64,
        "BOOL" => DType.Bool,
        _ => null,
    };

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    record Entry(string Name, DType DType, int[] Shape, long Begin, long End);

    /// <summary>Writes the tensors (and string metadata) to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (tensors.Keys.Any(k => k == "__metadata__" || k.Length == 0))
            throw new ArgumentException("safetensors: tensor names must be non-empty and not '__metadata__'");
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var entries = new List<Entry>();
        var data = new MemoryStream();
        foreach (var name in names)
        {
            var t = tensors[name];
            var bytes = Bytes(t);
            entries.Add(new Entry(name, t.DType, t.Shape, data.Length, data.Length + bytes.Length));
            data.Write(bytes);
        }
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null) foreach (var (k, v) in metadata) if (k != HashKey) meta[k] = v;
        meta[HashKey] = Hash(entries, meta, data.GetBuffer().AsSpan(0, (int)data.Length));
        var header = Header(entries, meta);

        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var f = Open(path, () => new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None), "write"))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                f.Write(len);
                f.Write(header);
                data.Position = 0;
                data.CopyTo(f);
                f.Flush(flushToDisk: true);
            }
            Open(path, () => { File.Move(temp, path, overwrite: true); return 0; }, "write");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    static byte[] Bytes(Tensor t) => t.DType switch
    {
        DType.Float32 => MemoryMarshal.AsBytes<float>(t.ToArray<float>()).ToArray(),
        DType.Float64 => MemoryMarshal.AsBytes<double>(t.ToArray<double>()).ToArray(),
        DType.Int64 => MemoryMarshal.AsBytes<long>(t.ToArray<long>()).ToArray(),
        _ => t.ToArray<bool>().Select(b => b ? (byte)1 : (byte)0).ToArray(),
    };

    static byte[] Header(List<Entry> entries, SortedDictionary<string, string> meta)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in meta) w.WriteString(k, v);
            w.WriteEndObject();
            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", Code(e.DType));
                w.WriteStartArray("shape");
                foreach (var d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // pad with spaces to a multiple of 8, as the reference writer does, so the data is aligned
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    /// <summary>SHA-256 over a canonical text of the table and metadata, then the data bytes.</summary>
    static string Hash(IEnumerable<Entry> entries, IEnumerable<KeyValuePair<string, string>> meta, ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder();
        foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            sb.Append($"{e.Name}\n{Code(e.DType)}\n{string.Join(',', e.Shape)}\n{e.Begin}\n{e.End}\n");
        foreach (var (k, v) in meta.Where(p => p.Key != HashKey).OrderBy(p => p.Key, StringComparer.Ordinal))
            sb.Append($"meta\n{k}\n{v}\n");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(sb.ToString()));
        sha.AppendData(data);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// Reads every tensor and the metadata; throws <see cref="SafetensorsException"/> before
    /// building anything when the file is not sound. With <paramref name="requireHash"/> (files
    /// Cotangent wrote) a missing integrity hash is itself an error, so a corruption that hits
    /// the hash's key cannot switch the check off.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path, bool requireHash = false)
    {
        using var f = Open(path, () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read), "read");
        long fileLength = f.Length;
        Fail(fileLength < 8, path, $"truncated: {fileLength} bytes, fewer than the 8-byte header length");
        Span<byte> len = stackalloc byte[8];
        f.ReadExactly(len);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        Fail(n > (ulong)(fileLength - 8), path, $"the header length {n} exceeds the {fileLength - 8} bytes after it (truncated or forged)");
        Fail(n > MaxHeaderBytes, path, $"the header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        Fail(n < 2, path, $"the header length {n} is too small for a JSON object");
        var header = new byte[n];
        f.ReadExactly(header);
        long dataLength = fileLength - 8 - (long)n;
        Fail(dataLength > Array.MaxLength, path, $"{dataLength} bytes of tensor data are more than one buffer can hold");

        var (entries, meta) = ParseHeader(path, header, dataLength);
        var data = new byte[dataLength];
        f.ReadExactly(data);
        if (meta.TryGetValue(HashKey, out var expected))
            Fail(Hash(entries, meta, data) != expected, path, "the integrity hash does not match: the file is corrupted");
        else
            Fail(requireHash, path, $"the integrity hash ({HashKey}) is missing: the file is corrupted or was not written by Cotangent");

        var tensors = new Dictionary<string, Tensor>();
        foreach (var e in entries)
            tensors[e.Name] = Build(path, e, data.AsSpan((int)e.Begin, (int)(e.End - e.Begin)));
        return (tensors, meta);
    }

    static (List<Entry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        try { StrictUtf8.GetCharCount(header); }
        catch (DecoderFallbackException) { throw new SafetensorsException($"{path}: the header is not valid UTF-8"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new SafetensorsException($"{path}: the header is not valid JSON ({e.Message})"); }
        using var _ = doc;
        Fail(doc.RootElement.ValueKind != JsonValueKind.Object, path, "the header is not a JSON object");
        var entries = new List<Entry>();
        var meta = new Dictionary<string, string>();
        var seen = new HashSet<string>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            Fail(!seen.Add(prop.Name), path, $"'{prop.Name}' appears twice in the header");
            if (prop.Name == "__metadata__")
            {
                Fail(prop.Value.ValueKind != JsonValueKind.Object, path, "__metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    Fail(m.Value.ValueKind != JsonValueKind.String, path, $"metadata '{m.Name}' is not a string");
                    meta[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries.Add(ParseEntry(path, prop));
        }
        // the data must be exactly the tensors, back to back, in offset order
        long at = 0;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            Fail(e.Begin != at, path, $"'{e.Name}' starts at byte {e.Begin}, expected {at}: the offsets overlap or leave a gap");
            at = e.End;
        }
        Fail(at != dataLength, path, $"the tensors cover {at} bytes but the file holds {dataLength} bytes of data (truncated or padded)");
        return (entries, meta);
    }

    static Entry ParseEntry(string path, JsonProperty prop)
    {
        var name = prop.Name;
        var v = prop.Value;
        Fail(v.ValueKind != JsonValueKind.Object, path, $"'{name}' is not an object");
        Fail(!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String, path, $"'{name}' has no dtype string");
        var dtype = Parse(dt.GetString()!);
        Fail(dtype is null, path, $"'{name}' has dtype {dt.GetString()}, which Cotangent does not read (F32, F64, I64, BOOL)");
        Fail(!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array, path, $"'{name}' has no shape array");
        var shape = new List<int>();
        long numel = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int size) || size < 0)
                throw new SafetensorsException($"{path}: '{name}' has a shape entry that is not a size: {d}");
            shape.Add(size);
            numel = numel * size;
            Fail(numel > Array.MaxLength, path, $"'{name}' has {numel}+ elements, more than one buffer can hold");
        }
        Fail(!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2, path, $"'{name}' has no [begin, end] data_offsets");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new SafetensorsException($"{path}: '{name}' has invalid data_offsets {off}");
        Fail(end - begin != numel * Size(dtype!.Value), path, $"'{name}' spans {end - begin} bytes but {ShapeMath.Format(shape.ToArray())} {dtype.Value.Name()} needs {numel * Size(dtype.Value)}");
        return new Entry(name, dtype.Value, shape.ToArray(), begin, end);
    }

    static Tensor Build(string path, Entry e, ReadOnlySpan<byte> bytes)
    {
        Storage s = e.DType switch
        {
            DType.Float32 => new CpuStorage<float>(MemoryMarshal.Cast<byte, float>(bytes).ToArray()),
            DType.Float64 => new CpuStorage<double>(MemoryMarshal.Cast<byte, double>(bytes).ToArray()),
            DType.Int64 => new CpuStorage<long>(MemoryMarshal.Cast<byte, long>(bytes).ToArray()),
            _ => new CpuStorage<bool>(Bools(path, e.Name, bytes)),
        };
        return Tensor.OfStorage(s, e.Shape);
    }

    static bool[] Bools(string path, string name, ReadOnlySpan<byte> bytes)
    {
        var o = new bool[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            Fail(bytes[i] > 1, path, $"'{name}' holds the byte {bytes[i]} where a bool must be 0 or 1");
            o[i] = bytes[i] == 1;
        }
        return o;
    }

    /// <summary>Runs a file operation, turning the runtime's I/O errors into one naming the path.</summary>
    static T Open<T>(string path, Func<T> io, string verb)
    {
        try { return io(); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SafetensorsException(verb == "read"
                ? $"{path}: no such file (looked in {Path.GetDirectoryName(Path.GetFullPath(path))})"
                : $"{path}: cannot write: the folder {Path.GetDirectoryName(Path.GetFullPath(path))} does not exist", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException and not SafetensorsException)
        {
            throw new SafetensorsException($"{path}: cannot {verb}: {e.Message}", e);
        }
    }

    static void Fail(bool bad, string path, string message)
    {
        if (bad) throw new SafetensorsException($"{path}: {message}");
    }
}
