using System.Text;
using System.Text.Json;
using static Cotangent.Io.Safetensors;

namespace Cotangent.Io;

/// <summary>
/// Reads and checks a safetensors header in one forward pass of a <see cref="Utf8JsonReader"/>,
/// building only what a sound file needs: one string per name and one small record per entry.
/// A document model (JsonDocument) kept a 12-byte row per token, about three times the header,
/// allocated afresh when the header was large; a hostile header must cost a small multiple of
/// its own size to refuse.
/// </summary>
internal static class HeaderReader
{
    /// <summary>More axes than any tensor needs; a header claiming more is refused.</summary>
    const int MaxRank = 64;

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The entries and the metadata of <paramref name="header"/>, whose tensors must cover exactly <paramref name="dataLength"/> bytes.</summary>
    public static (List<Entry> Entries, Dictionary<string, string> Metadata) Read(string path, byte[] header, long dataLength)
    {
        try { StrictUtf8.GetCharCount(header); }
        catch (DecoderFallbackException) { throw Bad(path, "the header is not valid UTF-8"); }
        var entries = new List<Entry>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw Bad(path, "the header is not a JSON object");
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                reader.Read();
                if (name != "__metadata__") entries.Add(Tensor(path, name, ref reader));
                else if (sawMetadata) throw Bad(path, "'__metadata__' appears twice in the header");
                else
                {
                    sawMetadata = true;
                    Metadata(path, ref reader, meta);
                }
            }
            if (reader.Read()) throw Bad(path, "the header holds more than one JSON value");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string the reader cannot decode (a lone surrogate escape)
            throw Bad(path, $"the header is not valid JSON ({e.Message})");
        }
        // names are unique: sorted, equal names are neighbours (sorting costs a reference an
        // entry, where a set of names cost several words)
        var byName = entries.ToArray();
        Array.Sort(byName, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        for (int i = 1; i < byName.Length; i++)
            if (byName[i].Name == byName[i - 1].Name) throw Bad(path, $"{Quote(byName[i].Name)} appears twice in the header");
        // the data must be exactly the tensors, back to back, in offset order
        var byOffset = byName;
        Array.Sort(byOffset, (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long at = 0;
        foreach (var e in byOffset)
        {
            if (e.Begin != at) throw Bad(path, $"{Quote(e.Name)} starts at byte {e.Begin}, expected {at}: the offsets overlap or leave a gap");
            at = e.End;
        }
        if (at != dataLength) throw Bad(path, $"the tensors cover {at} bytes but the file holds {dataLength} bytes of data (truncated or padded)");
        return (entries, meta);
    }

    /// <summary>The next token; a property name or the end of the object being read (anything else is not JSON).</summary>
    static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new JsonException("the header ends inside an object");
        return reader.TokenType;
    }

    static void Metadata(string path, ref Utf8JsonReader reader, Dictionary<string, string> meta)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad(path, "__metadata__ is not an object");
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String) throw Bad(path, $"metadata {Quote(key)} is not a string");
            if (!meta.TryAdd(key, reader.GetString()!)) throw Bad(path, $"metadata {Quote(key)} appears twice in __metadata__");
        }
    }

    /// <summary>One tensor's {"dtype", "shape", "data_offsets"}; other fields are skipped, as the reference reader does.</summary>
    static Entry Tensor(string path, string name, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad(path, $"{Quote(name)} is not an object");
        DType? dtype = null;
        int[]? shape = null;
        long begin = -1, end = -1;
        bool hasDtype = false, hasOffsets = false;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("dtype"))
            {
                if (hasDtype) throw Bad(path, $"{Quote(name)} has two dtypes");
                hasDtype = true;
                reader.Read();
                if (reader.TokenType != JsonTokenType.String) throw Bad(path, $"{Quote(name)} has no dtype string");
                dtype = Dtype(ref reader) ?? throw Bad(path, $"{Quote(name)} has dtype {Quote(reader.GetString()!)}, which Cotangent does not read (F32, F64, I64, BOOL)");
            }
            else if (reader.ValueTextEquals("shape"))
            {
                if (shape is not null) throw Bad(path, $"{Quote(name)} has two shapes");
                reader.Read();
                shape = Shape(path, name, ref reader);
            }
            else if (reader.ValueTextEquals("data_offsets"))
            {
                if (hasOffsets) throw Bad(path, $"{Quote(name)} has two data_offsets");
                hasOffsets = true;
                reader.Read();
                (begin, end) = Offsets(path, name, ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (!hasDtype) throw Bad(path, $"{Quote(name)} has no dtype string");
        if (shape is null) throw Bad(path, $"{Quote(name)} has no shape array");
        if (!hasOffsets) throw Bad(path, $"{Quote(name)} has no [begin, end] data_offsets");
        long numel = 1;
        foreach (var d in shape) numel *= d;   // each partial product was checked below 2³¹ in Shape
        if (end - begin != numel * Size(dtype!.Value))
            throw Bad(path, $"{Quote(name)} spans {end - begin} bytes but {ShapeMath.Format(shape)} {dtype.Value.Name()} needs {numel * Size(dtype.Value)}");
        return new Entry(name, dtype.Value, shape, begin, end);
    }

    /// <summary>The dtype the current string names, compared in place (no string made per entry).</summary>
    static DType? Dtype(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("F32") ? DType.Float32
        : reader.ValueTextEquals("F64") ? DType.Float64
        : reader.ValueTextEquals("I64") ? DType.Int64
        : reader.ValueTextEquals("BOOL") ? DType.Bool
        : null;

    static int[] Shape(string path, string name, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad(path, $"{Quote(name)} has no shape array");
        Span<int> shape = stackalloc int[MaxRank];
        int rank = 0;
        long numel = 1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int size) || size < 0)
                throw Bad(path, $"{Quote(name)} has a shape entry that is not a size: {Quote(Encoding.UTF8.GetString(reader.ValueSpan))}");
            if (rank == MaxRank) throw Bad(path, $"{Quote(name)} has more than {MaxRank} axes");
            shape[rank++] = size;
            numel *= size;
            if (numel > Array.MaxLength) throw Bad(path, $"{Quote(name)} has {numel}+ elements, more than one buffer can hold");
        }
        return shape[..rank].ToArray();
    }

    static (long, long) Offsets(string path, string name, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad(path, $"{Quote(name)} has no [begin, end] data_offsets");
        Span<long> o = stackalloc long[2];
        int count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == 2 || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out o[count]))
                throw Bad(path, $"{Quote(name)} has invalid data_offsets (not two byte offsets)");
            count++;
        }
        if (count != 2) throw Bad(path, $"{Quote(name)} has no [begin, end] data_offsets");
        if (o[0] < 0 || o[1] < o[0]) throw Bad(path, $"{Quote(name)} has invalid data_offsets [{o[0]}, {o[1]}]");
        return (o[0], o[1]);
    }
}
