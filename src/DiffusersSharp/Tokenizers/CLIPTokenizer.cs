using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using static TorchSharp.torch;

namespace DiffusersSharp.Tokenizers;

/// <summary>
/// transformers' slow <c>CLIPTokenizer</c> (4.42) on the path it takes without ftfy, which is what a plain
/// <c>pip install diffusers transformers</c> runs: added/special tokens are cut out of the raw text first
/// (<see cref="AddedTokenTrie"/>), every other piece goes through BERT's <see cref="BasicTokenizer"/> cleanup, CLIP's
/// pre-tokenizing regex, the byte-to-unicode map and BPE with a <c>&lt;/w&gt;</c> end-of-word marker.
/// </summary>
/// <remarks>
/// Written by hand rather than on Microsoft.ML.Tokenizers 2.0.1: its <c>BpeTokenizer</c> (ByteLevel, EndOfWordSuffix
/// "&lt;/w&gt;", CLIP's regex as <c>RegexPreTokenizer</c>) reproduces only 36 of the 40 fixture prompts. It has no
/// BasicTokenizer cleanup (CJK ideographs are not split apart), gives no bos/eos for an empty prompt, and its .NET
/// regex classifies UTF-16 halves, so letters outside the BMP are not <c>\p{L}</c> as in Python's <c>regex</c>.
/// Fixing that needs a custom normalizer and pre-tokenizer, i.e. everything here except the BPE loop.
/// </remarks>
public sealed class CLIPTokenizer
{
    private const string VocabFile = "vocab.json";
    private const string MergesFile = "merges.txt";
    private const string ConfigFile = "tokenizer_config.json";
    private const string SpecialTokensMapFile = "special_tokens_map.json";
    private const string AddedTokensFile = "added_tokens.json";
    private const string EndOfWord = "</w>";

    // transformers reads only the first 49152 - 256 - 2 merges (CLIP's vocabulary size minus bytes and specials).
    private const int MaxMerges = 49152 - 256 - 2;

    private static readonly string[] SpecialTokenKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly Dictionary<string, long> _encoder;
    private readonly Dictionary<long, string> _decoder;
    private readonly Dictionary<(string, string), int> _bpeRanks;
    private readonly SortedDictionary<long, AddedToken> _addedTokensDecoder;
    private readonly Dictionary<string, long> _addedTokensEncoder;
    private readonly AddedTokenTrie _trie;
    private readonly HashSet<long> _allSpecialIds;
    private readonly HashSet<string> _allSpecialTokens;
    private readonly bool _cleanUpTokenizationSpaces;
    private readonly string _sourceDirectory;
    // Per-instance BPE memo, seeded as transformers seeds it; concurrent because a pipeline may tokenize in parallel.
    private readonly ConcurrentDictionary<string, string[]> _cache = new()
    {
        ["<|startoftext|>"] = ["<|startoftext|>"],
        ["<|endoftext|>"] = ["<|endoftext|>"],
    };

