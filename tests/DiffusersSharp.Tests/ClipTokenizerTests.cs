using System.Text.Json.Nodes;
using DiffusersSharp.Tests.Support;
using DiffusersSharp.Tokenizers;

namespace DiffusersSharp.Tests;

public class ClipTokenizerTests
{
    public static TheoryData<string> Cases => new() { "tokenizer/tokenizer_clip_shared", "tokenizer/tokenizer_clip-pad-bang_shared" };

    private static string[] Prompts(FixtureCase fixture) => fixture.Manifest["prompts"]!.AsArray().Select(p => p!.GetValue<string>()).ToArray();

    private static CLIPTokenizer Load(FixtureCase fixture) =>
        CLIPTokenizer.FromPretrained(FixtureCase.PathOf(fixture.Manifest["tokenizer"]!.GetValue<string>()));

    private static long[] Row(TorchSharp.torch.Tensor t, int i) => t[i].data<long>().ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void UntruncatedIdsMatchTransformers(string name)
    {
        using var fixture = FixtureCase.Load(name);
        var tokenizer = Load(fixture);
        var prompts = Prompts(fixture);
        for (var i = 0; i < prompts.Length; i++)
        {
            var expected = fixture.Tensor($"untruncated_ids_{i:D2}").data<long>().ToArray();
            Assert.True(expected.SequenceEqual(tokenizer.Encode(prompts[i])),
                $"prompt {i} {JsonValue.Create(prompts[i]).ToJsonString()}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", tokenizer.Encode(prompts[i]))}]");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PaddedTruncatedIdsAndMaskMatchTransformers(string name)
    {
        using var fixture = FixtureCase.Load(name);
        var tokenizer = Load(fixture);
        var prompts = Prompts(fixture);
        var call = fixture.Manifest["call"]!;
        var batch = tokenizer.EncodeBatch(prompts, call["max_length"]!.GetValue<int>());
        var expectedIds = fixture.Tensor("input_ids");
        var expectedMask = fixture.Tensor("attention_mask");
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(Row(expectedIds, i), batch.InputIds[i]);
            Assert.Equal(Row(expectedMask, i), batch.AttentionMask[i]);
        }
        Assert.Equal(batch.InputIds, tokenizer.Call(prompts));
        using var ids = tokenizer.CallTensor(prompts);
        TensorAssert.Equal(expectedIds, ids, "input_ids tensor");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SpecialTokensAndLengthComeFromTheFiles(string name)
    {
        using var fixture = FixtureCase.Load(name);
        var tokenizer = Load(fixture);
        var special = fixture.Manifest["special_ids"]!;
        Assert.Equal(special["bos"]!.GetValue<long>(), tokenizer.BosTokenId);
        Assert.Equal(special["eos"]!.GetValue<long>(), tokenizer.EosTokenId);
        Assert.Equal(special["pad"]!.GetValue<long>(), tokenizer.PadTokenId);
        Assert.Equal(special["unk"]!.GetValue<long>(), tokenizer.UnkTokenId);
        Assert.Equal(77, tokenizer.ModelMaxLength);
    }

    [Fact]
    public void UnpaddedCallTruncatesButDoesNotPad()
    {
        var tokenizer = CLIPTokenizer.FromPretrained(FixtureCase.PathOf("models/tiny-sd/tokenizer"));
        var rows = tokenizer.Call(["a photo", string.Join(" ", Enumerable.Repeat("word", 100))], padToMaxLength: false);
        Assert.Equal(tokenizer.Encode("a photo"), rows[0]);
        Assert.Equal(77, rows[1].Length);
        Assert.Equal(tokenizer.EosTokenId, rows[1][^1]);
        var untruncated = tokenizer.Call(["word word word"], maxLength: 4, padToMaxLength: false, truncation: false);
        Assert.Equal(5, untruncated[0].Length);
    }