    private CLIPTokenizer(string directory)
    {
        _sourceDirectory = directory;
        _encoder = ReadVocab(Path.Combine(directory, VocabFile));
        _decoder = _encoder.ToDictionary(kv => kv.Value, kv => kv.Key);
        _bpeRanks = ReadMerges(Path.Combine(directory, MergesFile));

        var configPath = Path.Combine(directory, ConfigFile);
        var config = File.Exists(configPath) ? ModelConfig.Load(configPath) : new ModelConfig();
        var mapPath = Path.Combine(directory, SpecialTokensMapFile);
        var specialMap = File.Exists(mapPath) ? ModelConfig.Load(mapPath) : new ModelConfig();

        _addedTokensDecoder = ReadAddedTokensDecoder(config, configPath);
        ReadLegacyAddedTokens(Path.Combine(directory, AddedTokensFile), _addedTokensDecoder);

        // special_tokens_map.json wins over tokenizer_config.json; a token whose content is an added token takes its flags.
        var contentToAdded = new Dictionary<string, AddedToken>();
        foreach (var token in _addedTokensDecoder.Values) contentToAdded.TryAdd(token.Content, token);
        AddedToken? Resolve(JsonNode? fromMap, JsonNode? fromConfig)
        {
            var token = AddedToken.FromJson(fromMap, special: true, mapPath) ?? AddedToken.FromJson(fromConfig, special: true, configPath);
            return token is null ? null : contentToAdded.GetValueOrDefault(token.Content, token);
        }
        var defaults = new Dictionary<string, string>
        {
            ["bos_token"] = "<|startoftext|>", ["eos_token"] = "<|endoftext|>", ["unk_token"] = "<|endoftext|>", ["pad_token"] = "<|endoftext|>",
        };
        // In transformers' SPECIAL_TOKENS_ATTRIBUTES order, which decides the ids of special tokens outside the vocabulary.
        var specials = new List<AddedToken>();
        var byKey = new Dictionary<string, AddedToken>();
        foreach (var key in SpecialTokenKeys)
        {
            var token = Resolve(specialMap[key], config[key])
                        ?? (defaults.TryGetValue(key, out var content) ? new AddedToken(content, Normalized: false, Special: true) : null);
            if (token is null) continue;
            byKey[key] = token;
            specials.Add(token);
        }
        var additional = specialMap["additional_special_tokens"] as JsonArray ?? config["additional_special_tokens"] as JsonArray;
        if (additional is not null)
            specials.AddRange(additional.Select(node => Resolve(node, null)).OfType<AddedToken>());
        BosToken = byKey["bos_token"];
        EosToken = byKey["eos_token"];
        UnkToken = byKey["unk_token"];
        PadToken = byKey["pad_token"];

        // PreTrainedTokenizer.__init__: special tokens not yet added become added tokens, with their vocabulary id.
        // Content -> id; if two ids share a content the higher id wins, as in transformers' dict comprehension.
        _addedTokensEncoder = new Dictionary<string, long>();
        foreach (var (id, token) in _addedTokensDecoder) _addedTokensEncoder[token.Content] = id;
        foreach (var token in specials)
        {
            if (_addedTokensEncoder.ContainsKey(token.Content)) continue;
            var id = _encoder.TryGetValue(token.Content, out var vocabId) ? vocabId : _encoder.Keys.Union(_addedTokensEncoder.Keys).Count();
            _addedTokensDecoder[id] = token with { Special = true };
            _addedTokensEncoder[token.Content] = id;
        }
        _trie = new AddedTokenTrie(_addedTokensDecoder.Values.Select(t => t.Content));
        _allSpecialTokens = specials.Select(t => t.Content).ToHashSet();
        _allSpecialIds = _allSpecialTokens.Select(ConvertTokenToId).ToHashSet();

        // Every CLIP checkpoint has a 77-token context; transformers' own fallback (1e30) would make padding impossible.
        var maxLength = config.GetNullableDouble("model_max_length");
        ModelMaxLength = maxLength is null ? 77 : (int)Math.Min(maxLength.Value, int.MaxValue);
        _cleanUpTokenizationSpaces = config.GetBool("clean_up_tokenization_spaces", true);
    }

    /// <summary>Loads a tokenizer folder: <c>vocab.json</c>, <c>merges.txt</c> and, if present, <c>tokenizer_config.json</c>,
    /// <c>special_tokens_map.json</c> and <c>added_tokens.json</c>.</summary>
    public static CLIPTokenizer FromPretrained(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Tokenizer folder not found: {directory}");
        return new CLIPTokenizer(directory);
    }

    public AddedToken BosToken { get; }
    public AddedToken EosToken { get; }
    public AddedToken UnkToken { get; }
    public AddedToken PadToken { get; }
    public long BosTokenId => ConvertTokenToId(BosToken.Content);
    public long EosTokenId => ConvertTokenToId(EosToken.Content);
    public long UnkTokenId => ConvertTokenToId(UnkToken.Content);
    /// <summary>The padding id: 49407 (&lt;|endoftext|&gt;) for SD's tokenizer, 0 ("!") for SDXL's tokenizer_2.</summary>
    public long PadTokenId => ConvertTokenToId(PadToken.Content);
    /// <summary><c>model_max_length</c> from tokenizer_config.json: 77 for every CLIP.</summary>
    public int ModelMaxLength { get; }
    /// <summary>Size of the base vocabulary (vocab.json), without added tokens.</summary>
    public int VocabSize => _encoder.Count;

    /// <summary>Token strings of <paramref name="text"/>, without bos/eos (transformers' <c>tokenize</c>).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var pieces = _trie.Split(text);
        for (var i = 0; i < pieces.Count; i++)
        {
            var piece = pieces[i];
            if (!_addedTokensEncoder.TryGetValue(piece, out var id)) continue;
            var token = _addedTokensDecoder[id];
            var left = i > 0 ? pieces[i - 1] : null;
            var right = i < pieces.Count - 1 ? pieces[i + 1] : null;
            // rstrip: the token eats the whitespace on its right (so strip the left of the next piece), and vice versa.
            if (token.RStrip && !string.IsNullOrEmpty(right)) pieces[i + 1] = PythonText.LStrip(right);
            if (token.LStrip && !string.IsNullOrEmpty(left)) pieces[i - 1] = PythonText.RStrip(left);
            if (token.SingleWord && !string.IsNullOrEmpty(left) && left[^1] != ' ')
            {
                pieces[i - 1] += piece;
                pieces[i] = "";
            }
            else if (token.SingleWord && !string.IsNullOrEmpty(right) && right[0] != ' ')
            {
                pieces[i + 1] = piece + pieces[i + 1];
                pieces[i] = "";
            }
        }