    [Fact]
    public void LowerCasesAsPythonDoes()
    {
        var tokenizer = CLIPTokenizer.FromPretrained(FixtureCase.PathOf("models/tiny-sd/tokenizer"));
        // str.lower() turns a word-final capital sigma into ς, and İ into i + combining dot.
        Assert.Equal(tokenizer.Encode("οδος"), tokenizer.Encode("ΟΔΟΣ"));
        Assert.NotEqual(tokenizer.Encode("οδοσ"), tokenizer.Encode("ΟΔΟΣ"));
        Assert.Equal(tokenizer.Encode("σα"), tokenizer.Encode("ΣΑ"));
        Assert.Equal(tokenizer.Encode("i\u0307stanbul"), tokenizer.Encode("İSTANBUL"));
    }

    [Fact]
    public void LettersOutsideTheBmpStayInTheirWord()
    {
        var tokenizer = CLIPTokenizer.FromPretrained(FixtureCase.PathOf("models/tiny-sd/tokenizer"));
        // Python's regex sees U+1D400 (a letter) as \p{L}: "a𝐀b" is one word, so only its last token ends the word.
        var tokens = tokenizer.Tokenize("a\U0001D400b");
        Assert.EndsWith("</w>", tokens[^1]);
        Assert.All(tokens.Take(tokens.Count - 1), t => Assert.DoesNotContain("</w>", t));
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        var tokenizer = CLIPTokenizer.FromPretrained(FixtureCase.PathOf("models/tiny-sd/tokenizer"));
        var ids = tokenizer.Encode("A photo of an astronaut, café!");
        Assert.Equal("a photo of an astronaut, café!", tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<|startoftext|>a photo of an astronaut, café! <|endoftext|>", tokenizer.Decode(ids));
    }

    [Fact]
    public void SavePretrainedWritesALoadableFolder()
    {
        var source = FixtureCase.PathOf("models/tiny-sdxl/tokenizer_2");
        var dir = Directory.CreateTempSubdirectory("ds-cliptok-").FullName;
        try
        {
            var tokenizer = CLIPTokenizer.FromPretrained(source);
            tokenizer.SavePretrained(dir);
            foreach (var file in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
                Assert.True(File.Exists(Path.Combine(dir, file)), file);
            var reloaded = CLIPTokenizer.FromPretrained(dir);
            string[] prompts = ["Hello, World! How's it going?", "日本語のテキスト"];
            Assert.Equal(tokenizer.Call(prompts), reloaded.Call(prompts));
            Assert.Equal(0, reloaded.PadTokenId);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void MinimalFolderGetsConfigsOnSave()
    {
        var source = FixtureCase.PathOf("models/tiny-sd/tokenizer");
        var minimal = Directory.CreateTempSubdirectory("ds-cliptok-min-").FullName;
        var saved = Directory.CreateTempSubdirectory("ds-cliptok-saved-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "vocab.json"), Path.Combine(minimal, "vocab.json"));
            File.Copy(Path.Combine(source, "merges.txt"), Path.Combine(minimal, "merges.txt"));
            var tokenizer = CLIPTokenizer.FromPretrained(minimal);
            Assert.Equal(49407, tokenizer.PadTokenId);
            tokenizer.SavePretrained(saved);
            var reloaded = CLIPTokenizer.FromPretrained(saved);
            Assert.Equal(tokenizer.Call(["a cat"]), reloaded.Call(["a cat"]));
            Assert.Equal(77, reloaded.ModelMaxLength);
        }
        finally
        {
            Directory.Delete(minimal, true);
            Directory.Delete(saved, true);
        }
    }

    [Theory]
    [InlineData("vocab.json")]
    [InlineData("merges.txt")]
    public void MissingFileIsNamed(string missing)
    {
        var source = FixtureCase.PathOf("models/tiny-sd/tokenizer");
        var dir = Directory.CreateTempSubdirectory("ds-cliptok-missing-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(source).Where(f => Path.GetFileName(f) != missing))
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            var e = Assert.Throws<FileNotFoundException>(() => CLIPTokenizer.FromPretrained(dir));
            Assert.Contains(missing, e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