        var tokens = new List<string>();
        foreach (var piece in pieces)
        {
            if (piece.Length == 0) continue;
            if (_addedTokensEncoder.ContainsKey(piece)) tokens.Add(piece);
            else TokenizePlain(piece, tokens);
        }
        return tokens;
    }

    /// <summary>CLIPTokenizer's <c>_tokenize</c>: cleanup, CLIP's regex, bytes to unicode, BPE.</summary>
    private void TokenizePlain(string text, List<string> tokens)
    {
        var cleaned = string.Join(" ", BasicTokenizer.Tokenize(text));
        foreach (var word in PreTokenize(cleaned))
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            var mapped = new char[bytes.Length];
            for (var i = 0; i < bytes.Length; i++) mapped[i] = ByteToUnicode[bytes[i]];
            tokens.AddRange(Bpe(new string(mapped)));
        }
    }

    /// <summary>Ids of <paramref name="text"/> with bos and eos, neither truncated nor padded (<c>tokenizer(text).input_ids</c>).</summary>
    public long[] Encode(string text) => [BosTokenId, .. ConvertTokensToIds(Tokenize(text)), EosTokenId];

    /// <summary>
    /// transformers' <c>tokenizer(texts, padding="max_length" | False, max_length=…, truncation=…)</c>: each text's ids are
    /// cut to leave room for bos/eos, wrapped in them, then padded on the right with <see cref="PadTokenId"/>.
    /// </summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<string> texts, int? maxLength = null, bool padToMaxLength = true, bool truncation = true)
    {
        var length = maxLength ?? ModelMaxLength;
        if (length < 2)
            throw new ArgumentOutOfRangeException(nameof(maxLength), length, "max_length must leave room for the bos and eos tokens (at least 2).");
        var ids = new long[texts.Count][];
        var masks = new long[texts.Count][];
        for (var b = 0; b < texts.Count; b++)
        {
            var body = ConvertTokensToIds(Tokenize(texts[b]));
            if (truncation && body.Length + 2 > length) body = body[..(length - 2)];
            var row = new List<long>(Math.Max(length, body.Length + 2)) { BosTokenId };
            row.AddRange(body);
            row.Add(EosTokenId);
            var real = row.Count;
            if (padToMaxLength)
                while (row.Count < length) row.Add(PadTokenId);
            ids[b] = row.ToArray();
            masks[b] = Enumerable.Range(0, row.Count).Select(i => i < real ? 1L : 0L).ToArray();
        }
        return new BatchEncoding(ids, masks);
    }

    /// <summary>Padded, truncated ids per text, as diffusers' pipelines call the tokenizer.</summary>
    public long[][] Call(IReadOnlyList<string> texts, int? maxLength = null, bool padToMaxLength = true, bool truncation = true) =>
        EncodeBatch(texts, maxLength, padToMaxLength, truncation).InputIds;

    /// <summary>Padded and truncated ids as a [B, max_length] int64 tensor.</summary>
    public Tensor CallTensor(IReadOnlyList<string> texts, int? maxLength = null) =>
        EncodeBatch(texts, maxLength).InputIdsTensor();

    public long[] ConvertTokensToIds(IEnumerable<string> tokens) => tokens.Select(ConvertTokenToId).ToArray();

    /// <summary>Added tokens first, then the vocabulary, else the unknown token's vocabulary id.</summary>
    public long ConvertTokenToId(string token)
    {
        if (_addedTokensEncoder.TryGetValue(token, out var added)) return added;
        if (_encoder.TryGetValue(token, out var id)) return id;
        return _encoder.TryGetValue(UnkToken.Content, out var unk)
            ? unk
            : throw new KeyNotFoundException($"Token '{token}' is not in the vocabulary, nor is the unknown token '{UnkToken.Content}'.");
    }

    /// <summary>Text of <paramref name="ids"/> (transformers' <c>decode</c>, with its default <c>spaces_between_special_tokens</c>).</summary>
    public string Decode(IEnumerable<long> ids, bool skipSpecialTokens = false)
    {
        // Added tokens that are not special (and not in the vocabulary) are kept verbatim between decoded runs.
        var legacyAdded = _addedTokensEncoder.Keys.Where(t => !_allSpecialTokens.Contains(t)).ToHashSet();
        var subTexts = new List<string>();
        var current = new List<string>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && _allSpecialIds.Contains(id)) continue;
            var token = _addedTokensDecoder.TryGetValue(id, out var added) ? added.Content
                : _decoder.TryGetValue(id, out var t) ? t
                : throw new ArgumentOutOfRangeException(nameof(ids), id, "Token id is not in the vocabulary.");
            if (legacyAdded.Contains(token))
            {
                if (current.Count > 0) subTexts.Add(TokensToString(current));
                current.Clear();
                subTexts.Add(token);
            }
            else
            {
                current.Add(token);
            }
        }
        if (current.Count > 0) subTexts.Add(TokensToString(current));
        var text = string.Join(" ", subTexts);
        return _cleanUpTokenizationSpaces ? CleanUpTokenization(text) : text;
    }

    private static string TokensToString(IEnumerable<string> tokens)
    {
        var text = string.Concat(tokens);
        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
            bytes[i] = UnicodeToByte.TryGetValue(text[i], out var b) ? b : throw new InvalidDataException($"Character U+{(int)text[i]:X4} is not a byte-level BPE symbol.");
        // UTF8.GetString replaces invalid sequences with U+FFFD, as errors="replace" does.
        var decoded = Encoding.UTF8.GetString(bytes).Replace(EndOfWord, " ");
        return PythonText.RStrip(PythonText.LStrip(decoded));
    }

    private static string CleanUpTokenization(string text) =>
        text.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
            .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");

    /// <summary>Writes the tokenizer files to <paramref name="directory"/> (copies of what was loaded), so that a saved pipeline folder is complete.</summary>
    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        if (Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(_sourceDirectory).TrimEnd(Path.DirectorySeparatorChar))
            return;
        foreach (var name in new[] { VocabFile, MergesFile, ConfigFile, SpecialTokensMapFile, AddedTokensFile })
        {
            var source = Path.Combine(_sourceDirectory, name);
            if (File.Exists(source)) File.Copy(source, Path.Combine(directory, name), overwrite: true);
        }
        // A folder that had only vocab and merges gets the configs transformers would write, so it loads the same there.
        var configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath))
        {
            var config = new JsonObject
            {
                ["added_tokens_decoder"] = new JsonObject(_addedTokensDecoder.Select(kv => KeyValuePair.Create(kv.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)kv.Value.ToJson()))),
                ["bos_token"] = BosToken.Content,
                ["clean_up_tokenization_spaces"] = _cleanUpTokenizationSpaces,
                ["eos_token"] = EosToken.Content,
                ["errors"] = "replace",
                ["model_max_length"] = ModelMaxLength,
                ["pad_token"] = PadToken.Content,
                ["tokenizer_class"] = "CLIPTokenizer",
                ["unk_token"] = UnkToken.Content,
            };
            File.WriteAllText(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
        var mapPath = Path.Combine(directory, SpecialTokensMapFile);
        if (!File.Exists(mapPath))
        {
            var map = new JsonObject
            {
                ["bos_token"] = BosToken.Content,
                ["eos_token"] = EosToken.Content,
                ["pad_token"] = PadToken.Content,
                ["unk_token"] = UnkToken.Content,
            };
            File.WriteAllText(mapPath, map.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
    }

    /// <summary>
    /// CLIP's pre-tokenizing regex <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
    /// (IGNORECASE) as Python's <c>regex.findall</c> runs it: alternatives tried in order at each position, on code points.
    /// </summary>
    private static IEnumerable<string> PreTokenize(string text)
    {
        var runes = text.EnumerateRunes().ToArray();
        var p = 0;
        while (p < runes.Length)
        {
            var length = MatchLiteral(runes, p, "<|startoftext|>")
                         ?? MatchLiteral(runes, p, "<|endoftext|>")
                         ?? MatchContraction(runes, p)
                         ?? MatchRun(runes, p, IsLetter, single: false)
                         ?? MatchRun(runes, p, IsNumber, single: true)
                         ?? MatchRun(runes, p, r => !IsRegexSpace(r) && !IsLetter(r) && !IsNumber(r), single: false);
            if (length is { } n)
            {
                yield return string.Concat(runes.Skip(p).Take(n));
                p += n;
            }
            else
            {
                p++;
            }
        }
    }

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    private static int? MatchContraction(Rune[] runes, int p)
    {
        foreach (var c in Contractions)
            if (MatchLiteral(runes, p, c) is { } n) return n;
        return null;
    }

    private static int? MatchLiteral(Rune[] runes, int p, string literal)
    {
        if (p + literal.Length > runes.Length) return null;
        for (var i = 0; i < literal.Length; i++)
            if (!FoldEquals(literal[i], runes[p + i])) return null;
        return literal.Length;
    }

    // IGNORECASE in Python's regex uses simple case folding: a letter matches its upper case, and 's' also ſ (U+017F).
    private static bool FoldEquals(char pattern, Rune r) =>
        r.Value == pattern || (char.IsAsciiLetterLower(pattern) && r.Value == char.ToUpperInvariant(pattern)) || (pattern == 's' && r.Value == 0x017F);

    private static int? MatchRun(Rune[] runes, int p, Func<Rune, bool> accepts, bool single)
    {
        var end = p;
        while (end < runes.Length && accepts(runes[end]) && (!single || end == p)) end++;
        return end > p ? end - p : null;
    }

    private static bool IsLetter(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    private static bool IsNumber(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
        or UnicodeCategory.OtherNumber;

    // regex's \s is Unicode White_Space: Python's isspace() less U+001C..U+001F (which the cleanup has removed anyway).
    private static bool IsRegexSpace(Rune r) => PythonText.IsSpace(r.Value) && r.Value is not (>= 0x1C and <= 0x1F);

    /// <summary>transformers' <c>bpe</c>: repeatedly merge the lowest-ranked adjacent pair, every occurrence left to right.</summary>
    private string[] Bpe(string token)
    {
        if (_cache.TryGetValue(token, out var cached)) return cached;
        var word = new List<string>(token.Length);
        for (var i = 0; i < token.Length - 1; i++) word.Add(token[i].ToString());
        word.Add(token[^1] + EndOfWord);
        // transformers returns a one-symbol word without caching it.
        if (word.Count < 2) return [word[0]];

        while (word.Count > 1)
        {
            var bestRank = int.MaxValue;
            (string First, string Second) best = default;
            for (var i = 0; i < word.Count - 1; i++)
            {
                if (_bpeRanks.TryGetValue((word[i], word[i + 1]), out var rank) && rank < bestRank)
                {
                    bestRank = rank;
                    best = (word[i], word[i + 1]);
                }
            }
            if (bestRank == int.MaxValue) break;
            var merged = new List<string>(word.Count);
            for (var i = 0; i < word.Count; i++)
            {
                if (i < word.Count - 1 && word[i] == best.First && word[i + 1] == best.Second)
                {
                    merged.Add(best.First + best.Second);
                    i++;
                }
                else
                {
                    merged.Add(word[i]);
                }
            }
            word = merged;
        }
        var result = word.ToArray();
        _cache[token] = result;
        return result;
    }

    /// <summary>GPT-2's <c>bytes_to_unicode</c>: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.</summary>
    private static readonly char[] ByteToUnicode = BuildByteToUnicode();

    private static readonly Dictionary<char, byte> UnicodeToByte =
        ByteToUnicode.Select((c, b) => (c, b)).ToDictionary(x => x.c, x => (byte)x.b);

    private static char[] BuildByteToUnicode()
    {
        var map = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static Dictionary<string, long> ReadVocab(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"CLIP tokenizer vocabulary {VocabFile} not found: {path}", path);
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllText(path))
                   ?? throw new InvalidDataException($"{path} holds no vocabulary.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Malformed {VocabFile} ({path}): {e.Message}", e);
        }
    }

    private static Dictionary<(string, string), int> ReadMerges(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"CLIP tokenizer merges file {MergesFile} not found: {path}", path);
        // As transformers: strip the text, drop the "#version" line, keep at most MaxMerges lines, rank = line order.
        var text = File.ReadAllText(path).ReplaceLineEndings("\n");
        var lines = PythonText.RStrip(PythonText.LStrip(text)).Split('\n').Skip(1).Take(MaxMerges);
        var ranks = new Dictionary<(string, string), int>();
        var rank = 0;
        foreach (var line in lines)
        {
            var parts = PythonText.Split(line);
            // A malformed line still takes its rank in transformers (as a tuple that never matches a pair).
            if (parts.Count == 2) ranks.TryAdd((parts[0], parts[1]), rank);
            rank++;
        }
        return ranks;
    }

    private static SortedDictionary<long, AddedToken> ReadAddedTokensDecoder(ModelConfig config, string source)
    {
        var decoder = new SortedDictionary<long, AddedToken>();
        if (config["added_tokens_decoder"] is not JsonObject entries) return decoder;
        foreach (var (key, value) in entries)
        {
            if (!long.TryParse(key, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id))
                throw new InvalidDataException($"added_tokens_decoder in {source} has a non-integer id '{key}'.");
            decoder[id] = AddedToken.FromJson(value, special: false, source) ?? throw new InvalidDataException($"added_tokens_decoder[{key}] in {source} is null.");
        }
        return decoder;
    }

    // Older saves list added tokens in added_tokens.json (content -> id); tokenizer_config.json's entries take precedence.
    private static void ReadLegacyAddedTokens(string path, SortedDictionary<long, AddedToken> decoder)
    {
        if (!File.Exists(path)) return;
        var tokens = ModelConfig.Load(path);
        foreach (var content in tokens.Keys)
        {
            var id = tokens.GetInt(content, 0);
            if (!decoder.ContainsKey(id)) decoder[id] = new AddedToken(content);
        }
    }
}
